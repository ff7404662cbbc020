/**
 * The inspector's HTTP handler: the page and its assets, the JSON API, Server-Sent Events, and
 * the checks in front of them (token, `Host`, `Origin`). A plain `Request → Response` function,
 * tested without a socket.
 *
 * | route | answer |
 * |---|---|
 * | `GET /` | the page (`/app.js`, `/app.css` its assets) |
 * | `GET /api/info` | `{target_url, history, max_bytes}` |
 * | `GET /api/deliveries[?limit=&before=]` | `{"deliveries": [summary, …]}`, newest first |
 * | `GET /api/deliveries/{id}` | the whole record, bodies base64 |
 * | `GET /api/deliveries/{id}/request-body`, `/response-body` | the raw bytes |
 * | `POST /api/deliveries/{id}/replay` | `201` and the new record; body `{headers?, body_b64?, target_url?}` |
 * | `GET /api/events` | Server-Sent Events: `delivery` (a summary) per new or updated record, `clear` |
 * | `DELETE /api/deliveries` | `204`, history cleared |
 * | `GET /metrics` | the client's Prometheus metrics (when the client gave `metrics`) |
 *
 * @module
 */
import { type Delivery, fromBase64, type HeaderPairs, type Recorder } from "./recorder.ts";
import { type ReplayEdits, ReplayError } from "./replay.ts";
import { APP_CSS, APP_JS, INDEX_HTML } from "./ui.ts";

/** Limits of the API, one place. */
export const API_LIMITS = {
  /** Largest replay request body accepted (JSON with a base64 body): 64 MiB of body, base64. */
  maxReplayRequestBytes: 90 * 1024 * 1024,
  /** A comment line this often keeps idle SSE connections (and proxies) open. */
  sseKeepAlive: 15_000,
  /** Events queued for one slow SSE reader before it is dropped (EventSource reconnects). */
  sseMaxQueued: 1_000,
  /** Largest `limit` of the list. */
  maxListLimit: 10_000,
} as const;

/** The cookie a `?token=` sets. */
export const TOKEN_COOKIE = "wow_inspector_token";

/** The Content-Security-Policy of every answer: our own script and style only, nothing else. */
export const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; " +
  "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; " +
  "frame-ancestors 'none'";

/** Options for {@linkcode createInspectorHandler}. */
export interface InspectorHandlerOptions {
  /** The history. */
  recorder: Recorder;
  /** Sends a replay (see `replayDelivery`). */
  replay(original: Delivery, edits: ReplayEdits): Promise<Delivery>;
  /** The client's target URL (shown, and used by "Copy as curl"). */
  targetUrl: URL;
  /**
   * `Host` values accepted (lower case, with port). Absent: any (the server was bound to a
   * wildcard address and a token guards it).
   */
  allowedHosts?: ReadonlySet<string>;
  /** Required on every request (Bearer, cookie or `?token=`) when set. */
  token?: string;
  /** Renders `GET /metrics` (Prometheus text); absent: 404. @default none */
  metrics?: () => Promise<Response>;
}

/** The handler, plus closing its live event streams (so the server can shut down). */
export interface InspectorHandler {
  /** Serves one request. */
  (request: Request): Promise<Response>;
  /** Ends every open event stream. */
  closeStreams(): void;
}

const SECURITY_HEADERS: Record<string, string> = {
  "content-security-policy": CSP,
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
  "cross-origin-resource-policy": "same-origin",
  "cache-control": "no-store",
};

const encoder = new TextEncoder();

/**
 * Builds the inspector's handler.
 * @param options History, replay, target and access rules.
 * @returns The handler.
 */
export function createInspectorHandler(options: InspectorHandlerOptions): InspectorHandler {
  const streams = new Set<() => void>();
  const handler = async (request: Request): Promise<Response> => {
    const response = await route(request, options, streams).catch((error) =>
      error instanceof HttpError
        ? json({ error: error.message }, error.status)
        : json({ error: `Internal error: ${(error as Error).message}` }, 500)
    );
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) {
      if (!response.headers.has(name)) response.headers.set(name, value);
    }
    return response;
  };
  return Object.assign(handler, {
    closeStreams() {
      for (const close of [...streams]) close();
    },
  });
}

class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

async function route(
  request: Request,
  options: InspectorHandlerOptions,
  streams: Set<() => void>,
): Promise<Response> {
  const url = new URL(request.url);
  checkHost(request, options);
  const login = checkToken(request, url, options);
  if (login) return login;
  const method = request.method;
  if (method !== "GET" && method !== "HEAD") checkOrigin(request);
  const path = url.pathname;
  const { recorder } = options;

  if (method === "GET" || method === "HEAD") {
    switch (path) {
      case "/":
      case "/index.html":
        return asset(INDEX_HTML, "text/html; charset=utf-8");
      case "/app.js":
        return asset(APP_JS, "text/javascript; charset=utf-8");
      case "/app.css":
        return asset(APP_CSS, "text/css; charset=utf-8");
      case "/api/info":
        return json({
          target_url: options.targetUrl.href,
          history: recorder.history,
          max_bytes: recorder.maxBytes,
        });
      case "/api/deliveries":
        return json({
          deliveries: recorder.list({
            limit: limitOf(url.searchParams.get("limit")),
            before: url.searchParams.get("before") ?? undefined,
          }).map((delivery) => delivery.summary()),
        });
      case "/api/events":
        return events(recorder, streams, request.signal);
      case "/metrics":
        if (options.metrics) return options.metrics();
    }
  }
  if (path === "/api/deliveries" && method === "DELETE") {
    recorder.clear();
    return new Response(null, { status: 204 });
  }
  const match = /^\/api\/deliveries\/([0-9a-z]+)(\/request-body|\/response-body|\/replay)?$/
    .exec(path);
  if (!match) throw new HttpError(404, `No route "${method} ${path}"`);
  const delivery = recorder.get(match[1]);
  const part = match[2] ?? "";
  const allowed = part === "/replay" ? "POST" : "GET";
  if (method !== allowed && !(allowed === "GET" && method === "HEAD")) {
    return json({ error: `Use ${allowed} on "${path}"` }, 405, { allow: allowed });
  }
  if (!delivery) throw new HttpError(404, `No delivery "${match[1]}" in the history`);
  switch (part) {
    case "":
      return json(delivery.detail());
    case "/request-body":
      return raw(delivery.requestBytes(), delivery.requestBody.truncated, `${delivery.id}-request`);
    case "/response-body":
      return raw(
        delivery.responseBytes(),
        delivery.responseBody.truncated,
        `${delivery.id}-response`,
      );
    default: {
      const edits = await replayEdits(request);
      try {
        const replayed = await options.replay(delivery, edits);
        return json(replayed.detail(), 201);
      } catch (error) {
        if (error instanceof ReplayError) throw new HttpError(error.status, error.message);
        throw error;
      }
    }
  }
}

/** DNS rebinding: a page on evil.example resolving to 127.0.0.1 sends `Host: evil.example`. */
function checkHost(request: Request, options: InspectorHandlerOptions): void {
  if (!options.allowedHosts) return;
  const host = (request.headers.get("host") ?? "").toLowerCase();
  if (!options.allowedHosts.has(host)) {
    throw new HttpError(403, `Host "${host}" is not this inspector's address`);
  }
}

/** CSRF: a state-changing call must come from our own page (or from a script, with no Origin). */
function checkOrigin(request: Request): void {
  const origin = request.headers.get("origin");
  const host = request.headers.get("host") ?? "";
  if (origin !== null && origin !== `http://${host}` && origin !== `https://${host}`) {
    throw new HttpError(403, `Origin "${origin}" may not change the inspector's state`);
  }
  const site = request.headers.get("sec-fetch-site");
  if (site !== null && site !== "same-origin" && site !== "none") {
    throw new HttpError(403, `A ${site} request may not change the inspector's state`);
  }
}

/** Returns a redirect that sets the cookie for a `?token=` login; throws when unauthorized. */
function checkToken(
  request: Request,
  url: URL,
  options: InspectorHandlerOptions,
): Response | undefined {
  const token = options.token;
  if (!token) return undefined;
  const bearer = /^Bearer (.+)$/i.exec(request.headers.get("authorization") ?? "")?.[1];
  const cookie = cookieOf(request, TOKEN_COOKIE);
  const query = url.searchParams.get("token");
  if (query !== null && sameSecret(query, token)) {
    url.searchParams.delete("token");
    return new Response(null, {
      status: 303,
      headers: {
        location: url.pathname + url.search,
        "set-cookie": `${TOKEN_COOKIE}=${
          encodeURIComponent(token)
        }; Path=/; HttpOnly; SameSite=Strict`,
      },
    });
  }
  if ((bearer && sameSecret(bearer, token)) || (cookie && sameSecret(cookie, token))) {
    return undefined;
  }
  throw new HttpError(401, "The inspector needs its token: Bearer, or open /?token=… once");
}

function cookieOf(request: Request, name: string): string | undefined {
  for (const part of (request.headers.get("cookie") ?? "").split(";")) {
    const [key, ...rest] = part.trim().split("=");
    if (key === name) {
      try {
        return decodeURIComponent(rest.join("="));
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

/** Constant-time comparison of two secrets. */
function sameSecret(given: string, expected: string): boolean {
  const a = encoder.encode(given);
  const b = encoder.encode(expected);
  let diff = a.length ^ b.length;
  for (let i = 0; i < b.length; i++) diff |= (a[i % (a.length || 1)] ?? 0) ^ b[i];
  return diff === 0;
}

function limitOf(text: string | null): number | undefined {
  if (text === null) return undefined;
  const limit = Number(text);
  if (!Number.isInteger(limit) || limit < 1 || limit > API_LIMITS.maxListLimit) {
    throw new HttpError(400, `Cannot use limit "${text}": need 1–${API_LIMITS.maxListLimit}`);
  }
  return limit;
}

async function replayEdits(request: Request): Promise<ReplayEdits> {
  const length = Number(request.headers.get("content-length") ?? "0");
  if (length > API_LIMITS.maxReplayRequestBytes) {
    throw new HttpError(413, "The replay request is too large");
  }
  const text = await request.text();
  if (text.length > API_LIMITS.maxReplayRequestBytes) {
    throw new HttpError(413, "The replay request is too large");
  }
  if (text.trim() === "") return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new HttpError(400, `Cannot parse the replay request: ${(error as Error).message}`);
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new HttpError(400, "The replay request must be a JSON object");
  }
  const { headers, body_b64, target_url } = value as Record<string, unknown>;
  const edits: ReplayEdits = {};
  if (headers !== undefined) {
    if (
      !Array.isArray(headers) ||
      !headers.every((pair) =>
        Array.isArray(pair) && pair.length === 2 && typeof pair[0] === "string" &&
        typeof pair[1] === "string"
      )
    ) {
      throw new HttpError(400, 'Cannot use "headers": need [[name, value], …] of strings');
    }
    edits.headers = headers as HeaderPairs;
  }
  if (body_b64 !== undefined) {
    if (typeof body_b64 !== "string") throw new HttpError(400, '"body_b64" must be a string');
    try {
      edits.body = fromBase64(body_b64);
    } catch {
      throw new HttpError(400, 'Cannot decode "body_b64": not base64');
    }
  }
  if (target_url !== undefined) {
    let url: URL | undefined;
    try {
      url = typeof target_url === "string" ? new URL(target_url) : undefined;
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== "http:" && url.protocol !== "https:")) {
      throw new HttpError(400, `Cannot use target_url "${target_url}": need an http(s) URL`);
    }
    edits.targetUrl = url;
  }
  return edits;
}

function events(
  recorder: Recorder,
  streams: Set<() => void>,
  signal: AbortSignal,
): Response {
  let cleanup = () => {};
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      const send = (text: string) => {
        if ((controller.desiredSize ?? 0) < -API_LIMITS.sseMaxQueued) {
          cleanup();
          return;
        }
        controller.enqueue(encoder.encode(text));
      };
      const unsubscribe = recorder.subscribe((delivery) => {
        if (delivery && recorder.get(delivery.id) !== delivery) return;
        send(
          delivery
            ? `event: delivery\ndata: ${JSON.stringify(delivery.summary())}\n\n`
            : "event: clear\ndata: {}\n\n",
        );
      });
      const keepAlive = setInterval(() => send(": keep-alive\n\n"), API_LIMITS.sseKeepAlive);
      let closed = false;
      cleanup = () => {
        if (closed) return;
        closed = true;
        unsubscribe();
        clearInterval(keepAlive);
        streams.delete(cleanup);
        signal.removeEventListener("abort", cleanup);
        try {
          controller.close();
        } catch {
          // Already cancelled by the reader.
        }
      };
      streams.add(cleanup);
      signal.addEventListener("abort", cleanup, { once: true });
      send("retry: 1000\n: connected\n\n");
    },
    cancel() {
      cleanup();
    },
  }, { highWaterMark: 1 });
  return new Response(body, {
    headers: { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-store" },
  });
}

function asset(text: string, type: string): Response {
  return new Response(text, { headers: { "content-type": type } });
}

function raw(bytes: Uint8Array<ArrayBuffer>, truncated: boolean, name: string): Response {
  // Never the body's own content type: an HTML body must not run on the inspector's origin.
  return new Response(bytes, {
    headers: {
      "content-type": "application/octet-stream",
      "content-disposition": `attachment; filename="${name}.bin"`,
      "x-body-truncated": String(truncated),
    },
  });
}

function json(value: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(value), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", ...headers },
  });
}
