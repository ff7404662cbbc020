/**
 * Byte and token helpers shared by the head parser, the serializer and the body reader.
 *
 * @module
 */

/** Line feed. */
export const LF = 10;
/** Carriage return. */
export const CR = 13;
/** An empty body. */
export const EMPTY: Uint8Array = new Uint8Array(0);
/** UTF-8 encoder (ASCII-only text is encoded through it: faster than a latin1 loop). */
export const encoder: TextEncoder = new TextEncoder();
const decoder = new TextDecoder();
const NON_ASCII = /[\x80-\xff]/;

/**
 * Joins byte arrays into one; a single piece is returned as it is (no copy).
 *
 * @param pieces The arrays, in order.
 * @param total Their summed length, when the caller has counted it already.
 * @returns The joined bytes.
 *
 * @example
 * ```ts
 * import { concat } from "./mod.ts";
 * concat([new Uint8Array([1]), new Uint8Array([2, 3])]); // Uint8Array [1, 2, 3]
 * ```
 */
export function concat(pieces: readonly Uint8Array[], total?: number): Uint8Array {
  if (pieces.length === 1) return pieces[0];
  let length = total ?? 0;
  if (total === undefined) { for (const p of pieces) length += p.length; }
  const out = new Uint8Array(length);
  let off = 0;
  for (const p of pieces) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** Whether the comma-separated `list` holds `token` (case-insensitive). */
export function hasToken(list: string, token: string): boolean {
  for (const part of list.split(",")) {
    if (trimOws(part).toLowerCase() === token) return true;
  }
  return false;
}

/** The last token of a comma-separated list, lower-cased. */
export function lastToken(list: string): string {
  const parts = list.split(",");
  return trimOws(parts[parts.length - 1]).toLowerCase();
}

/** Strips optional whitespace (spaces and tabs) at both ends. */
export function trimOws(s: string): string {
  return s.replace(/^[ \t]+|[ \t]+$/g, "");
}

/** Drops one trailing CR. */
export function stripCr(line: string): string {
  return line.endsWith("\r") ? line.slice(0, -1) : line;
}

/** Encodes a string of code points ≤ 0xff one byte each. */
export function encodeLatin1(s: string): Uint8Array {
  if (!NON_ASCII.test(s)) return encoder.encode(s);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/** Decodes bytes one code point each (header bytes survive unchanged). */
export function decodeLatin1(bytes: Uint8Array): string {
  let ascii = true;
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] > 0x7f) {
      ascii = false;
      break;
    }
  }
  if (ascii) return decoder.decode(bytes);
  let s = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    s += String.fromCharCode(...bytes.subarray(i, i + 8192));
  }
  return s;
}
