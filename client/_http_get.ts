/**
 * The one plain HTTP request the client makes (`GET /new`, before the WebSocket), with the same
 * TLS choices as the WebSocket: system roots, extra `caCerts`, or no verification (`insecure`).
 *
 * `fetch` serves the verified cases; `insecure` uses `node:https` with
 * `rejectUnauthorized: false`, since in Deno 2.9.6 `fetch`/`Deno.createHttpClient` cannot skip
 * verification per request (only the process-wide `--unsafely-ignore-certificate-errors` flag can).
 *
 * @module
 */

import { request as httpsRequest } from "node:https";

/** A whole request, connect to last body byte, gives up after this long unless told otherwise. */
const DEFAULT_TIMEOUT_MS = 10_000;
/** Largest body read: a channel-issuing answer is a few hundred bytes of JSON. */
const MAX_BODY_BYTES = 1024 * 1024;

/** Options for {@linkcode fetchJson}. */
export interface FetchJsonOptions {
  /**
   * Request headers (e.g. `Authorization`). `Accept: application/json` is added unless given.
   * @default {{}}
   */
  headers?: HeadersInit;
  /**
   * PEM certificates trusted in addition to the system roots, for `https://` with a private CA.
   * @default {[]}
   */
  caCerts?: string[];
  /**
   * For `https://`: do not verify the server's certificate at all (self-signed development
   * servers). `caCerts` is then ignored.
   * @default {false}
   */
  insecure?: boolean;
  /**
   * Milliseconds the whole request may take, body included; `0` disables it.
   * @default {10000}
   */
  timeout?: number;
  /**
   * Aborts the request; the promise rejects with `signal.reason`.
   * @default {undefined}
   */
  signal?: AbortSignal;
}

/** The answer of {@linkcode fetchJson}: any status, the body as text. */
export interface FetchJsonResult {
  /** HTTP status, e.g. `200` or `401`. */
  status: number;
  /** The body decoded as UTF-8 (not parsed: an error answer may not be JSON). */
  text: string;
}

/**
 * Sends `GET url` and reads the whole answer as text, whatever its status. Redirects are not
 * followed (on either path): a 3xx answer is returned as it is.
 *
 * @param url An `http://` or `https://` URL.
 * @param options Headers, TLS trust (`caCerts` or `insecure`), timeout and signal.
 * @returns Status and body text.
 * @throws {TypeError} If the URL's scheme is not `http:`/`https:`, or a network/TLS error from
 *   `fetch`.
 * @throws {RangeError} If `timeout` is negative or the body exceeds 1 MiB.
 * @throws {DOMException} A `TimeoutError` after `timeout`, or `signal.reason` if aborted.
 * @throws {Error} With `insecure` and `https://`: the `node:https` socket error (`err.code`).
 *
 * @example
 * ```ts ignore
 * const { status, text } = await fetchJson("https://localhost:8443/new", {
 *   headers: { authorization: "Bearer t0ken" },
 *   insecure: true,
 * });
 * if (status === 200) console.log(JSON.parse(text).channel_id);
 * ```
 */
export async function fetchJson(
  url: string | URL,
  options: FetchJsonOptions = {},
): Promise<FetchJsonResult> {
  const target = new URL(url);
  if (target.protocol !== "http:" && target.protocol !== "https:") {
    throw new TypeError(`Cannot fetch "${target.href}": unsupported scheme "${target.protocol}"`);
  }
  const timeout = options.timeout ?? DEFAULT_TIMEOUT_MS;
  if (!Number.isFinite(timeout) || timeout < 0) {
    throw new RangeError(`Cannot use timeout "${timeout}": must be a finite number >= 0`);
  }
  const headers = new Headers(options.headers);
  if (!headers.has("accept")) headers.set("accept", "application/json");
  const signals = [
    ...(options.signal ? [options.signal] : []),
    ...(timeout > 0 ? [AbortSignal.timeout(timeout)] : []),
  ];
  const signal = signals.length === 0 ? undefined : AbortSignal.any(signals);
  signal?.throwIfAborted();
  if (options.insecure && target.protocol === "https:") {
    return await getInsecure(target, headers, signal);
  }
  const client = options.caCerts?.length
    ? Deno.createHttpClient({ caCerts: options.caCerts })
    : undefined;
  try {
    const response = await fetch(target, { headers, client, signal, redirect: "manual" });
    const parts: Uint8Array[] = [];
    let total = 0;
    if (response.body) {
      for await (const part of response.body) {
        total += part.length;
        if (total > MAX_BODY_BYTES) throw tooBig(target); // leaving the loop cancels the body
        parts.push(part);
      }
    }
    return { status: response.status, text: decode(parts, total) };
  } finally {
    client?.close();
  }
}

/** `GET` over `node:https` without certificate verification; settles once the socket is gone. */
function getInsecure(
  url: URL,
  headers: Headers,
  signal: AbortSignal | undefined,
): Promise<FetchJsonResult> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const parts: Uint8Array[] = [];
    let total = 0;
    let status = 0;
    // `agent: false`: a fresh socket closed after this answer, so no keep-alive socket lingers.
    const request = httpsRequest(url, {
      method: "GET",
      headers: Object.fromEntries(headers),
      rejectUnauthorized: false,
      agent: false,
    });
    const finish = (error: unknown, result?: FetchJsonResult) => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener("abort", onAbort);
      const socket = request.socket;
      const settle = () => error === undefined ? resolve(result!) : reject(error);
      if (socket === null || socket.closed) return settle();
      // Settle after the socket has closed, so the caller sees no resource outlive the call.
      socket.once("close", settle);
      socket.destroy();
    };
    const onAbort = () => {
      finish(signal?.reason);
      request.destroy();
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    request.on("error", (error) => finish(error));
    request.on("response", (response) => {
      status = response.statusCode ?? 0;
      response.on("data", (part: Uint8Array) => {
        total += part.length;
        if (total > MAX_BODY_BYTES) return finish(tooBig(url));
        parts.push(part);
      });
      response.on("end", () => finish(undefined, { status, text: decode(parts, total) }));
      response.on("error", (error) => finish(error));
    });
    request.end();
  });
}

function tooBig(url: URL): RangeError {
  return new RangeError(
    `Cannot read the answer of "${url.href}": body exceeds ${MAX_BODY_BYTES} bytes`,
  );
}

function decode(parts: Uint8Array[], total: number): string {
  const body = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    body.set(part, offset);
    offset += part.length;
  }
  return new TextDecoder().decode(body);
}
