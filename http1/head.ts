/**
 * The strict (RFC 9112) response head parser: status line, then header lines kept as raw pairs
 * in the order received. A malformed line is an error, never skipped: a header we cannot read
 * might be the one that frames the body.
 *
 * @module
 */
import { decodeLatin1, hasToken, LF, stripCr, trimOws } from "./_bytes.ts";
import { Http1Error } from "./errors.ts";

/** Largest response head (status line and headers) or trailer section accepted, in bytes. */
export const MAX_HEAD_BYTES = 64 * 1024;
/** Content-Length values beyond Number.MAX_SAFE_INTEGER lose precision: 15 digits at most. */
const MAX_CONTENT_LENGTH_DIGITS = 15;

/** A header name (RFC 9110 token). */
export const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** A header value: visible latin1 characters, spaces and tabs. */
export const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const STATUS_LINE = /^HTTP\/1\.([01]) (\d{3})(?: ([^\r\n]*))?$/;

/** A parsed response head. */
export interface ResponseHead {
  /** Status code. */
  status: number;
  /** Reason phrase as sent (may be empty). */
  statusText: string;
  /** Header pairs in the order received, repeats kept, names as sent. */
  headers: [string, string][];
  /** HTTP/1.1 without `Connection: close`. */
  keepAlive: boolean;
  /** The `Content-Length`, or -1 when absent. */
  contentLength: number;
  /** Combined Transfer-Encoding values, when present. */
  transferEncoding: string | undefined;
}

/**
 * Finds the blank line that ends a head.
 * @param buf Bytes received.
 * @param from Where to start looking.
 * @param to End of the received bytes.
 * @returns The index just past the blank line in `buf[from, to)`, or -1.
 */
export function findHeadEnd(buf: Uint8Array, from: number, to: number): number {
  let i = from;
  for (;;) {
    const lf = buf.indexOf(LF, i);
    if (lf < 0 || lf >= to) return -1;
    if (lf + 1 < to && buf[lf + 1] === LF) return lf + 2;
    if (lf + 2 < to && buf[lf + 1] === 13 && buf[lf + 2] === LF) return lf + 3;
    i = lf + 1;
  }
}

/**
 * Parses a whole response head.
 * @param bytes The head, up to and including its blank line.
 * @returns Status, raw header pairs and what frames the body.
 * @throws {Http1Error} `protocol` for a bad status line, header line or Content-Length.
 */
export function parseResponseHead(bytes: Uint8Array): ResponseHead {
  const text = decodeLatin1(bytes);
  const lines = text.split("\n");
  const line0 = stripCr(lines[0]);
  const m = STATUS_LINE.exec(line0);
  if (!m) throw new Http1Error("protocol", `Invalid status line "${line0.slice(0, 64)}"`);
  const status = Number(m[2]);
  if (status < 100) throw new Http1Error("protocol", `Invalid status ${status}`);
  let keepAlive = m[1] === "1";
  const headers: [string, string][] = [];
  let contentLength = -1;
  let transferEncoding: string | undefined;
  for (let i = 1; i < lines.length; i++) {
    const line = stripCr(lines[i]);
    if (line === "") break;
    const colon = line.indexOf(":");
    const name = colon > 0 ? line.slice(0, colon) : "";
    if (!TOKEN.test(name)) {
      throw new Http1Error("protocol", `Invalid header line "${line.slice(0, 64)}"`);
    }
    const value = trimOws(line.slice(colon + 1));
    if (!FIELD_VALUE.test(value)) {
      throw new Http1Error("protocol", `Invalid value for header "${name}"`);
    }
    headers.push([name, value]);
    switch (name.length) {
      case 10:
        if (name.toLowerCase() === "connection" && hasToken(value, "close")) keepAlive = false;
        break;
      case 14:
        if (name.toLowerCase() === "content-length") {
          const n = parseContentLength(value);
          if (n < 0 || (contentLength >= 0 && n !== contentLength)) {
            throw new Http1Error("protocol", `Invalid Content-Length "${value}"`);
          }
          contentLength = n;
        }
        break;
      case 17:
        if (name.toLowerCase() === "transfer-encoding") {
          transferEncoding = transferEncoding === undefined
            ? value
            : `${transferEncoding}, ${value}`;
        }
        break;
    }
  }
  return { status, statusText: m[3] ?? "", headers, keepAlive, contentLength, transferEncoding };
}

/**
 * Parses a Content-Length value (a list of identical values is allowed).
 * @param value The header value.
 * @returns The length, or -1 if invalid.
 */
export function parseContentLength(value: string): number {
  let result = -1;
  for (const part of value.split(",")) {
    const v = trimOws(part);
    if (!/^\d+$/.test(v) || v.length > MAX_CONTENT_LENGTH_DIGITS) return -1;
    const n = Number(v);
    if (result >= 0 && n !== result) return -1;
    result = n;
  }
  return result;
}

/**
 * One header's value, repeats joined with ", " (RFC 9110 §5.3).
 * @param headers Raw header pairs.
 * @param name The header name, lower-case.
 * @returns The combined value, or `undefined` when absent.
 */
export function headerValue(
  headers: readonly (readonly [string, string])[],
  name: string,
): string | undefined {
  let value: string | undefined;
  for (const [n, v] of headers) {
    if (n.length === name.length && n.toLowerCase() === name) {
      value = value === undefined ? v : `${value}, ${v}`;
    }
  }
  return value;
}
