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

/** Characters JSON.stringify escapes in a string: quote, backslash, controls, lone surrogates. */
const JSON_ESCAPED = /["\\\x00-\x1f\ud800-\udfff]/;

/** Delivery ids: short, URL- and key-safe (as the server's queue stores them). */
const DELIVERY_ID = /^[A-Za-z0-9._~-]{1,128}$/;

/**
 * Decodes and validates a request head.
 * @param bytes A HEAD frame payload from the server.
 * @returns The head.
 * @throws {ProtocolError} When it is not valid JSON of the expected shape.
 */
export function decodeRequestHead(bytes: Uint8Array): RequestHead {
  const value = parseJson(bytes, "request head");
  if (!Array.isArray(value) || (value.length < 5 && value.length !== 3) || value.length > 6) {
    throw new ProtocolError(
      "Cannot decode request head: expected [method, target, headers] or [method, target, headers, deliveryId, attempt(, 1 when chained)]",
    );
  }
  const [method, target, headers, id, attempt, chained] = value;
  if (typeof method !== "string" || !TOKEN.test(method)) {
    throw new ProtocolError("Cannot decode request head: invalid method");
  }
  // deno-lint-ignore no-control-regex -- rejecting control characters is the point
  if (typeof target !== "string" || !/^([/?].*)?$/.test(target) || /[\s\x00-\x1f]/.test(target)) {
    throw new ProtocolError(
      "Cannot decode request head: target must be empty or start with / or ?",
    );
  }
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
  return encoder.encode(encodeResponseHeadText(head));
}

/**
 * The JSON text of {@linkcode encodeResponseHead}, for `TunnelStream.sendHead` to encode straight
 * into the outgoing message.
 * @param head The head.
 * @returns JSON text (its UTF-8 bytes are `encodeResponseHead(head)`).
 */
export function encodeResponseHeadText(head: ResponseHead): string {
  const { status, headers } = head;
  if (!Number.isInteger(status)) return JSON.stringify([status, headers]);
  // What JSON.stringify writes, built directly when no string needs escaping (the usual case:
  // header names are tokens, values have no quotes, backslashes or control characters).
  let text = `[${status},[`;
  for (let i = 0; i < headers.length; i++) {
    const [name, value] = headers[i];
    if (JSON_ESCAPED.test(name) || JSON_ESCAPED.test(value)) {
      return JSON.stringify([status, headers]);
    }
    text += i === 0 ? `["${name}","${value}"]` : `,["${name}","${value}"]`;
  }
  return text + "]]";
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

function parseJson(bytes: Uint8Array, what: string): unknown {
  try {
    // Invalid UTF-8 always leaves a U+FFFD: only then is the strict (slow) decoder needed, to
    // tell a real U+FFFD from an error.
    const text = lenientDecoder.decode(bytes);
    return JSON.parse(text.includes("\uFFFD") ? decoder.decode(bytes) : text);
  } catch (cause) {
    throw new ProtocolError(`Cannot decode ${what}: not UTF-8 JSON`, { cause });
  }
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
