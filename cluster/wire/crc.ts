/**
 * CRC wrapper (type 12): `0c <CRC-32/IEEE of the message, BE> <message>` (PROTOCOL.md §7).
 *
 * @module
 */

import { WireDecodeError } from "./errors.ts";
import { CRC_OVERHEAD } from "./limits.ts";
import { MessageType } from "./types.ts";

/** Reflected IEEE polynomial (0x04C11DB7), as zlib and Go's `crc32.ChecksumIEEE` use. */
const IEEE_REFLECTED = 0xedb88320;
const TABLE_SIZE = 256;
const BYTE_BITS = 8;
const BYTE_MASK = 0xff;
const ALL_ONES = 0xffffffff;

const TABLE = (() => {
  const t = new Uint32Array(TABLE_SIZE);
  for (let n = 0; n < TABLE_SIZE; n++) {
    let c = n;
    for (let k = 0; k < BYTE_BITS; k++) c = c & 1 ? IEEE_REFLECTED ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/**
 * CRC-32 (IEEE), the checksum of Go's `crc32.ChecksumIEEE`.
 *
 * @param data Bytes to sum.
 * @returns The checksum as an unsigned 32-bit number.
 *
 * @example
 * ```ts
 * import { crc32 } from "./mod.ts";
 * crc32(new TextEncoder().encode("123456789")); // 0xcbf43926
 * ```
 */
export function crc32(data: Uint8Array): number {
  let c = ALL_ONES;
  for (let i = 0; i < data.length; i++) c = TABLE[(c ^ data[i]) & BYTE_MASK] ^ (c >>> BYTE_BITS);
  return (c ^ ALL_ONES) >>> 0;
}

/**
 * Wraps a message in the CRC wrapper.
 *
 * @param message An encoded message.
 * @returns `0c`, its CRC-32 big-endian, the message.
 */
export function encodeCrc(message: Uint8Array): Uint8Array {
  const out = new Uint8Array(CRC_OVERHEAD + message.length);
  out[0] = MessageType.hasCrc;
  new DataView(out.buffer).setUint32(1, crc32(message));
  out.set(message, CRC_OVERHEAD);
  return out;
}

/**
 * Checks and removes the CRC wrapper.
 *
 * @param bytes A CRC-wrapped message (starting with `0c`, at least 5 bytes).
 * @returns The wrapped message (a view into `bytes`).
 * @throws {WireDecodeError} `"unknownType"` if not type 12, `"truncated"` under 5 bytes,
 *   `"crc"` on a mismatch.
 */
export function decodeCrc(bytes: Uint8Array): Uint8Array {
  if (bytes.length < 1 || bytes[0] !== MessageType.hasCrc) {
    throw new WireDecodeError("unknownType", "Cannot check CRC: first byte is not 12");
  }
  if (bytes.length < CRC_OVERHEAD) {
    throw new WireDecodeError(
      "truncated",
      `Cannot check CRC: ${bytes.length} bytes, need ${CRC_OVERHEAD}`,
    );
  }
  const expected = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(1);
  const inner = bytes.subarray(CRC_OVERHEAD);
  const actual = crc32(inner);
  if (actual !== expected) {
    throw new WireDecodeError(
      "crc",
      `Invalid checksum: got ${actual.toString(16)}, packet says ${expected.toString(16)}`,
    );
  }
  return inner;
}
