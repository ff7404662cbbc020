/**
 * `GET /metrics`: this server's Prometheus metrics in the text exposition format (the route
 * requires the admin token when one is set; Prometheus sends it as `authorization: Bearer`).
 *
 * @module
 */
import type { ServerRequest } from "../../http1/mod.ts";
import type { ServerContext } from "../context.ts";

/**
 * The `/metrics` handler.
 * @param _request The request.
 * @param ctx The server's context.
 * @returns The exposition text.
 */
export function metrics(_request: ServerRequest, ctx: ServerContext): Promise<Response> {
  return ctx.metrics.response();
}
