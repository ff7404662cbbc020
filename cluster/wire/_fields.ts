/**
 * Field-level decoding of memberlist's msgpack structs, with Go's leniency (missing key → zero
 * value, nil → zero value, any integer family, bool as 0/1, bytes as str, bin or int array)
 * and our strictness (ranges, address and Vsn lengths).
 *
 * @module
 */

import type { MsgMap, MsgValue } from "./_msgpack.ts";
import { WireDecodeError } from "./errors.ts";
import { VSN_LENGTH } from "./limits.ts";
import type { WireNodeState } from "./types.ts";

const utf8Decoder = new TextDecoder();
const U8_MAX = 0xff;
/** Largest Go `uint16`. */
export const U16_MAX = 0xffff;
/** Largest Go `uint32`. */
export const U32_MAX = 0xffff_ffff;
const IPV4_BYTES = 4;
const IPV6_BYTES = 16;

/** Go's `State` numbers in push/pull, by index. */
export const NODE_STATES: readonly WireNodeState[] = ["alive", "suspect", "dead", "left"];

function bad(what: string, field: string, detail: string): WireDecodeError {
  return new WireDecodeError("malformed", `Cannot decode ${what}: field "${field}" ${detail}`);
}

/** Expects a msgpack map (a Go struct). */
export function asMap(v: MsgValue, what: string): MsgMap {
  if (!(v instanceof Map)) {
    throw new WireDecodeError("malformed", `Cannot decode ${what}: body is not a msgpack map`);
  }
  return v;
}

/** A Go `string` field. */
export function getString(m: MsgMap, key: string, what: string): string {
  const v = m.get(key);
  if (v === undefined || v === null) return "";
  if (v instanceof Uint8Array) return utf8Decoder.decode(v);
  throw bad(what, key, "is not a string");
}

/** A Go `[]byte` field (copied, so callers may reuse their input buffer). */
export function getBytes(m: MsgMap, key: string, what: string): Uint8Array {
  const v = m.get(key);
  if (v === undefined || v === null) return new Uint8Array(0);
  if (v instanceof Uint8Array) return v.slice();
  if (Array.isArray(v)) {
    const out = new Uint8Array(v.length);
    v.forEach((x, i) => {
      if (typeof x !== "number" || !Number.isInteger(x) || x < 0 || x > U8_MAX) {
        throw bad(what, key, "is an array with a non-byte element");
      }
      out[i] = x;
    });
    return out;
  }
  throw bad(what, key, "is not bytes");
}

/** An unsigned or non-negative integer field no larger than `max`. */
export function getUint(m: MsgMap, key: string, what: string, max: number): number {
  const v = m.get(key);
  if (v === undefined || v === null) return 0;
  if (typeof v !== "number" || !Number.isInteger(v)) throw bad(what, key, "is not an integer");
  if (v < 0 || v > max) throw bad(what, key, `is out of range: ${v}`);
  return v;
}

/** A Go `bool` field (Go also accepts 0 and 1). */
export function getBool(m: MsgMap, key: string, what: string): boolean {
  const v = m.get(key);
  if (v === undefined || v === null) return false;
  if (typeof v === "boolean") return v;
  if (v === 0 || v === 1) return v === 1;
  throw bad(what, key, "is not a boolean");
}

/** An IP address field: 4 or 16 bytes, or empty when `optional`. */
export function getAddr(m: MsgMap, key: string, what: string, optional: boolean): Uint8Array {
  const b = getBytes(m, key, what);
  if (b.length === IPV4_BYTES || b.length === IPV6_BYTES || (optional && b.length === 0)) return b;
  throw bad(what, key, `has ${b.length} bytes, expected 4 or 16`);
}

/** A `Vsn` field: 6 bytes or empty. */
export function getVsn(m: MsgMap, key: string, what: string): Uint8Array {
  const b = getBytes(m, key, what);
  if (b.length === VSN_LENGTH || b.length === 0) return b;
  throw bad(what, key, `has ${b.length} bytes, expected ${VSN_LENGTH}`);
}

/** A push/pull `State` field. */
export function getState(m: MsgMap, key: string, what: string): WireNodeState {
  const n = getUint(m, key, what, NODE_STATES.length - 1);
  return NODE_STATES[n];
}

/** Checks a uint field of a message being encoded. */
export function checkUint(value: number, max: number, field: string): number {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new RangeError(`Cannot encode field "${field}": ${value} is not an integer in 0..${max}`);
  }
  return value;
}

/** Checks an address of a message being encoded. */
export function checkAddr(value: Uint8Array, field: string, optional: boolean): Uint8Array {
  if (!(value instanceof Uint8Array)) {
    throw new TypeError(`Cannot encode field "${field}": not a Uint8Array`);
  }
  const n = value.length;
  if (n === IPV4_BYTES || n === IPV6_BYTES || (optional && n === 0)) return value;
  throw new RangeError(`Cannot encode field "${field}": ${n} bytes, expected 4 or 16`);
}

/** Checks a byte field of a message being encoded. */
export function checkBytes(value: Uint8Array, field: string, max?: number): Uint8Array {
  if (!(value instanceof Uint8Array)) {
    throw new TypeError(`Cannot encode field "${field}": not a Uint8Array`);
  }
  if (max !== undefined && value.length > max) {
    throw new RangeError(`Cannot encode field "${field}": ${value.length} bytes, at most ${max}`);
  }
  return value;
}

/** Checks a string field of a message being encoded. */
export function checkString(value: string, field: string): string {
  if (typeof value !== "string") {
    throw new TypeError(`Cannot encode field "${field}": not a string`);
  }
  return value;
}

/** Checks a Vsn of a message being encoded: exactly 6 bytes (Go panics on 1–5). */
export function checkVsn(value: Uint8Array, field: string): Uint8Array {
  checkBytes(value, field);
  if (value.length !== VSN_LENGTH) {
    throw new RangeError(
      `Cannot encode field "${field}": ${value.length} bytes, expected ${VSN_LENGTH}`,
    );
  }
  return value;
}
