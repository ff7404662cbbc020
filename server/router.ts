/**
 * A small router: routes are `(method, pattern, handler, ...middleware)`, dispatched on the
 * path's first segment and then tried in table order; the middleware of a route is composed once,
 * when the router is built, so a request costs no closures. A handler throws an
 * {@linkcode HttpError} to refuse; the router renders it in one place (and logs it when asked).
 *
 * Patterns are `/`-separated: literal segments, `:id` (one segment, possibly empty, read as
 * `info.id`) and a final `*` (the rest of the path, `""` or starting with `/`, read as
 * `info.rest`).
 *
 * @example
 * ```ts
 * import { route, Router } from "./router.ts";
 * import { ServerRequest } from "../http1/mod.ts";
 * const router = new Router({}, [
 *   route("GET", "/hello/:id", (_request, _ctx, info) => new Response(`hello ${info.id}`)),
 * ], { fallback: () => new Response("no", { status: 404 }) });
 * await router.handle(ServerRequest.fromRequest(new Request("http://x/hello/you"), "127.0.0.1"));
 * ```
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { HttpError } from "./http_error.ts";
import type { Reply, ServerAnswer, ServerRequest } from "../http1/mod.ts";
import type { ProviderDelivery } from "../protocol/providers.ts";

const log = getLogger(["wow", "server"]);

const NO_BYTES: Promise<number> = Promise.resolve(0);

/**
 * A path (from `/`) that URL parsing leaves as it is: no percent-escapes, dot segments,
 * backslashes or characters the WHATWG path percent-encode set escapes.
 */
const PLAIN_PATH = /^\/[!$&'()*+,\-.\/0-9:;=@A-Z[\]^_a-z|~]*$/;
/** A query (from `?`) that URL parsing leaves as it is (the special-query set escapes `'`). */
const PLAIN_QUERY = /^\?[!$%&()*+,\-.\/0-9:;=?@A-Z[\\\]^_`a-z{|}~]*$/;

/** What the router knows about one request besides the request itself. */
export class RequestInfo {
  /** Its path, as URL parsing normalizes it (dot segments resolved, escapes kept). */
  readonly path: string;
  /** Its query, `""` or from `?`. */
  readonly search: string;
  /** The TCP peer's address. */
  readonly peer: string;
  /**
   * The address refusals are logged with and `/new` is rate-limited by: the peer, or the client
   * address a trusted proxy reports on routes that use `useClientIp`.
   */
  ip: string;
  /** The `:id` segment of the route's pattern, `""` when it has none. */
  id = "";
  /** What the route's final `*` matched: `""` or a path starting with `/`. */
  rest = "";
  /** Request body bytes a handler passed on (for access logs), once known. */
  requestBytes: Promise<number> = NO_BYTES;
  /** Response body bytes sent (for access logs), once known. */
  responseBytes: Promise<number> = NO_BYTES;
  /**
   * The provider's delivery id a handler found in the body (Stripe's event id), for the access
   * log; ids in headers are read by the log itself. Set before `requestBytes` resolves.
   */
  providerDelivery?: ProviderDelivery;
  /** When the router got the request (`performance.now()`). */
  readonly startedAt: number = performance.now();
  #url: URL | undefined;
  #request: { readonly url: string };
  #done: Promise<RequestDone> | undefined;

  /**
   * @param request The request: its target as sent (`/path?query` in origin form), its peer's
   * address, and its absolute URL (read only when the target is not plain).
   */
  constructor(request: { readonly url: string; readonly target: string; readonly peer: string }) {
    this.#request = request;
    const { target, peer } = request;
    this.peer = peer;
    this.ip = peer;
    const mark = target.indexOf("?");
    const path = mark < 0 ? target : target.slice(0, mark);
    const search = mark < 0 || mark === target.length - 1 ? "" : target.slice(mark);
    // Most targets are plain: no URL object is needed to know how it would read them.
    if (PLAIN_PATH.test(path) && !path.includes("/.") && (!search || PLAIN_QUERY.test(search))) {
      this.path = path;
      this.search = search;
    } else {
      this.path = this.url.pathname;
      this.search = this.url.search;
    }
  }

  /** The parsed request URL (made on first use). */
  get url(): URL {
    return this.#url ??= new URL(this.#request.url);
  }

  /**
   * Settles once both byte counts are known (the upload stopped and the answer was sent); never
   * rejects (a failed count is 0). Read it only after a handler set the byte counts.
   * @returns The byte counts and how long the exchange took.
   */
  done(): Promise<RequestDone> {
    return this.#done ??= Promise.all([this.requestBytes, this.responseBytes]).then(
      ([requestBytes, responseBytes]) => this.#finished(requestBytes, responseBytes),
      () => this.#finished(0, 0),
    );
  }

  #finished(requestBytes: number, responseBytes: number): RequestDone {
    return { requestBytes, responseBytes, durationMs: performance.now() - this.startedAt };
  }
}

/** What {@linkcode RequestInfo.done} settles with. */
export interface RequestDone {
  /** Request body bytes passed on. */
  requestBytes: number;
  /** Response body bytes sent. */
  responseBytes: number;
  /** Milliseconds from the router getting the request until both counts were known. */
  durationMs: number;
}

/** Answers one request; throws {@linkcode HttpError} to refuse it. */
export type Handler<C> = (
  request: ServerRequest,
  ctx: C,
  info: RequestInfo,
) => ServerAnswer | Promise<ServerAnswer>;

/** Wraps a handler (composed once when the router is built, not per request). */
export type Middleware<C> = (next: Handler<C>) => Handler<C>;

/** A check that throws {@linkcode HttpError} to refuse, or returns to let the request through. */
export type Check<C> = (request: ServerRequest, ctx: C, info: RequestInfo) => void;

/**
 * Middleware from a check: runs `check`, then the handler.
 * @param check The check.
 * @returns The middleware.
 */
export function guard<C>(check: Check<C>): Middleware<C> {
  return (next) => (request, ctx, info) => {
    check(request, ctx, info);
    return next(request, ctx, info);
  };
}

/** One compiled pattern segment. */
type Part = { kind: "literal"; text: string } | { kind: "id" } | { kind: "rest" };

/** A route of the table. */
export interface Route<C> {
  /** `GET`, `POST`…, or `*` for any method. */
  method: string;
  /** The pattern, e.g. `/webhook/:id/*`. */
  pattern: string;
  /** The handler. */
  handler: Handler<C>;
  /** Middleware, outermost first. */
  middleware: Middleware<C>[];
}

/**
 * A route line.
 * @param method `GET`, `POST`…, or `*`.
 * @param pattern Literal segments, `:id`, a final `*`.
 * @param handler The handler.
 * @param middleware Middleware, outermost first (e.g. `guard(requireClientToken)`).
 * @returns The route.
 */
export function route<C>(
  method: string,
  pattern: string,
  handler: Handler<C>,
  ...middleware: Middleware<C>[]
): Route<C> {
  return { method, pattern, handler, middleware };
}

interface Compiled<C> {
  method: string;
  parts: Part[];
  handler: Handler<C>;
}

/** Options for {@linkcode Router}. */
export interface RouterOptions<C> {
  /** Answers what no route matches (e.g. 404, or 405 for another method). */
  fallback: Handler<C>;
  /** Middleware every request passes first, outermost first (also before the fallback). */
  middleware?: Middleware<C>[];
}

/** Dispatches requests to routes; see the module doc. */
export class Router<C> {
  #ctx: C;
  #byFirstSegment = new Map<string, Compiled<C>[]>();
  #fallback: Handler<C>;

  /**
   * Compiles the route table.
   * @param ctx The context every handler gets.
   * @param routes The route table, tried in order within one first segment.
   * @param options Fallback and global middleware.
   */
  constructor(ctx: C, routes: readonly Route<C>[], options: RouterOptions<C>) {
    this.#ctx = ctx;
    const global = options.middleware ?? [];
    const compose = (handler: Handler<C>, middleware: Middleware<C>[]) =>
      [...global, ...middleware].reduceRight((next, wrap) => wrap(next), handler);
    for (const { method, pattern, handler, middleware } of routes) {
      const [first, ...rest] = pattern.replace(/^\//, "").split("/");
      const parts = rest.map((text, i): Part => {
        if (text === "*") {
          if (i !== rest.length - 1) {
            throw new TypeError(`Invalid route "${pattern}": "*" must be last`);
          }
          return { kind: "rest" };
        }
        if (text === ":id") return { kind: "id" };
        if (text.startsWith(":") || text.includes("*")) {
          throw new TypeError(
            `Invalid route "${pattern}": only ":id" and a final "*" are patterns`,
          );
        }
        return { kind: "literal", text };
      });
      const list = this.#byFirstSegment.get(first) ?? [];
      list.push({ method, parts, handler: compose(handler, middleware) });
      this.#byFirstSegment.set(first, list);
    }
    this.#fallback = compose(options.fallback, []);
  }

  /**
   * Answers a request.
   * @param request The request (`request.peer` is the TCP peer's address).
   * @returns The answer (an {@linkcode HttpError} rendered as JSON).
   */
  handle(request: ServerRequest): ServerAnswer | Promise<ServerAnswer> {
    const info = new RequestInfo(request);
    const handler = this.#match(request.method, info) ?? this.#fallback;
    try {
      const result = handler(request, this.#ctx, info);
      return result instanceof Promise ? settle(result, request, info) : result;
    } catch (error) {
      return renderError(error, request, info);
    }
  }

  #match(method: string, info: RequestInfo): Handler<C> | undefined {
    const path = info.path;
    const slash = path.indexOf("/", 1);
    const candidates = this.#byFirstSegment.get(
      slash === -1 ? path.slice(1) : path.slice(1, slash),
    );
    if (!candidates) return undefined;
    const start = slash === -1 ? path.length : slash;
    for (const candidate of candidates) {
      if (candidate.method !== "*" && candidate.method !== method) continue;
      if (matchParts(candidate.parts, path, start, info)) return candidate.handler;
    }
    return undefined;
  }
}

/** Matches `path` from `start` against `parts`, filling `info.id`/`info.rest`. */
function matchParts(parts: Part[], path: string, start: number, info: RequestInfo): boolean {
  let at = start;
  for (const part of parts) {
    if (part.kind === "rest") {
      info.rest = path.slice(at);
      return true;
    }
    if (path.charCodeAt(at) !== 0x2f /* "/" */) return false;
    const next = path.indexOf("/", at + 1);
    const end = next === -1 ? path.length : next;
    if (part.kind === "id") info.id = path.slice(at + 1, end);
    else if (end - at - 1 !== part.text.length || !path.startsWith(part.text, at + 1)) return false;
    at = end;
  }
  return at === path.length;
}

async function settle(
  result: Promise<ServerAnswer>,
  request: ServerRequest,
  info: RequestInfo,
): Promise<ServerAnswer> {
  try {
    return await result;
  } catch (error) {
    return renderError(error, request, info);
  }
}

/**
 * The response for an error a handler threw: an {@linkcode HttpError} as JSON (logged when it
 * asks to be); anything else is rethrown for the server's 500 handler.
 * @param error What was thrown.
 * @param request The request.
 * @param info The request's info.
 * @returns The response.
 */
export function renderError(error: unknown, request: ServerRequest, info: RequestInfo): Reply {
  if (!(error instanceof HttpError)) throw error;
  if (error.log) {
    log.warn("Refused {method} {path} from {ip}: {status} {message}", {
      method: request.method,
      path: info.path,
      ip: info.ip,
      status: error.status,
      message: error.message,
    });
  }
  return error.toReply();
}
