/**
 * The cross-cutting checks routes list in the route table (`routes.ts`): header limits, draining,
 * the client address behind a proxy, the client token, the admin token or replica credential, and
 * the webhook access log.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import type { ServerContext } from "./context.ts";
import { HttpError, shuttingDown, tokenRequired } from "./http_error.ts";
import { clientIp } from "./rate_limit.ts";
import { guard, type Handler, type Middleware, renderError } from "./router.ts";
import { deliveryIdOf } from "../protocol/providers.ts";
import { LogLines } from "../protocol/log_line.ts";
import type { ServerAnswer } from "../http1/mod.ts";

const log = getLogger(["wow", "server"]);
/** The webhook access line (a LogLine: this is written once per webhook). */
const accessLines = new LogLines(
  log,
  "info",
  "{method} {path} {status} {durationMs}ms req={requestBytes}B resp={responseBytes}B",
  [" provider={provider} provider_delivery={provider_delivery}"],
);

/** 431 when a request has more header fields or bytes than `--max-header-*` allow. */
export const checkHeaderLimits: Middleware<ServerContext> = guard((request, ctx) => {
  const { maxHeaderCount, maxHeaderSize } = ctx.config;
  let count = 0;
  let size = 0;
  const list = request.headerList;
  for (let i = 0; i < list.length; i++) {
    count++;
    size += list[i][0].length + list[i][1].length;
  }
  if (count > maxHeaderCount) {
    ctx.metrics.refused("header_limit");
    throw new HttpError(431, `Too many header fields: ${count} (limit ${maxHeaderCount})`, {
      log: true,
    });
  }
  if (size > maxHeaderSize) {
    ctx.metrics.refused("header_limit");
    throw new HttpError(431, `Headers too large: ${size} bytes (limit ${maxHeaderSize})`, {
      log: true,
    });
  }
});

/** 503 + `Retry-After` once shutdown began. */
export const refuseWhileDraining: Middleware<ServerContext> = guard((_request, ctx) => {
  if (ctx.draining) {
    ctx.metrics.refused("draining");
    throw shuttingDown();
  }
});

/**
 * Takes the client address from `X-Forwarded-For` when the peer is a `--trusted-proxy` (see
 * `clientIp`), for the `/new` limits and the refusal logs of this route.
 */
export const useClientIp: Middleware<ServerContext> = guard((request, ctx, info) => {
  info.ip = clientIp(request, info.peer, ctx.trustedProxies);
});

/** 401 without one of the `--auth-token`s (open when none is set). */
export const requireClientToken: Middleware<ServerContext> = guard((request, ctx) => {
  if (!ctx.clientTokens.allows(request)) {
    ctx.metrics.refused("auth_token");
    throw tokenRequired();
  }
});

/** `/traefik-config`, `/metrics`: 401 without the admin token when one is set. */
export const requireAdminToken: Middleware<ServerContext> = guard((request, ctx) => {
  if (ctx.adminTokens.required && !ctx.adminTokens.allows(request)) throw adminRequired(false);
});

/**
 * `/internal/*`: the replica credential or the admin token; with neither configured it is open,
 * as in the Go original.
 */
export const requireReplicaOrAdmin: Middleware<ServerContext> = guard((request, ctx) => {
  if (ctx.replicas.isReplicaCall(request)) return;
  const allowed = ctx.adminTokens.required
    ? ctx.adminTokens.allows(request)
    : !ctx.replicas.authenticated;
  if (!allowed) throw adminRequired(ctx.replicas.authenticated);
});

function adminRequired(replicaCredential: boolean): HttpError {
  return new HttpError(
    401,
    replicaCredential
      ? "This endpoint requires the replica credential or the admin token"
      : "This endpoint requires the admin token (Authorization: Bearer)",
    { log: true },
  );
}

/**
 * Logs each webhook once its bytes are counted (`{method} {path} {status} {durationMs}ms
 * req={requestBytes}B resp={responseBytes}B`), refusals included, with
 * `provider={provider} provider_delivery={id}` when the sender named its delivery (see
 * `deliveryIdOf`), so an operator can find the delivery a user asks about.
 */
export const logWebhook: Middleware<ServerContext> =
  (next: Handler<ServerContext>) => async (request, ctx, info) => {
    let response: ServerAnswer;
    try {
      response = await next(request, ctx, info);
    } catch (error) {
      response = renderError(error, request, info);
    }
    const status = response.status;
    info.done().then(({ requestBytes, responseBytes, durationMs }) => {
      const delivery = info.providerDelivery ?? deliveryIdOf(request);
      accessLines.write(delivery ? 1 : 0, {
        provider: delivery?.provider,
        provider_delivery: delivery?.id,
        method: request.method,
        path: info.path,
        status,
        durationMs: Math.round(durationMs * 10) / 10,
        requestBytes,
        responseBytes,
        channelId: info.id,
      });
    });
    return response;
  };
