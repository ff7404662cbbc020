/**
 * `GET /new`: issues a channel id and its secret (rate-limited per client address, and capped
 * by `--max-channels-per-ip`).
 *
 * @module
 */
import type { ServerRequest } from "../../http1/mod.ts";
import { getLogger } from "@logtape/logtape";
import { jsonResponse } from "../_http.ts";
import type { ServerContext } from "../context.ts";
import { channelsFull, HttpError } from "../http_error.ts";
import type { RequestInfo } from "../router.ts";

const log = getLogger(["wow", "server"]);

/**
 * The `/new` handler; the route's middleware checked draining and the client token.
 * @param _request The request.
 * @param ctx The server's context.
 * @param info The request's info (`info.ip` is the client address).
 * @returns `{"channel_id", "channel_secret"}`.
 */
export function newChannel(
  _request: ServerRequest,
  ctx: ServerContext,
  info: RequestInfo,
): Response {
  const wait = ctx.newLimiter.take(info.ip);
  if (wait > 0) {
    ctx.metrics.refused("rate_limited");
    throw new HttpError(429, `Too many new channels from ${info.ip}; retry in ${wait} s`, {
      headers: { "retry-after": String(wait) },
      log: true,
    });
  }
  const cap = ctx.config.maxChannelsPerIp;
  if (cap > 0 && ctx.channels.heldBy(info.ip) >= cap) {
    ctx.metrics.refused("rate_limited");
    throw new HttpError(
      429,
      `${info.ip} already holds ${cap} channels on this server (--max-channels-per-ip); reuse one (the client's --state-file keeps it) or wait until unused ones expire`,
      {
        headers: { "retry-after": String(Math.ceil(ctx.config.cleanupDuration / 1000)) },
        log: true,
      },
    );
  }
  const id = ctx.secrets.issueId();
  if (!ctx.channels.issue(id, info.ip)) throw channelsFull();
  log.info("Issued channel {channelId}", { channelId: id });
  return jsonResponse(200, { channel_id: id, channel_secret: ctx.secrets.secretFor(id) });
}
