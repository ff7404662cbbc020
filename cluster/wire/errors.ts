/**
 * The one error class every wire decoder throws.
 *
 * @module
 */

/**
 * Why a decode failed. Callers mostly log and drop; a TCP acceptor answers `errResp` for the
 * outer-layer codes (`"encryptedNoKeys"`, `"notEncrypted"`, `"decrypt"`, `"compress"`) like Go.
 *
 * - `"truncated"`: input ended before a declared length or object end.
 * - `"eof"`: a stream ended before its first byte (a peer that connected and closed).
 * - `"malformed"`: bad msgpack, a missing/ill-typed field, a bad length or value.
 * - `"unknownType"`: a message type that is unknown or not valid in this place.
 * - `"label"`: bad label header or a label other than ours.
 * - `"encryptedNoKeys"`: encrypted input but no keys configured.
 * - `"notEncrypted"`: plaintext input but keys configured (and verification on).
 * - `"decrypt"`: no key could decrypt, or a bad encryption version / size.
 * - `"crc"`: checksum mismatch.
 * - `"compress"`: bad compress wrapper or LZW data (includes missing EOF code).
 * - `"limit"`: a size or count above one of the caps in `limits.ts`.
 */
export type WireDecodeErrorCode =
  | "truncated"
  | "eof"
  | "malformed"
  | "unknownType"
  | "label"
  | "encryptedNoKeys"
  | "notEncrypted"
  | "decrypt"
  | "crc"
  | "compress"
  | "limit";

/**
 * Thrown by every decoder in `cluster/wire` on bad input; decoders throw nothing else.
 *
 * @example
 * ```ts
 * import { decodeUdpPacket, WireDecodeError } from "./mod.ts";
 * try {
 *   await decodeUdpPacket(new Uint8Array([0x0c, 0, 0, 0, 0, 0x04]));
 * } catch (err) {
 *   if (!(err instanceof WireDecodeError)) throw err;
 *   console.log(err.code); // "crc"
 * }
 * ```
 */
export class WireDecodeError extends Error {
  /** Machine-readable reason. */
  readonly code: WireDecodeErrorCode;

  /**
   * Creates the error.
   *
   * @param code Machine-readable reason.
   * @param message Human-readable text (capitalised, no trailing period).
   * @param options Standard error options (`cause`).
   */
  constructor(code: WireDecodeErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "WireDecodeError";
    this.code = code;
  }
}
