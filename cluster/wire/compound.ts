/**
 * Compound framing (type 7): `07 <n u8> <n × u16 BE length> <parts…>` (PROTOCOL.md §6).
 *
 * @module
 */

import { WireDecodeError } from "./errors.ts";
import { MAX_COMPOUND_PART_BYTES, MAX_COMPOUND_PARTS } from "./limits.ts";
import { MessageType } from "./types.ts";

const TYPE_AND_COUNT_BYTES = 2;
const LENGTH_BYTES = 2;

/** Parts of a decoded compound. */
export interface CompoundParts {
  /** Complete parts in order (views into the input, each with its own type byte). */
  parts: Uint8Array[];
  /**
   * Number of declared parts dropped because the bytes ran out before their end. Like Go, the
   * parts before them are still good.
   */
  truncated: number;
}

/**
 * Frames already-encoded messages as one compound message.
 *
 * @param parts Encoded messages (each starting with its type byte), 1–255 of them, each
 *   1–65 535 bytes. Never empty: memberlist 0.2.2 panics on an empty part.
 * @returns `07`, the count, the big-endian lengths and the parts.
 * @throws {RangeError} On a bad count or part length.
 */
export function encodeCompound(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 0 || parts.length > MAX_COMPOUND_PARTS) {
    throw new RangeError(
      `Cannot encode compound: ${parts.length} parts, expected 1..${MAX_COMPOUND_PARTS}`,
    );
  }
  let total = TYPE_AND_COUNT_BYTES + LENGTH_BYTES * parts.length;
  for (const p of parts) {
    if (p.length === 0 || p.length > MAX_COMPOUND_PART_BYTES) {
      throw new RangeError(
        `Cannot encode compound: part of ${p.length} bytes, expected 1..${MAX_COMPOUND_PART_BYTES}`,
      );
    }
    total += p.length;
  }
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  out[0] = MessageType.compound;
  out[1] = parts.length;
  let at = TYPE_AND_COUNT_BYTES;
  for (const p of parts) {
    view.setUint16(at, p.length);
    at += LENGTH_BYTES;
  }
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * Splits a compound message into its parts, exactly as Go does: a truncated length table
 * fails, parts cut short are counted in `truncated`, trailing bytes are ignored. Empty parts
 * are returned as they are (decoding them fails).
 *
 * @param bytes A compound message, starting with its type byte `07`.
 * @returns The complete parts and the number of truncated ones.
 * @throws {WireDecodeError} `"unknownType"` if the first byte is not 7, `"truncated"` if the
 *   count or length table is cut short.
 */
export function decodeCompound(bytes: Uint8Array): CompoundParts {
  if (bytes.length < 1 || bytes[0] !== MessageType.compound) {
    throw new WireDecodeError("unknownType", "Cannot decode compound: first byte is not 7");
  }
  if (bytes.length < TYPE_AND_COUNT_BYTES) {
    throw new WireDecodeError("truncated", "Cannot decode compound: missing part count");
  }
  const count = bytes[1];
  let at = TYPE_AND_COUNT_BYTES + LENGTH_BYTES * count;
  if (bytes.length < at) {
    throw new WireDecodeError(
      "truncated",
      `Cannot decode compound: length table of ${count} parts is truncated`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const parts: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const len = view.getUint16(TYPE_AND_COUNT_BYTES + LENGTH_BYTES * i);
    if (at + len > bytes.length) return { parts, truncated: count - i };
    parts.push(bytes.subarray(at, at + len));
    at += len;
  }
  return { parts, truncated: 0 };
}
