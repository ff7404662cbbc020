/**
 * Request and response heads, the first frame of each direction of a stream. Headers travel as a
 * list of `[name, value]` pairs so that repeated headers (two `Set-Cookie`) stay separate.
 *
 * @module
 */
import { ProtocolError } from "./errors.ts";
import { RESET_CODES, type ResetCode } from "./wire.ts";

/** A header list: ordered `[name, value]` pairs, names lower-case. */
export type HeaderList = [string, string][];

/** What the server sends the client to open a stream. */
export interface RequestHead {
  /** HTTP method, e.g. `POST`. */
  method: string;
  /** Path suffix and query after the channel id: empty, or starting with `/` or `?` (`/gh?x=1`). */
  target: string;
  /** End-to-end headers, including the added `X-Forwarded-*`. */
  headers: HeaderList;
  /**
   * Set on a delivery from the server's queue (sent only to clients that asked for queueing
   * with `X-Wow-Offline`): its stable id and which hand-out this is (1 the first time). The
   * client answers it with an ACK or NACK frame (`protocol/queued.ts`).
   */
  delivery?: QueuedDeliveryInfo;
}

/** The queue fields of a {@linkcode RequestHead}. */
export interface QueuedDeliveryInfo {
  /** Stable delivery id, the same on every redelivery. */
  id: string;
  /** Hand-out count, 1 on the first delivery. */
  attempt: number;
  /**
   * Set (only for clients that negotiated a window, see `QUEUE_WINDOW_HEADER`) when the server
   * sent this delivery behind an earlier one still unanswered: the client delivers it only if
   * the queued delivery before it was acked, and otherwise NACKs it (`skipped`) unsent, so a
   * failure never lets a later delivery overtake the one the server will re-send.
   */
  chained?: boolean;
}

/** What the client sends back once the local app answered. */
export interface ResponseHead {
  /** HTTP status (200–599). */
  status: number;
  /** End-to-end response headers. */
  headers: HeaderList;
}

/** Payload of a RESET frame. */
export interface ResetInfo {
  /** Why the stream was reset. */
  code: ResetCode;
  /** Human-readable detail. */
  message: string;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });
/** Replaces invalid UTF-8 with U+FFFD: Deno decodes with it several times faster than fatally. */
const lenientDecoder = new TextDecoder();

// RFC 9110 token characters, for methods and header names.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// Header values: visible characters, spaces, tabs and obs-text; never CR, LF or NUL.
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/**
 * Encodes a request head as JSON bytes.
 * @param head The head.
 * @returns UTF-8 JSON.
 */
export function encodeRequestHead(head: RequestHead): Uint8Array {
  return encoder.encode(JSON.stringify(
    head.delivery
      ? [
        head.method,
        head.target,
        head.headers,
        head.delivery.id,
        head.delivery.attempt,
        ...(head.delivery.chained ? [1] : []),
      ]
      : [head.method, head.target, head.headers],
  ));
}

/** Delivery ids: short, URL- and key-safe (as the server's queue stores them). */
const DELIVERY_ID = /^[A-Za-z0-9._~-]{1,128}$/;

/**
 * Decodes and validates a request head.
 * @param bytes A HEAD frame payload from the server.
 * @returns The head.
 * @throws {ProtocolError} When it is not valid JSON of the expected shape.
 */
export function decodeRequestHead(bytes: Uint8Array): RequestHead {
  const text = decodeUtf8(bytes, "request head");
  const plain = decodePlainRequestHead(text);
  if (plain) return plain;
  const value = parseJsonText(text, "request head");
  if (!Array.isArray(value) || (value.length < 5 && value.length !== 3) || value.length > 6) {
    throw new ProtocolError(
      "Cannot decode request head: expected [method, target, headers] or [method, target, headers, deliveryId, attempt(, 1 when chained)]",
    );
  }
  const [method, target, headers, id, attempt, chained] = value;
  checkMethodAndTarget(method, target);
  const head: RequestHead = { method, target, headers: checkHeaders(headers, "request head") };
  if (value.length >= 5) {
    if (typeof id !== "string" || !DELIVERY_ID.test(id)) {
      throw new ProtocolError("Cannot decode request head: invalid delivery id");
    }
    if (!Number.isInteger(attempt) || attempt < 1) {
      throw new ProtocolError("Cannot decode request head: attempt must be an integer ≥ 1");
    }
    head.delivery = { id, attempt };
    if (value.length === 6) {
      if (chained !== 1) throw new ProtocolError("Cannot decode request head: chained must be 1");
      head.delivery.chained = true;
    }
  }
  return head;
}

/**
 * Encodes a response head as JSON bytes.
 * @param head The head.
 * @returns UTF-8 JSON.
 */
export function encodeResponseHead(head: ResponseHead): Uint8Array {
  return encoder.encode(JSON.stringify([head.status, head.headers]));
}

/** Bytes of `writeResponseHead`'s output besides its strings: `[`, status, `,[`, `]]`. */
const RESPONSE_HEAD_FIXED_BYTES = 32;
/** Bytes around one header pair: `,["` `","` `"]`. */
const PAIR_FIXED_BYTES = 8;
/** UTF-8 bytes of a code point below U+0800 at most (the only ones writeResponseHead writes). */
const MAX_BYTES_PER_UNIT = 2;

/**
 * The most bytes {@linkcode writeResponseHead} writes for `head`.
 * @param head The head.
 * @returns An upper bound of the size of `encodeResponseHead(head)` when written directly.
 */
export function responseHeadBound(head: ResponseHead): number {
  let bound = RESPONSE_HEAD_FIXED_BYTES;
  for (const [name, value] of head.headers) {
    bound += MAX_BYTES_PER_UNIT * (name.length + value.length) + PAIR_FIXED_BYTES;
  }
  return bound;
}

/**
 * Writes the bytes of {@linkcode encodeResponseHead} straight into `out` (no JSON text, no
 * encoder): what JSON.stringify and UTF-8 give, for an integer status and strings that need no
 * JSON escaping and hold only code points below U+0800 (header values are latin1).
 *
 * @param head The head.
 * @param out Where to write; room for {@linkcode responseHeadBound} bytes from `offset`.
 * @param offset Where to start.
 * @returns The offset just past the head, or -1 when the head needs the general encoder
 *   ({@linkcode encodeResponseHead}); `out` may then hold partial output.
 */
export function writeResponseHead(head: ResponseHead, out: Uint8Array, offset: number): number {
  const { status, headers } = head;
  if (!Number.isSafeInteger(status)) return -1;
  let at = offset;
  out[at++] = OPEN_BRACKET;
  at = writeJsonString(String(status), out, at);
  out[at++] = COMMA;
  out[at++] = OPEN_BRACKET;
  for (let i = 0; i < headers.length && at >= 0; i++) {
    const [name, value] = headers[i];
    if (i > 0) out[at++] = COMMA;
    out[at++] = OPEN_BRACKET;
    out[at++] = QUOTE;
    at = writeJsonString(name, out, at);
    if (at < 0) break;
    out[at++] = QUOTE;
    out[at++] = COMMA;
    out[at++] = QUOTE;
    at = writeJsonString(value, out, at);
    if (at < 0) break;
    out[at++] = QUOTE;
    out[at++] = CLOSE_BRACKET;
  }
  if (at < 0) return -1;
  out[at++] = CLOSE_BRACKET;
  out[at++] = CLOSE_BRACKET;
  return at;
}

const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COMMA = 0x2c;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
/** Below this, JSON escapes a character. */
const JSON_CONTROL_END = 0x20;
const UTF8_ONE_BYTE_END = 0x80;
const UTF8_TWO_BYTES_END = 0x800;
const UTF8_LEAD_TWO = 0xc0;
const UTF8_CONTINUATION = 0x80;
const UTF8_SIX_BITS = 0x3f;

/**
 * Writes a string's characters as they appear inside a JSON string, UTF-8 encoded.
 * @returns The offset just past them, or -1 when one needs escaping or three UTF-8 bytes.
 */
function writeJsonString(s: string, out: Uint8Array, offset: number): number {
  let at = offset;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < UTF8_ONE_BYTE_END) {
      if (c < JSON_CONTROL_END || c === QUOTE || c === BACKSLASH) return -1;
      out[at++] = c;
    } else if (c < UTF8_TWO_BYTES_END) {
      out[at++] = UTF8_LEAD_TWO | (c >> 6);
      out[at++] = UTF8_CONTINUATION | (c & UTF8_SIX_BITS);
    } else {
      return -1;
    }
  }
  return at;
}

/**
 * Decodes and validates a response head.
 * @param bytes A HEAD frame payload from the client.
 * @returns The head.
 * @throws {ProtocolError} When it is not valid JSON of the expected shape.
 */
export function decodeResponseHead(bytes: Uint8Array): ResponseHead {
  const value = parseJson(bytes, "response head");
  if (!Array.isArray(value) || value.length !== 2) {
    throw new ProtocolError("Cannot decode response head: expected [status, headers]");
  }
  const [status, headers] = value;
  if (!Number.isInteger(status) || status < 200 || status > 599) {
    throw new ProtocolError("Cannot decode response head: status must be an integer 200-599");
  }
  return { status, headers: checkHeaders(headers, "response head") };
}

/**
 * Encodes a RESET payload.
 * @param info Code and message.
 * @returns UTF-8 JSON.
 */
export function encodeReset(info: ResetInfo): Uint8Array {
  // 512 UTF-16 units take at most 6 bytes each as JSON (`\u0001`), so the payload always stays
  // within the 4096-byte RESET frame limit of decodeFrames.
  return encoder.encode(JSON.stringify([info.code, info.message.slice(0, 512)]));
}

/**
 * Decodes a RESET payload.
 * @param bytes The payload.
 * @returns Code and message.
 * @throws {ProtocolError} When the payload is malformed or the code unknown.
 */
export function decodeReset(bytes: Uint8Array): ResetInfo {
  const value = parseJson(bytes, "reset");
  if (
    !Array.isArray(value) || value.length !== 2 || !RESET_CODES.includes(value[0]) ||
    typeof value[1] !== "string"
  ) {
    throw new ProtocolError("Cannot decode reset: expected [known code, message]");
  }
  return { code: value[0], message: value[1] };
}

function checkMethodAndTarget(method: unknown, target: unknown): void {
  if (typeof method !== "string" || !TOKEN.test(method)) {
    throw new ProtocolError("Cannot decode request head: invalid method");
  }
  // deno-lint-ignore no-control-regex -- rejecting control characters is the point
  if (typeof target !== "string" || !/^([/?].*)?$/.test(target) || /[\s\x00-\x1f]/.test(target)) {
    throw new ProtocolError(
      "Cannot decode request head: target must be empty or start with / or ?",
    );
  }
}

/**
 * A request head as the server writes it, `["M","/t",[["n","v"],…]]` without whitespace, escapes,
 * control characters or anything beyond ASCII, decoded without JSON.parse (the usual case), and
 * checked as {@linkcode decodeRequestHead} checks it: its values need no check (printable
 * ASCII). Anything else (a queued delivery's fields, escapes, spacing…) is left to JSON.parse.
 * @returns The head, or undefined when the text is not in that form.
 * @throws {ProtocolError} As decodeRequestHead, for an invalid method, target or header name.
 */
function decodePlainRequestHead(text: string): RequestHead | undefined {
  if (NOT_PLAIN.test(text) || !text.startsWith(`["`)) return undefined;
  const methodEnd = text.indexOf(`"`, 2);
  if (methodEnd < 0 || !text.startsWith(`","`, methodEnd)) return undefined;
  const targetEnd = text.indexOf(`"`, methodEnd + 3);
  if (targetEnd < 0 || !text.startsWith(`",[`, targetEnd)) return undefined;
  const headers: HeaderList = [];
  let at = targetEnd + 3;
  if (text.charCodeAt(at) === CLOSE_BRACKET) {
    at++;
  } else {
    for (;;) {
      if (!text.startsWith(`["`, at)) return undefined;
      const nameEnd = text.indexOf(`"`, at + 2);
      if (nameEnd < 0 || !text.startsWith(`","`, nameEnd)) return undefined;
      const valueEnd = text.indexOf(`"`, nameEnd + 3);
      if (valueEnd < 0 || !text.startsWith(`"]`, valueEnd)) return undefined;
      headers.push([text.slice(at + 2, nameEnd), text.slice(nameEnd + 3, valueEnd)]);
      at = valueEnd + 2;
      if (text.charCodeAt(at) === COMMA) {
        at++;
      } else if (text.charCodeAt(at) === CLOSE_BRACKET) {
        at++;
        break;
      } else {
        return undefined;
      }
    }
  }
  if (at !== text.length - 1 || text.charCodeAt(at) !== CLOSE_BRACKET) return undefined;
  const method = text.slice(2, methodEnd);
  const target = text.slice(methodEnd + 3, targetEnd);
  checkMethodAndTarget(method, target);
  for (const [name] of headers) {
    if (!TOKEN.test(name)) {
      throw new ProtocolError(
        "Cannot decode request head: each header must be a valid [name, value]",
      );
    }
  }
  return { method, target, headers };
}

/**
 * What keeps a request head text off the plain path: a backslash (an escape), a control
 * character (invalid raw in JSON) or anything beyond printable ASCII.
 */
// deno-lint-ignore no-control-regex -- control characters are what this finds
const NOT_PLAIN = /[\x00-\x1f\\\x7f-\uffff]/;

/**
 * UTF-8 text of a payload. Invalid UTF-8 always leaves a U+FFFD: only then is the strict (slow)
 * decoder needed, to tell a real U+FFFD from an error.
 */
function decodeUtf8(bytes: Uint8Array, what: string): string {
  const text = lenientDecoder.decode(bytes);
  if (!text.includes("\uFFFD")) return text;
  try {
    return decoder.decode(bytes);
  } catch (cause) {
    throw new ProtocolError(`Cannot decode ${what}: not UTF-8 JSON`, { cause });
  }
}

function parseJsonText(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new ProtocolError(`Cannot decode ${what}: not UTF-8 JSON`, { cause });
  }
}

function parseJson(bytes: Uint8Array, what: string): unknown {
  return parseJsonText(decodeUtf8(bytes, what), what);
}

function checkHeaders(value: unknown, what: string): HeaderList {
  if (!Array.isArray(value)) {
    throw new ProtocolError(`Cannot decode ${what}: headers must be a list`);
  }
  for (const pair of value) {
    if (
      !Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== "string" ||
      typeof pair[1] !== "string" || !TOKEN.test(pair[0]) || !FIELD_VALUE.test(pair[1])
    ) {
      throw new ProtocolError(`Cannot decode ${what}: each header must be a valid [name, value]`);
    }
  }
  return value as HeaderList;
}
