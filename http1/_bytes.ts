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
/** Horizontal tab. */
const HTAB = 0x09;
/** Space. */
const SP = 0x20;
/** Delete, the one control character above the printable ASCII range. */
const DEL = 0x7f;
/** The largest code point of a latin1 string. */
const LATIN1_MAX = 0xff;

/** `TOKEN_CHARS[c]` is 1 for the RFC 9110 token characters (header names, methods). */
const TOKEN_CHARS: Uint8Array = new Uint8Array(LATIN1_MAX + 1);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") {
  TOKEN_CHARS[c.charCodeAt(0)] = 1;
}

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

/**
 * Whether `s.slice(from, to)` is an RFC 9110 token (a header name or a method): one or more of
 * ``!#$%&'*+-.^_`|~``, digits and letters.
 */
export function isToken(s: string, from = 0, to: number = s.length): boolean {
  if (from >= to) return false;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c > LATIN1_MAX || TOKEN_CHARS[c] === 0) return false;
  }
  return true;
}

/**
 * Whether `s.slice(from, to)` is a valid header value: tabs, spaces, visible ASCII and obs-text
 * (0x80-0xff); never CR, LF, NUL or another control character.
 */
export function isFieldValue(s: string, from = 0, to: number = s.length): boolean {
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if ((c < SP && c !== HTAB) || c === DEL || c > LATIN1_MAX) return false;
  }
  return true;
}

/** Whether the char code is optional whitespace (space or tab). */
export function isOws(c: number): boolean {
  return c === SP || c === HTAB;
}

/** Strips optional whitespace (spaces and tabs) at both ends. */
export function trimOws(s: string): string {
  let from = 0;
  let to = s.length;
  while (from < to && isOws(s.charCodeAt(from))) from++;
  while (to > from && isOws(s.charCodeAt(to - 1))) to--;
  return from === 0 && to === s.length ? s : s.slice(from, to);
}

/** Drops one trailing CR. */
export function stripCr(line: string): string {
  return line.endsWith("\r") ? line.slice(0, -1) : line;
}

/**
 * Writes a string of code points ≤ 0xff one byte each into `out` at `offset` (a loop: for the
 * short pieces of a head it beats building one string to encode).
 * @returns The offset just past them.
 */
export function writeLatin1(s: string, out: Uint8Array, offset: number): number {
  const n = s.length;
  for (let i = 0; i < n; i++) out[offset + i] = s.charCodeAt(i);
  return offset + n;
}

/** Decodes bytes one code point each (header bytes survive unchanged). */
export function decodeLatin1(bytes: Uint8Array): string {
  // The native UTF-8 decoder gives the same string for ASCII, and for ASCII only: any other byte
  // either joins a multi-byte sequence (the string comes out shorter) or decodes to U+FFFD.
  const text = decoder.decode(bytes);
  if (text.length === bytes.length && !text.includes("\uFFFD")) return text;
  let s = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    s += String.fromCharCode(...bytes.subarray(i, i + 8192));
  }
  return s;
}
