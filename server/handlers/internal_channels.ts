/**
 * `GET /internal/channels`: this replica's channels in the Go original's shape (peers and
 * Traefik's config read it), plus `attached_at`: when each channel's client last attached here
 * (ms since the epoch), so replicas agree which of two claims is newer.
 *
 * @module
 */
import type { ServerRequest } from "../../http1/mod.ts";
import { jsonResponse } from "../_http.ts";
import type { ServerContext } from "../context.ts";
import type { ReplicaChannels } from "../traefik.ts";

/**
 * This replica's channels in the Go original's `/internal/channels` shape.
 * @param ctx The server's context.
 * @returns The document.
 */
export function localChannels(ctx: ServerContext): ReplicaChannels {
  return {
    ws_channels: ctx.channels.ids(),
    webhook_channels: ctx.channels.attachedIds(),
    server_url: ctx.serverUrl,
    attached_at: ctx.channels.attachTimes(),
  };
}

/**
 * The `/internal/channels` handler.
 * @param _request The request.
 * @param ctx The server's context.
 * @returns The document.
 */
export function internalChannels(_request: ServerRequest, ctx: ServerContext): Response {
  return jsonResponse(200, localChannels(ctx));
}
