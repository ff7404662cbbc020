/**
 * LZW exactly as Go's `compress/lzw` with `LSB` order and literal width 8 (PROTOCOL.md §8):
 * the writer reproduces Go's output byte for byte (same hash table, same code-width and
 * table-reset points), the reader accepts what Go's reader accepts and requires the EOF code.
 *
 * @module
 */

import { WireDecodeError } from "./errors.ts";
import { LZW_LIT_WIDTH, LZW_MAX_WIDTH, MAX_STREAM_BYTES } from "./limits.ts";

const CLEAR = 1 << LZW_LIT_WIDTH; // 256
const EOF = CLEAR + 1; // 257
const MAX_CODE = (1 << LZW_MAX_WIDTH) - 1; // 4095
const TABLE_SIZE = 4 * (1 << LZW_MAX_WIDTH); // Go's writer hash table size
const TABLE_MASK = TABLE_SIZE - 1;
const INVALID_ENTRY = 0;
const NO_CODE = -1;
const BYTE_BITS = 8;
const BYTE_MASK = 0xff;
const HASH_SHIFT = 12;
const MIN_OUTPUT_CAPACITY = 64;

/** Collects output bytes with amortised growth. */
class ByteSink {
  buf: Uint8Array;
  len = 0;

  constructor(capacity: number) {
    this.buf = new Uint8Array(Math.max(MIN_OUTPUT_CAPACITY, capacity));
  }

  grow(extra: number): void {
    if (this.len + extra <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + extra) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  push(b: number): void {
    this.grow(1);
    this.buf[this.len++] = b;
  }

  result(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

/**
 * Compresses like Go's `lzw.NewWriter(w, lzw.LSB, 8)` given all of `data` in one `Write`,
 * then `Close`: CLEAR first, table reset (CLEAR) when codes run out, EOF last.
 *
 * @param data Bytes to compress (may be empty: the result is then `00 03 02`).
 * @returns The LZW stream.
 */
export function lzwCompress(data: Uint8Array): Uint8Array {
  const out = new ByteSink((data.length >> 1) + MIN_OUTPUT_CAPACITY);
  const table = new Uint32Array(TABLE_SIZE); // INVALID_ENTRY = 0 (key<<12|code, code ≥ 258)
  let bits = 0;
  let nBits = 0;
  let width = LZW_LIT_WIDTH + 1;
  let hi = EOF;
  let overflow = 1 << (LZW_LIT_WIDTH + 1);

  const write = (c: number): void => {
    bits |= c << nBits;
    nBits += width;
    while (nBits >= BYTE_BITS) {
      out.push(bits & BYTE_MASK);
      bits >>>= BYTE_BITS;
      nBits -= BYTE_BITS;
    }
  };
  /** Go's `incHi`; returns true when it ran out of codes and reset. */
  const incHi = (): boolean => {
    hi++;
    if (hi === overflow) {
      width++;
      overflow <<= 1;
    }
    if (hi === MAX_CODE) {
      write(CLEAR);
      width = LZW_LIT_WIDTH + 1;
      hi = EOF;
      overflow = CLEAR << 1;
      table.fill(INVALID_ENTRY);
      return true;
    }
    return false;
  };

  let code = NO_CODE;
  if (data.length > 0) {
    write(CLEAR);
    code = data[0];
    outer: for (let i = 1; i < data.length; i++) {
      const literal = data[i];
      const key = (code << BYTE_BITS) | literal;
      let hash = ((key >>> HASH_SHIFT) ^ key) & TABLE_MASK;
      for (let h = hash, t = table[hash]; t !== INVALID_ENTRY;) {
        if (key === t >>> HASH_SHIFT) {
          code = t & MAX_CODE;
          continue outer;
        }
        h = (h + 1) & TABLE_MASK;
        t = table[h];
      }
      write(code);
      code = literal;
      if (incHi()) continue;
      for (;;) {
        if (table[hash] === INVALID_ENTRY) {
          table[hash] = ((key << HASH_SHIFT) | hi) >>> 0;
          break;
        }
        hash = (hash + 1) & TABLE_MASK;
      }
    }
  }
  if (code !== NO_CODE) {
    write(code);
    incHi();
  } else {
    write(CLEAR);
  }
  write(EOF);
  if (nBits > 0) out.push(bits & BYTE_MASK);
  return out.result();
}

/** Options for {@linkcode lzwDecompress}. */
export interface LzwDecompressOptions {
  /** Largest output accepted; more fails with `"limit"`. @default MAX_STREAM_BYTES (8 MiB) */
  maxBytes?: number;
}

/**
 * Decompresses like Go's `lzw.NewReader(r, lzw.LSB, 8)` read to the end: the EOF code is
 * required, CLEAR may appear anywhere, bytes after EOF are ignored.
 *
 * @param data The LZW stream.
 * @param options Output cap.
 * @returns The decompressed bytes.
 * @throws {WireDecodeError} `"compress"` on an invalid code or a missing EOF, `"limit"` when
 *   the output would exceed `maxBytes`.
 */
export function lzwDecompress(data: Uint8Array, options: LzwDecompressOptions = {}): Uint8Array {
  const maxBytes = options.maxBytes ?? MAX_STREAM_BYTES;
  const out = new ByteSink(Math.min(maxBytes, data.length * 4));
  const prefix = new Uint16Array(1 << LZW_MAX_WIDTH);
  const suffix = new Uint8Array(1 << LZW_MAX_WIDTH);
  const scratch = new Uint8Array(1 << LZW_MAX_WIDTH);
  let width = LZW_LIT_WIDTH + 1;
  let hi = EOF;
  let overflow = 1 << width;
  let last = NO_CODE;
  let bits = 0;
  let nBits = 0;
  let pos = 0;

  const limit = (n: number): void => {
    if (out.len + n > maxBytes) {
      throw new WireDecodeError("limit", `Cannot decompress: output exceeds ${maxBytes} bytes`);
    }
  };

  for (;;) {
    while (nBits < width) {
      if (pos >= data.length) {
        throw new WireDecodeError(
          "compress",
          "Cannot decompress: unexpected end of LZW data (no EOF code)",
        );
      }
      bits |= data[pos++] << nBits;
      nBits += BYTE_BITS;
    }
    const code = bits & ((1 << width) - 1);
    bits >>>= width;
    nBits -= width;

    if (code < CLEAR) {
      limit(1);
      out.push(code);
      if (last !== NO_CODE) {
        suffix[hi] = code;
        prefix[hi] = last;
      }
    } else if (code === CLEAR) {
      width = LZW_LIT_WIDTH + 1;
      hi = EOF;
      overflow = 1 << width;
      last = NO_CODE;
      continue;
    } else if (code === EOF) {
      return out.result();
    } else if (code <= hi) {
      let c = code;
      let i = scratch.length - 1;
      if (code === hi && last !== NO_CODE) {
        // KwKwK: the last expansion followed by its own first byte.
        c = last;
        while (c >= CLEAR) c = prefix[c];
        scratch[i--] = c;
        c = last;
      }
      while (c >= CLEAR) {
        if (i < 0) {
          throw new WireDecodeError("compress", "Cannot decompress: invalid LZW code chain");
        }
        scratch[i--] = suffix[c];
        c = prefix[c];
      }
      if (i < 0) throw new WireDecodeError("compress", "Cannot decompress: invalid LZW code chain");
      scratch[i] = c;
      const chunk = scratch.subarray(i);
      limit(chunk.length);
      out.grow(chunk.length);
      out.buf.set(chunk, out.len);
      out.len += chunk.length;
      if (last !== NO_CODE) {
        suffix[hi] = c;
        prefix[hi] = last;
      }
    } else {
      throw new WireDecodeError("compress", `Cannot decompress: invalid LZW code ${code}`);
    }
    last = code;
    hi++;
    if (hi >= overflow) {
      if (width === LZW_MAX_WIDTH) {
        last = NO_CODE;
        hi--;
      } else {
        width++;
        overflow = 1 << width;
      }
    }
  }
}
