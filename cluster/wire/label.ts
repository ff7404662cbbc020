/**
 * Label header (type 244, memberlist 0.3.0+): `f4 <len 1..255> <label bytes>` (PROTOCOL.md §10).
 *
 * @module
 */

import { WireDecodeError } from "./errors.ts";
import { LABEL_HEADER_OVERHEAD, MAX_LABEL_BYTES } from "./limits.ts";
import { MessageType } from "./types.ts";

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder();

/** Result of {@linkcode stripLabelHeader}. */
export interface LabelSplit {
  /** The label; "" when the input had no header. */
  label: string;
  /** The label's raw bytes (empty when none), used as GCM additional data. */
  labelBytes: Uint8Array;
  /** The bytes after the header (a view into the input). */
  rest: Uint8Array;
}

/**
 * Encodes a label header.
 *
 * @param label The label, 1–255 bytes of UTF-8.
 * @returns `f4`, the length, the label bytes.
 * @throws {RangeError} When the label is empty or longer than 255 bytes.
 */
export function encodeLabelHeader(label: string): Uint8Array {
  const bytes = utf8Encoder.encode(label);
  if (bytes.length === 0 || bytes.length > MAX_LABEL_BYTES) {
    throw new RangeError(
      `Cannot encode label "${label}": ${bytes.length} bytes, expected 1..${MAX_LABEL_BYTES}`,
    );
  }
  const out = new Uint8Array(LABEL_HEADER_OVERHEAD + bytes.length);
  out[0] = MessageType.hasLabel;
  out[1] = bytes.length;
  out.set(bytes, LABEL_HEADER_OVERHEAD);
  return out;
}

/**
 * Removes a label header if the input starts with one (as Go's `RemoveLabelHeaderFromPacket`).
 *
 * @param bytes A packet or the start of a stream.
 * @returns The label ("" if none) and the remaining bytes.
 * @throws {WireDecodeError} `"label"` on an empty label or a truncated header.
 */
export function stripLabelHeader(bytes: Uint8Array): LabelSplit {
  if (bytes.length === 0 || bytes[0] !== MessageType.hasLabel) {
    return { label: "", labelBytes: new Uint8Array(0), rest: bytes };
  }
  if (bytes.length < LABEL_HEADER_OVERHEAD) {
    throw new WireDecodeError("label", "Cannot decode label: packet has been truncated");
  }
  const size = bytes[1];
  if (size < 1) {
    throw new WireDecodeError("label", "Cannot decode label: header cannot be empty when present");
  }
  if (bytes.length < LABEL_HEADER_OVERHEAD + size) {
    throw new WireDecodeError("label", "Cannot decode label: packet has been truncated");
  }
  const labelBytes = bytes.slice(LABEL_HEADER_OVERHEAD, LABEL_HEADER_OVERHEAD + size);
  return {
    label: utf8Decoder.decode(labelBytes),
    labelBytes,
    rest: bytes.subarray(LABEL_HEADER_OVERHEAD + size),
  };
}
