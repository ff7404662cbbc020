/**
 * `GET /internal/members`: the cluster's members with their HTTP URLs, and the gossip counters
 * (dropped, undecodable and undecryptable packets…).
 *
 * @module
 */
import type { ServerRequest } from "../../http1/mod.ts";
import { jsonResponse } from "../_http.ts";
import type { ServerContext } from "../context.ts";

/**
 * The `/internal/members` handler.
 * @param _request The request.
 * @param ctx The server's context.
 * @returns `{"members", "stats"}`.
 */
export function internalMembers(_request: ServerRequest, ctx: ServerContext): Response {
  return jsonResponse(200, {
    members: ctx.replicas.members(),
    stats: ctx.replicas.cluster.stats(),
  });
}
