/**
 * A small msgpack encoder and decoder for memberlist's subset, written to match Go's byte
 * layout (PROTOCOL.md §4): strings and `[]byte` as msgpack str (fixstr, str16, str32 — never
 * str8, never bin), the smallest unsigned integer forms, nil for empty byte slices. The decoder
 * returns every str and bin as raw bytes (they carry binary data), accepts every integer
 * family, and reports how many bytes it consumed so that raw bytes may follow an object.
 *
 * @module
 */

import { WireDecodeError } from "./errors.ts";
import { MAX_MSGPACK_DEPTH } from "./limits.ts";
import type { IntFormat } from "./types.ts";

/** A decoded msgpack value. str and bin both decode to `Uint8Array`. */
export type MsgValue =
  | null
  | boolean
  | number
  | Uint8Array
  | MsgValue[]
  | MsgMap
  | typeof UNSUPPORTED;

/** A decoded msgpack map; keys are UTF-8 decoded (Go struct field names). */
export type MsgMap = Map<string, MsgValue>;

/** Stand-in for values memberlist never sends (ext types); fields reject it. */
export const UNSUPPORTED: unique symbol = Symbol("unsupported msgpack value");

// msgpack format bytes
const FIXINT_MAX = 0x7f;
const FIXMAP = 0x80;
const FIXMAP_MAX = 0x8f;
const FIXARRAY_MAX = 0x9f;
const FIXSTR = 0xa0;
const FIXSTR_MAX = 0xbf;
const NIL = 0xc0;
const NEVER_USED = 0xc1;
const FALSE = 0xc2;
const TRUE = 0xc3;
const BIN8 = 0xc4;
const BIN16 = 0xc5;
const BIN32 = 0xc6;
const EXT8 = 0xc7;
const EXT16 = 0xc8;
const EXT32 = 0xc9;
const FLOAT32 = 0xca;
const FLOAT64 = 0xcb;
const UINT8 = 0xcc;
const UINT16 = 0xcd;
const UINT32 = 0xce;
const UINT64 = 0xcf;
const INT8 = 0xd0;
const INT16 = 0xd1;
const INT32 = 0xd2;
const INT64 = 0xd3;
const FIXEXT1 = 0xd4;
const FIXEXT16 = 0xd8;
const STR8 = 0xd9;
const STR16 = 0xda;
const STR32 = 0xdb;
const ARRAY16 = 0xdc;
const ARRAY32 = 0xdd;
const MAP16 = 0xde;
const MAP32 = 0xdf;
const NEGFIXINT = 0xe0;

const FIXSTR_LIMIT = 32;
const FIXMAP_LIMIT = 16;
const U8_MAX = 0xff;
const U16_MAX = 0xffff;
const U32_MAX = 0xffff_ffff;
const I16_MAX = 0x7fff;
const I32_MAX = 0x7fff_ffff;
const TWO_POW_32 = 0x1_0000_0000;
const INITIAL_CAPACITY = 256;
const FIXEXT_SIZES = [1, 2, 4, 8, 16];

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder();

/** Writes msgpack the way Go's memberlist codec does. */
export class MsgpackWriter {
  #buf = new Uint8Array(INITIAL_CAPACITY);
  #view = new DataView(this.#buf.buffer);
  #len = 0;

  #reserve(n: number): void {
    if (this.#len + n <= this.#buf.length) return;
    let cap = this.#buf.length * 2;
    while (cap < this.#len + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.#buf.subarray(0, this.#len));
    this.#buf = next;
    this.#view = new DataView(next.buffer);
  }

  /** Appends raw bytes (not msgpack-framed). */
  raw(bytes: Uint8Array): this {
    this.#reserve(bytes.length);
    this.#buf.set(bytes, this.#len);
    this.#len += bytes.length;
    return this;
  }

  /** Appends one byte. */
  byte(b: number): this {
    this.#reserve(1);
    this.#buf[this.#len++] = b;
    return this;
  }

  /** Map header (fixmap or map16; memberlist maps are small). */
  map(count: number): this {
    if (count < FIXMAP_LIMIT) return this.byte(FIXMAP | count);
    this.byte(MAP16);
    this.#reserve(2);
    this.#view.setUint16(this.#len, count);
    this.#len += 2;
    return this;
  }

  /** Raw bytes in the str family (Go's `[]byte` and `string`); empty → nil when `emptyAsNil`. */
  str(bytes: Uint8Array, emptyAsNil = false): this {
    const n = bytes.length;
    if (n === 0 && emptyAsNil) return this.byte(NIL);
    if (n < FIXSTR_LIMIT) {
      this.byte(FIXSTR | n);
    } else if (n <= U16_MAX) {
      this.byte(STR16);
      this.#reserve(2);
      this.#view.setUint16(this.#len, n);
      this.#len += 2;
    } else {
      this.byte(STR32);
      this.#reserve(4);
      this.#view.setUint32(this.#len, n);
      this.#len += 4;
    }
    return this.raw(bytes);
  }

  /** A UTF-8 string (Go `string`). */
  text(s: string): this {
    return this.str(utf8Encoder.encode(s));
  }

  /** A boolean. */
  bool(b: boolean): this {
    return this.byte(b ? TRUE : FALSE);
  }

  /** A non-negative integer in its smallest unsigned form (Go uint fields, 0.2.2 ints). */
  uint(n: number): this {
    if (n <= FIXINT_MAX) return this.byte(n);
    if (n <= U8_MAX) return this.byte(UINT8).byte(n);
    if (n <= U16_MAX) {
      this.byte(UINT16);
      this.#reserve(2);
      this.#view.setUint16(this.#len, n);
      this.#len += 2;
      return this;
    }
    if (n <= U32_MAX) {
      this.byte(UINT32);
      this.#reserve(4);
      this.#view.setUint32(this.#len, n);
      this.#len += 4;
      return this;
    }
    this.byte(UINT64);
    this.#reserve(8);
    this.#view.setBigUint64(this.#len, BigInt(n));
    this.#len += 8;
    return this;
  }

  /** A non-negative Go `int`: unsigned forms (0.2.2) or signed above 127 (0.5.x). */
  goInt(n: number, format: IntFormat): this {
    if (format === "unsigned" || n <= FIXINT_MAX) return this.uint(n);
    if (n <= I16_MAX) {
      this.byte(INT16);
      this.#reserve(2);
      this.#view.setInt16(this.#len, n);
      this.#len += 2;
      return this;
    }
    if (n <= I32_MAX) {
      this.byte(INT32);
      this.#reserve(4);
      this.#view.setInt32(this.#len, n);
      this.#len += 4;
      return this;
    }
    this.byte(INT64);
    this.#reserve(8);
    this.#view.setBigInt64(this.#len, BigInt(n));
    this.#len += 8;
    return this;
  }

  /** The bytes written so far (a copy-free view). */
  bytes(): Uint8Array {
    return this.#buf.subarray(0, this.#len);
  }
}

/** Internal signal: the buffer ended; `need` is the total length that would be required. */
class Short {
  constructor(readonly need: number) {}
}

/** Result of {@linkcode MsgpackReader.tryValue}. */
export type TryValue = { value: MsgValue; end: number } | { need: number };

/** Reads msgpack values from a byte array, tracking the position. */
export class MsgpackReader {
  #buf: Uint8Array;
  #view: DataView;
  /** Current read position. */
  pos: number;

  /**
   * @param buf Bytes to read.
   * @param pos Start offset.
   */
  constructor(buf: Uint8Array, pos = 0) {
    this.#buf = buf;
    this.#view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.pos = pos;
  }

  /**
   * Reads one value if the buffer holds all of it; otherwise says how many bytes (from the
   * start of the buffer) are needed at least. Malformed input throws {@linkcode WireDecodeError}.
   */
  tryValue(): TryValue {
    const start = this.pos;
    try {
      const value = this.#value(0);
      return { value, end: this.pos };
    } catch (err) {
      if (err instanceof Short) {
        this.pos = start;
        return { need: err.need };
      }
      throw err;
    }
  }

  /** Reads one value; a short buffer throws `WireDecodeError("truncated")`. */
  value(): MsgValue {
    const r = this.tryValue();
    if ("need" in r) {
      throw new WireDecodeError(
        "truncated",
        `Cannot decode msgpack: input ends at ${this.#buf.length} of ${r.need} bytes`,
      );
    }
    return r.value;
  }

  #take(n: number): number {
    const at = this.pos;
    if (at + n > this.#buf.length) throw new Short(at + n);
    this.pos = at + n;
    return at;
  }

  #u8(): number {
    return this.#buf[this.#take(1)];
  }

  #u16(): number {
    return this.#view.getUint16(this.#take(2));
  }

  #u32(): number {
    return this.#view.getUint32(this.#take(4));
  }

  #bytes(n: number): Uint8Array {
    const at = this.#take(n);
    return this.#buf.subarray(at, at + n);
  }

  #value(depth: number): MsgValue {
    const b = this.#u8();
    if (b <= FIXINT_MAX) return b;
    if (b >= NEGFIXINT) return b - 0x100;
    if (b <= FIXMAP_MAX) return this.#map(b & 0x0f, depth);
    if (b <= FIXARRAY_MAX) return this.#array(b & 0x0f, depth);
    if (b <= FIXSTR_MAX) return this.#bytes(b & 0x1f);
    switch (b) {
      case NIL:
        return null;
      case FALSE:
        return false;
      case TRUE:
        return true;
      case BIN8:
      case STR8:
        return this.#bytes(this.#u8());
      case BIN16:
      case STR16:
        return this.#bytes(this.#u16());
      case BIN32:
      case STR32:
        return this.#bytes(this.#u32());
      case EXT8:
        this.#bytes(this.#u8() + 1);
        return UNSUPPORTED;
      case EXT16:
        this.#bytes(this.#u16() + 1);
        return UNSUPPORTED;
      case EXT32:
        this.#bytes(this.#u32() + 1);
        return UNSUPPORTED;
      case FLOAT32:
        return this.#view.getFloat32(this.#take(4));
      case FLOAT64:
        return this.#view.getFloat64(this.#take(8));
      case UINT8:
        return this.#u8();
      case UINT16:
        return this.#u16();
      case UINT32:
        return this.#u32();
      case UINT64: {
        const at = this.#take(8);
        return this.#view.getUint32(at) * TWO_POW_32 + this.#view.getUint32(at + 4);
      }
      case INT8:
        return this.#view.getInt8(this.#take(1));
      case INT16:
        return this.#view.getInt16(this.#take(2));
      case INT32:
        return this.#view.getInt32(this.#take(4));
      case INT64: {
        const at = this.#take(8);
        return this.#view.getInt32(at) * TWO_POW_32 + this.#view.getUint32(at + 4);
      }
      case ARRAY16:
        return this.#array(this.#u16(), depth);
      case ARRAY32:
        return this.#array(this.#u32(), depth);
      case MAP16:
        return this.#map(this.#u16(), depth);
      case MAP32:
        return this.#map(this.#u32(), depth);
      case NEVER_USED:
        throw new WireDecodeError("malformed", "Cannot decode msgpack: reserved byte 0xc1");
      default:
        if (b >= FIXEXT1 && b <= FIXEXT16) {
          this.#bytes(FIXEXT_SIZES[b - FIXEXT1] + 1);
          return UNSUPPORTED;
        }
        throw new WireDecodeError(
          "malformed",
          `Cannot decode msgpack: unknown byte 0x${b.toString(16)}`,
        );
    }
  }

  #checkDepth(depth: number): void {
    if (depth >= MAX_MSGPACK_DEPTH) {
      throw new WireDecodeError(
        "malformed",
        `Cannot decode msgpack: nesting deeper than ${MAX_MSGPACK_DEPTH}`,
      );
    }
  }

  #array(count: number, depth: number): MsgValue[] {
    this.#checkDepth(depth);
    const out: MsgValue[] = [];
    for (let i = 0; i < count; i++) out.push(this.#value(depth + 1));
    return out;
  }

  #map(count: number, depth: number): MsgMap {
    this.#checkDepth(depth);
    const out: MsgMap = new Map();
    for (let i = 0; i < count; i++) {
      const key = this.#value(depth + 1);
      const value = this.#value(depth + 1);
      if (!(key instanceof Uint8Array)) {
        throw new WireDecodeError("malformed", "Cannot decode msgpack map: key is not a string");
      }
      out.set(utf8Decoder.decode(key), value);
    }
    return out;
  }
}
