/**
 * The request and response shapes of the HTTP/1.1 client.
 *
 * @module
 */
import type { Http1Abort } from "./abort.ts";
import type { Http1Body } from "./body.ts";

/** One request, see {@linkcode Http1Client.request}. */
export interface Http1RequestInit {
  /** The method, sent as given (a token). */
  method: string;
  /** The request target (path and query), sent as given. */
  path: string;
  /**
   * Header pairs sent in this order, repeats kept, names as given. `Host` is added when absent;
   * `Content-Length` when the body is a `Uint8Array` and no framing header is given;
   * `Transfer-Encoding: chunked` when the body is streamed with no framing header.
   */
  headers: readonly (readonly [string, string])[];
  /**
   * The body: whole (written with the head when small, and replayable), or streamed with
   * backpressure (each chunk written before the next is pulled). An empty `Uint8Array` with
   * GET/HEAD/DELETE/OPTIONS/TRACE/CONNECT sends no `Content-Length`, like `node:http`.
   * @default {undefined}
   */
  body?: Uint8Array | AsyncIterable<Uint8Array> | null;
  /** Aborts the request at any stage, also while the body is read: the connection is destroyed. */
  signal?: AbortSignal;
  /**
   * Aborts the request as `signal` does, cheaper (see {@linkcode Http1Abort}); either or both.
   * @default {undefined}
   */
  abort?: Http1Abort;
  /**
   * Every header name is already known to be a token and every value free of CR, LF, NUL and
   * other control characters (e.g. headers from `decodeRequestHead`, which checks exactly
   * that): the check is not repeated. Method and target are checked anyway.
   * @default {false}
   */
  headersChecked?: boolean;
}

/** The app's answer. */
export interface Http1Response {
  /** Status code (never 1xx). */
  status: number;
  /** Reason phrase as sent (may be empty). */
  statusText: string;
  /** Header pairs in the order received, repeats kept, names as sent. */
  headers: [string, string][];
  /** The body, exactly as sent (never decompressed); consume it or cancel it. */
  body: Http1Body;
}
