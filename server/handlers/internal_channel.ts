/**
 * `GET /internal/channels/{id}`: whether this replica holds the channel's client (how a replica
 * finds a channel's owner, see `owners.ts`).
 *
 * @module
 */
import type { ServerRequest } from "../../http1/mod.ts";
import { jsonResponse } from "../_http.ts";
import type { ServerContext } from "../context.ts";
import { noRoute } from "../http_error.ts";
import type { RequestInfo } from "../router.ts";
import { isChannelId } from "../../protocol/wire.ts";

/**
 * The `/internal/channels/{id}` handler.
 * @param request The request.
 * @param ctx The server's context.
 * @param info The request's info.
 * @returns `{"channel_id", "attached", "server_url", "attached_at"}`; 404 for a malformed id.
 */
export function internalChannel(
  request: ServerRequest,
  ctx: ServerContext,
  info: RequestInfo,
): Response {
  if (!isChannelId(info.id)) throw noRoute(request.method, info.path);
  const channel = ctx.channels.get(info.id);
  return jsonResponse(200, {
    channel_id: info.id,
    attached: Boolean(channel?.session),
    server_url: ctx.serverUrl,
    attached_at: channel?.attachedAt,
  });
}
