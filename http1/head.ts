/**
 * The strict (RFC 9112) response head parser: status line, then header lines kept as raw pairs
 * in the order received. A malformed line is an error, never skipped: a header we cannot read
 * might be the one that frames the body.
 *
 * @module
 */
import {
  CR,
  decodeLatin1,
  hasToken,
  isFieldValue,
  isOws,
  isToken,
  LF,
  stripCr,
  trimOws,
} from "./_bytes.ts";
import { Http1Error } from "./errors.ts";

/** Largest response head (status line and headers) or trailer section accepted, in bytes. */
export const MAX_HEAD_BYTES = 64 * 1024;
/** Content-Length values beyond Number.MAX_SAFE_INTEGER lose precision: 15 digits at most. */
const MAX_CONTENT_LENGTH_DIGITS = 15;

const HTTP_1_PREFIX = "HTTP/1.";
const DIGIT_0 = 0x30;
const DIGIT_1 = 0x31;
const DIGIT_9 = 0x39;
/** The status code's base. */
const DECIMAL = 10;
const SP = 0x20;

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

/** `HTTP/1.` and a minor version digit, space, three status digits: the shortest status line. */
const STATUS_LINE_MIN = "HTTP/1.x 200".length;
/** Where the status code starts in the status line. */
const STATUS_AT = "HTTP/1.x ".length;

/**
 * Parses a whole response head (byte by byte, no regular expressions: this runs once per
 * forwarded request).
 * @param bytes The head, up to and including its blank line.
 * @returns Status, raw header pairs and what frames the body.
 * @throws {Http1Error} `protocol` for a bad status line, header line or Content-Length.
 */
export function parseResponseHead(bytes: Uint8Array): ResponseHead {
  const text = decodeLatin1(bytes);
  let lf = text.indexOf("\n");
  if (lf < 0) lf = text.length;
  const line0 = stripCr(text.slice(0, lf));
  const status = parseStatusLine(line0);
  let keepAlive = line0.charCodeAt(STATUS_AT - 2) === DIGIT_1;
  const headers: [string, string][] = [];
  let contentLength = -1;
  let transferEncoding: string | undefined;
  for (let start = lf + 1; start < text.length; start = lf + 1) {
    lf = text.indexOf("\n", start);
    if (lf < 0) lf = text.length;
    // One CR before the LF belongs to the line ending.
    const end = lf > start && text.charCodeAt(lf - 1) === CR ? lf - 1 : lf;
    if (end === start) break;
    const field = headerField(text, start, end);
    if (typeof field === "string") {
      throw new Http1Error(
        "protocol",
        field === "line"
          ? `Invalid header line "${text.slice(start, Math.min(end, start + 64))}"`
          : `Invalid value for header "${text.slice(start, text.indexOf(":", start))}"`,
      );
    }
    const [name, value] = field;
    headers.push(field);
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
  const statusText = line0.length > STATUS_LINE_MIN ? line0.slice(STATUS_LINE_MIN + 1) : "";
  return { status, statusText, headers, keepAlive, contentLength, transferEncoding };
}

/**
 * The header field on line `text[start, end)` (its line ending excluded): `[name, value]`, the
 * name as sent and the optional whitespace around the value dropped; or which part is invalid
 * (`"line"`: no colon or a name that is no token, which includes a folded line and a space before
 * the colon; `"value"`: a control character in the value). Read in place, without a regex.
 */
export function headerField(
  text: string,
  start: number,
  end: number,
): [string, string] | "line" | "value" {
  const colon = text.indexOf(":", start);
  if (colon <= start || colon >= end || !isToken(text, start, colon)) return "line";
  let from = colon + 1;
  let to = end;
  while (from < to && isOws(text.charCodeAt(from))) from++;
  while (to > from && isOws(text.charCodeAt(to - 1))) to--;
  if (!isFieldValue(text, from, to)) return "value";
  return [text.slice(start, colon), text.slice(from, to)];
}

/**
 * Checks a status line (`HTTP/1.0` or `HTTP/1.1`, a space, three digits, then nothing or a
 * space and a reason phrase without CR) and returns its status code.
 */
function parseStatusLine(line: string): number {
  let ok = line.length >= STATUS_LINE_MIN && line.startsWith(HTTP_1_PREFIX) &&
    (line.charCodeAt(STATUS_AT - 2) === DIGIT_0 || line.charCodeAt(STATUS_AT - 2) === DIGIT_1) &&
    line.charCodeAt(STATUS_AT - 1) === SP &&
    (line.length === STATUS_LINE_MIN || line.charCodeAt(STATUS_LINE_MIN) === SP);
  let status = 0;
  for (let i = STATUS_AT; ok && i < STATUS_LINE_MIN; i++) {
    const c = line.charCodeAt(i);
    if (c < DIGIT_0 || c > DIGIT_9) ok = false;
    status = status * DECIMAL + (c - DIGIT_0);
  }
  if (ok && line.indexOf("\r", STATUS_LINE_MIN) >= 0) ok = false;
  if (!ok) throw new Http1Error("protocol", `Invalid status line "${line.slice(0, 64)}"`);
  if (status < 100) throw new Http1Error("protocol", `Invalid status ${status}`);
  return status;
}

/**
 * Parses a Content-Length value (a list of identical values is allowed).
 * @param value The header value.
 * @returns The length, or -1 if invalid.
 */
export function parseContentLength(value: string): number {
  if (value.length <= MAX_CONTENT_LENGTH_DIGITS && isDigits(value)) return Number(value);
  let result = -1;
  for (const part of value.split(",")) {
    const v = trimOws(part);
    if (!isDigits(v) || v.length > MAX_CONTENT_LENGTH_DIGITS) return -1;
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
    if (n === name || (n.length === name.length && n.toLowerCase() === name)) {
      value = value === undefined ? v : `${value}, ${v}`;
    }
  }
  return value;
}

/** Whether `s` is one or more ASCII digits. */
function isDigits(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < DIGIT_0 || c > DIGIT_9) return false;
  }
  return true;
}
