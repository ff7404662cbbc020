/**
 * Errors of the tunnel protocol.
 *
 * @module
 */

/** A peer sent bytes that break the protocol (bad frame, bad length, flow-control violation). */
export class ProtocolError extends Error {
  /**
   * Creates the error.
   * @param message What was wrong, e.g. `Cannot decode frame: length 9 exceeds the 4 bytes left`.
   * @param options Standard error options (`cause`).
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ProtocolError";
  }
}

/**
 * A stream ended abnormally: reset by the peer, or the tunnel went away. `code` says why, so the
 * server can map it to an HTTP status.
 */
export class StreamResetError extends Error {
  /** Machine-readable reason, see {@linkcode ResetCode}. */
  readonly code: ResetCode;
  /**
   * Creates the error.
   * @param code Why the stream was reset.
   * @param message Human-readable detail.
   */
  constructor(code: ResetCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "StreamResetError";
    this.code = code;
  }
}

/**
 * Why a stream was reset:
 * - `target_unreachable`: the client could not connect to the local app (→ 502)
 * - `target_timeout`: the local app did not answer in time (→ 504)
 * - `target_error`: the local app's connection failed mid-exchange (→ 502)
 * - `cancelled`: the sender went away or the server gave up (no answer is sent)
 * - `body_too_large`: the request body exceeded the server's limit (→ 413)
 * - `tunnel_closed`: the WebSocket closed with the stream open (→ 502)
 * - `shutting_down`: the client is stopping and takes no new requests (→ 503)
 */
export type ResetCode =
  | "target_unreachable"
  | "target_timeout"
  | "target_error"
  | "cancelled"
  | "body_too_large"
  | "tunnel_closed"
  | "shutting_down";

/** All reset codes, for validating decoded frames. */
export const RESET_CODES: readonly ResetCode[] = [
  "target_unreachable",
  "target_timeout",
  "target_error",
  "cancelled",
  "body_too_large",
  "tunnel_closed",
  "shutting_down",
];
