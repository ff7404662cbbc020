/**
 * `GET /healthz`: `{"status": "OK"}`, or 503 `{"status": "SHUTTING_DOWN"}` while draining (so a
 * load balancer stops sending here).
 *
 * @module
 */
import type { ServerRequest } from "../../http1/mod.ts";
import { jsonResponse } from "../_http.ts";
import type { ServerContext } from "../context.ts";

/**
 * The `/healthz` handler.
 * @param _request The request.
 * @param ctx The server's context.
 * @returns The status document.
 */
export function healthz(_request: ServerRequest, ctx: ServerContext): Response {
  return jsonResponse(ctx.draining ? 503 : 200, {
    status: ctx.draining ? "SHUTTING_DOWN" : "OK",
  });
}
