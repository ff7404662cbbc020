/**
 * Compress wrapper (type 9): `09 <msgpack {Algo: 0, Buf: LZW(message)}>` (PROTOCOL.md §8).
 *
 * @module
 */

import { asMap, getBytes, getUint } from "./_fields.ts";
import { MsgpackReader, MsgpackWriter } from "./_msgpack.ts";
import { WireDecodeError } from "./errors.ts";
import { LZW_ALGO, MAX_STREAM_BYTES } from "./limits.ts";
import { lzwCompress, lzwDecompress } from "./lzw.ts";
import { MessageType } from "./types.ts";

const ALGO_MAX = 0xff;

/**
 * Wraps a message in the compress wrapper, as Go writes it (`Buf` as msgpack str).
 *
 * @param message An encoded message; never empty (0.2.2 panics on an empty decompressed part).
 * @returns `09` + msgpack `{Algo: 0, Buf}`.
 * @throws {RangeError} When `message` is empty.
 */
export function encodeCompress(message: Uint8Array): Uint8Array {
  if (message.length === 0) throw new RangeError("Cannot compress an empty message");
  return new MsgpackWriter()
    .byte(MessageType.compress)
    .map(2)
    .text("Algo").uint(LZW_ALGO)
    .text("Buf").str(lzwCompress(message))
    .bytes()
    .slice();
}

/** Options for {@linkcode decodeCompress}. */
export interface DecodeCompressOptions {
  /** Largest decompressed size accepted. @default MAX_STREAM_BYTES (8 MiB) */
  maxBytes?: number;
}

/**
 * Removes the compress wrapper and decompresses.
 *
 * @param bytes A compress message, starting with `09`.
 * @param options Output cap.
 * @returns The wrapped message.
 * @throws {WireDecodeError} `"unknownType"` if not type 9, `"compress"` on a bad wrapper, an
 *   unknown `Algo`, bad LZW or an empty result, `"limit"` above `maxBytes`.
 */
export function decodeCompress(bytes: Uint8Array, options: DecodeCompressOptions = {}): Uint8Array {
  if (bytes.length < 1 || bytes[0] !== MessageType.compress) {
    throw new WireDecodeError("unknownType", "Cannot decompress: first byte is not 9");
  }
  return decompressBody(new MsgpackReader(bytes, 1).value(), options.maxBytes ?? MAX_STREAM_BYTES);
}

/** Decompresses an already-parsed `{Algo, Buf}` body. */
export function decompressBody(
  body: ReturnType<MsgpackReader["value"]>,
  maxBytes: number,
): Uint8Array {
  let algo: number, buf: Uint8Array;
  try {
    const m = asMap(body, "compress");
    algo = getUint(m, "Algo", "compress", ALGO_MAX);
    buf = getBytes(m, "Buf", "compress");
  } catch (err) {
    if (err instanceof WireDecodeError) {
      throw new WireDecodeError("compress", err.message, { cause: err });
    }
    throw err;
  }
  if (algo !== LZW_ALGO) {
    throw new WireDecodeError("compress", `Cannot decompress: unknown algorithm ${algo}`);
  }
  const out = lzwDecompress(buf, { maxBytes });
  if (out.length === 0) throw new WireDecodeError("compress", "Cannot decompress: empty message");
  return out;
}
