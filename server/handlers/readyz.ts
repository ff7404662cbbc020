/**
 * `GET /readyz`: readiness. 200 `{"status": "READY"}` once this replica can serve: not draining
 * and, in a cluster, past its first push-pull sync (the condition `/traefik-config` waits for);
 * else 503 `{"status": "NOT_READY", "reason": …}`. `/healthz` stays the liveness check.
 *
 * @module
 */
import type { ServerRequest } from "../../http1/mod.ts";
import { jsonResponse } from "../_http.ts";
import type { ServerContext } from "../context.ts";

/**
 * The `/readyz` handler.
 * @param _request The request.
 * @param ctx The server's context.
 * @returns The readiness document.
 */
export function readyz(_request: ServerRequest, ctx: ServerContext): Response {
  const reason = ctx.draining
    ? "shutting down"
    : !ctx.replicas.synced
    ? "not synced with the cluster yet"
    : undefined;
  if (reason === undefined) return jsonResponse(200, { status: "READY" });
  return jsonResponse(503, { status: "NOT_READY", reason }, { "retry-after": "1" });
}
