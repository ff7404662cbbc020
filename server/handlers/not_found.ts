/**
 * What no route matches: 405 for a method other than `GET` (only webhooks take other methods),
 * else 404.
 *
 * @module
 */
import type { ServerRequest } from "../../http1/mod.ts";
import { methodNotAllowed, noRoute } from "../http_error.ts";
import type { ServerContext } from "../context.ts";
import type { RequestInfo } from "../router.ts";

/**
 * The fallback handler; always throws.
 * @param request The request.
 * @param _ctx The server's context.
 * @param info The request's info.
 * @returns Never.
 */
export function notFound(request: ServerRequest, _ctx: ServerContext, info: RequestInfo): never {
  if (request.method !== "GET") throw methodNotAllowed(request.method);
  throw noRoute(request.method, info.path);
}
