/**
 * `GET /internal/channels/{id}/verify`: does the secret in `X-Channel-Secret` match (asked by
 * replicas without a shared key when a client attaches to a channel another replica issued).
 *
 * @module
 */
import type { ServerRequest } from "../../http1/mod.ts";
import { jsonResponse } from "../_http.ts";
import type { ServerContext } from "../context.ts";
import { noRoute } from "../http_error.ts";
import type { RequestInfo } from "../router.ts";
import { CHANNEL_SECRET_HEADER, isChannelId } from "../../protocol/wire.ts";

/**
 * The `/internal/channels/{id}/verify` handler.
 * @param request The request.
 * @param ctx The server's context.
 * @param info The request's info.
 * @returns `{"channel_id", "valid"}`; 404 for a malformed id.
 */
export function internalVerify(
  request: ServerRequest,
  ctx: ServerContext,
  info: RequestInfo,
): Response {
  if (!isChannelId(info.id)) throw noRoute(request.method, info.path);
  const secret = request.get(CHANNEL_SECRET_HEADER);
  return jsonResponse(200, { channel_id: info.id, valid: ctx.secrets.verify(info.id, secret) });
}
