/**
 * The one error type of the HTTP/1.1 client, and how an abort maps onto it.
 *
 * @module
 */

/**
 * Why a request failed:
 * - `connect`: no connection could be made (refused, unresolvable host, TLS handshake)
 * - `timeout`: the signal aborted with a `TimeoutError`
 * - `aborted`: the signal aborted for another reason
 * - `protocol`: the server's answer is not valid HTTP/1.1 (bad framing, oversized head, 101)
 * - `closed`: the connection failed or closed before the exchange completed
 */
export type Http1ErrorCode = "connect" | "timeout" | "aborted" | "protocol" | "closed";

/** An HTTP/1.1 exchange failed; see {@linkcode Http1ErrorCode}. */
export class Http1Error extends Error {
  /** Machine-readable reason. */
  readonly code: Http1ErrorCode;
  /**
   * @param code Why.
   * @param message Human-readable detail.
   * @param options The underlying error as `cause`.
   */
  constructor(code: Http1ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "Http1Error";
    this.code = code;
  }
}

/**
 * The error for a request whose signal aborted.
 * @param reason The signal's reason.
 * @returns A `timeout` error for a `TimeoutError`, else an `aborted` one, with the reason as cause.
 */
export function abortError(reason: unknown): Http1Error {
  const timeout = reason instanceof DOMException && reason.name === "TimeoutError";
  const message = reason instanceof Error ? reason.message : String(reason);
  return new Http1Error(
    timeout ? "timeout" : "aborted",
    timeout ? `Timed out: ${message}` : `Aborted: ${message}`,
    { cause: reason },
  );
}
