/**
 * The server's route table: every endpoint is one line here and one handler file in
 * `handlers/`.
 *
 * To add an endpoint (say `GET /metrics` behind its own flag):
 * 1. the flag: a spec line in `cli/commands/server.ts` naming its `ServerOptions` key, and the
 *    field with its `@default` in `options.ts` (`SERVER_DEFAULTS`); the handler reads
 *    `ctx.config.<key>`, or what `context.ts` builds from it once;
 * 2. a handler file `handlers/metrics.ts` exporting
 *    `(request, ctx, info) => Response | Promise<Response>`, which throws an `HttpError` (see
 *    `http_error.ts`) to refuse;
 * 3. one line below, e.g. `route("GET", "/metrics", metrics, requireAdminToken)`.
 *
 * A line is `route(method, pattern, handler, ...middleware)`: `method` is `GET`, `POST`… or `*`;
 * the pattern has literal segments, `:id` (one segment, `info.id`) and a final `*` (the rest,
 * `info.rest`); middleware runs outermost first (`middleware.ts`: draining, tokens, the client
 * address, the webhook log; `guard(check)` turns a check into one). Routes are dispatched on the
 * first path segment, then tried in order; {@linkcode GLOBAL_MIDDLEWARE} runs before all of them
 * and before the fallback (405 for other methods, else 404).
 *
 * @module
 */
import type { ServerContext } from "./context.ts";
import {
  checkHeaderLimits,
  logWebhook,
  refuseWhileDraining,
  requireAdminToken,
  requireClientToken,
  requireReplicaOrAdmin,
  useClientIp,
} from "./middleware.ts";
import { guard, type Middleware, type Route, route, Router } from "./router.ts";
import { webhook } from "./handlers/webhook.ts";
import {
  attachTunnel,
  requireChannelId,
  requireWebSocketUpgrade,
  unknownChannelPath,
} from "./handlers/attach_tunnel.ts";
import { newChannel } from "./handlers/new_channel.ts";
import { healthz } from "./handlers/healthz.ts";
import { traefikConfig } from "./handlers/traefik_config.ts";
import { metrics } from "./handlers/metrics.ts";
import { readyz } from "./handlers/readyz.ts";
import { internalChannels } from "./handlers/internal_channels.ts";
import { internalChannel } from "./handlers/internal_channel.ts";
import { internalVerify } from "./handlers/internal_verify.ts";
import { internalMembers } from "./handlers/internal_members.ts";
import { internalTakeover } from "./handlers/internal_takeover.ts";
import { notFound } from "./handlers/not_found.ts";

type Ctx = ServerContext;

/** Middleware every request passes before its route. */
export const GLOBAL_MIDDLEWARE: Middleware<Ctx>[] = [checkHeaderLimits];

/** The route table; see the module doc. `/webhook/` is the first and hottest line. */
export const ROUTES: readonly Route<Ctx>[] = [
  route<Ctx>("*", "/webhook/:id/*", webhook, logWebhook, refuseWhileDraining),
  route<Ctx>(
    "GET",
    "/ws/:id",
    attachTunnel,
    guard(requireChannelId),
    refuseWhileDraining,
    useClientIp,
    guard(requireWebSocketUpgrade),
    requireClientToken,
  ),
  // An id with a slash in it is no channel id either.
  route<Ctx>("GET", "/ws/:id/*", unknownChannelPath),
  route<Ctx>("GET", "/new", newChannel, refuseWhileDraining, useClientIp, requireClientToken),
  route<Ctx>("GET", "/healthz", healthz),
  route<Ctx>("GET", "/readyz", readyz),
  route<Ctx>("GET", "/traefik-config", traefikConfig, requireAdminToken),
  route<Ctx>("GET", "/metrics", metrics, requireAdminToken),
  route<Ctx>("GET", "/internal/channels", internalChannels, requireReplicaOrAdmin),
  route<Ctx>("GET", "/internal/members", internalMembers, requireReplicaOrAdmin),
  route<Ctx>("GET", "/internal/channels/:id", internalChannel, requireReplicaOrAdmin),
  route<Ctx>("GET", "/internal/channels/:id/verify", internalVerify, requireReplicaOrAdmin),
  route<Ctx>(
    "POST",
    "/internal/channels/:id/takeover",
    internalTakeover,
    requireReplicaOrAdmin,
  ),
  // Unknown operator paths are refused before they are reported missing; `/internal` itself is
  // no operator path.
  route<Ctx>("GET", "/internal", notFound),
  route<Ctx>("GET", "/internal/*", notFound, requireReplicaOrAdmin),
];

/**
 * The server's app: the route table over one context.
 * @param ctx The server's context.
 * @returns The router; `router.handle(request, peer)` answers a request.
 * @example
 * ```ts ignore
 * const app = createApp(ctx);
 * const response = await app.handle(new Request("http://x/healthz"), "127.0.0.1");
 * ```
 */
export function createApp(ctx: Ctx): Router<Ctx> {
  return new Router(ctx, ROUTES, { fallback: notFound, middleware: GLOBAL_MIDDLEWARE });
}
