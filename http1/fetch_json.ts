/**
 * One plain `GET` read whole (the client's `GET /new`, before the WebSocket), over the same
 * HTTP/1.1 client and the same TLS choices as the WebSocket: system roots, extra `caCerts`, or no
 * verification (`insecure`, a `node:tls` socket: in Deno 2.9.6 neither `fetch` nor
 * `Deno.startTls` can skip verification per connection).
 *
 * @module
 */
import { concat } from "./_bytes.ts";
import { Http1Client } from "./client.ts";
import { Http1Error } from "./errors.ts";

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
 * followed: a 3xx answer is returned as it is. Headers go out lower-cased, `Host` added; the
 * connection is closed afterwards.
 *
 * @param url An `http://` or `https://` URL.
 * @param options Headers, TLS trust (`caCerts` or `insecure`), timeout and signal.
 * @returns Status and body text.
 * @throws {TypeError} If the URL's scheme is not `http:`/`https:`, or on a network, TLS or
 *   protocol error (the {@linkcode Http1Error} as `cause`, as `fetch` does).
 * @throws {RangeError} If `timeout` is negative or the body exceeds 1 MiB.
 * @throws {DOMException} A `TimeoutError` after `timeout`, or `signal.reason` if aborted.
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
  const client = new Http1Client({
    caCerts: options.caCerts?.length ? options.caCerts : undefined,
    insecure: options.insecure,
  });
  try {
    const response = await client.request(target, {
      method: "GET",
      path: (target.pathname || "/") + target.search,
      headers: [...headers],
      signal,
    });
    const parts: Uint8Array[] = [];
    let total = 0;
    for await (const part of response.body) {
      total += part.length;
      if (total > MAX_BODY_BYTES) throw tooBig(target); // leaving the loop cancels the body
      parts.push(part);
    }
    return { status: response.status, text: new TextDecoder().decode(concat(parts, total)) };
  } catch (error) {
    if (signal?.aborted) throw signal.reason;
    if (error instanceof Http1Error) {
      throw new TypeError(`Cannot fetch "${target.href}": ${error.message}`, { cause: error });
    }
    throw error;
  } finally {
    await client.close();
  }
}

function tooBig(url: URL): RangeError {
  return new RangeError(
    `Cannot read the answer of "${url.href}": body exceeds ${MAX_BODY_BYTES} bytes`,
  );
}
