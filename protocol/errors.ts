/**
 * Errors of the tunnel protocol.
 *
 * @module
 */
import type { ResetCode } from "./wire.ts";

// Where the reset codes used to live; their one definition is `RESETS` in wire.ts.
export { RESET_CODES, type ResetCode } from "./wire.ts";

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
  /** Machine-readable reason, see `RESETS` in `wire.ts`. */
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
