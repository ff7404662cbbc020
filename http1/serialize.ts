/**
 * The request serializer: a head written exactly as given, and the body's framing
 * (Content-Length, or chunked when streamed without one).
 *
 * @module
 */
import {
  concat,
  CR,
  encoder,
  hasToken,
  isFieldValue,
  isToken,
  lastToken,
  LF,
  writeLatin1,
} from "./_bytes.ts";
import type { Connection } from "./_conn.ts";
import { Http1Error } from "./errors.ts";
import { parseContentLength } from "./head.ts";
import type { Http1RequestInit } from "./types.ts";

const REQUEST_TARGET = /^[\x21-\xff]+$/;
const BODYLESS_METHODS = new Set(["GET", "HEAD", "DELETE", "OPTIONS", "TRACE", "CONNECT"]);
const LAST_CHUNK = encoder.encode("0\r\n\r\n");
/** What follows the request target on the request line. */
const VERSION_LINE = " HTTP/1.1\r\n";
/** A header line's bytes besides name and value: `: ` and CR LF. */
const HEADER_LINE_EXTRA_BYTES = 4;
const SP = 0x20;
const COLON = 0x3a;

/**
 * A checked request head, written byte by byte into each connection's write buffer by
 * {@linkcode encodeRequest} (no head string is built), and what it says about the body.
 */
export interface PreparedHead {
  /** The method. */
  method: string;
  /** The request target. */
  path: string;
  /** The caller's headers, in order. */
  headers: readonly (readonly [string, string])[];
  /** The header lines we add (Host, the body's framing), then the blank line. */
  added: string;
  /** The head's size in bytes (every code point ≤ 0xff is one byte). */
  size: number;
  /** Our `Content-Length` (or the caller's) for the body; -1 when none or chunked. */
  contentLength: number;
  /** The body goes out chunked. */
  chunked: boolean;
  /** The request asked for `Connection: close`. */
  close: boolean;
}

/**
 * Serializes a request head exactly as given: headers in order, repeats kept, names as given;
 * `Host` added when absent, and the body's framing when none is given.
 * @param origin The server (for `Host`).
 * @param init Method, target and headers.
 * @param body The whole body, or `"stream"` for a streamed one.
 * @returns The bytes and the body framing chosen.
 * @throws {TypeError} When the method, target, a header or the framing is not valid to send.
 */
export function prepareHead(
  origin: URL,
  init: Http1RequestInit,
  body: Uint8Array | undefined | "stream",
): PreparedHead {
  const { method, path, headers } = init;
  const check = !init.headersChecked;
  if (!isToken(method)) throw new TypeError(`Invalid method "${method}"`);
  if (!REQUEST_TARGET.test(path)) throw new TypeError(`Invalid request target "${path}"`);
  let size = method.length + 1 + path.length + VERSION_LINE.length;
  let host = false;
  let contentLength = -1;
  let te: string | undefined;
  let close = false;
  for (const [name, value] of headers) {
    if (check) {
      if (!isToken(name)) throw new TypeError(`Invalid header name "${name}"`);
      if (!isFieldValue(value)) throw new TypeError(`Invalid value for header "${name}"`);
    }
    size += name.length + value.length + HEADER_LINE_EXTRA_BYTES;
    switch (name.length) {
      case 4:
        if (name.toLowerCase() === "host") host = true;
        break;
      case 10:
        if (name.toLowerCase() === "connection" && hasToken(value, "close")) close = true;
        break;
      case 14:
        if (name.toLowerCase() === "content-length") {
          const n = parseContentLength(value);
          if (n < 0 || (contentLength >= 0 && n !== contentLength)) {
            throw new TypeError(`Invalid Content-Length "${value}"`);
          }
          contentLength = n;
        }
        break;
      case 17:
        if (name.toLowerCase() === "transfer-encoding") te = te ? `${te}, ${value}` : value;
        break;
    }
  }
  let chunked = false;
  if (te !== undefined) {
    if (contentLength >= 0) {
      throw new TypeError("Cannot send both Content-Length and Transfer-Encoding");
    }
    if (lastToken(te) !== "chunked") {
      throw new TypeError(`Cannot send Transfer-Encoding "${te}": chunked must come last`);
    }
    chunked = true;
  }
  let added = host ? "" : `host: ${origin.host}\r\n`;
  if (body instanceof Uint8Array) {
    if (contentLength >= 0 && contentLength !== body.length) {
      throw new TypeError(
        `Content-Length "${contentLength}" does not match the body's ${body.length} bytes`,
      );
    }
    if (
      contentLength < 0 && !chunked &&
      !(body.length === 0 && BODYLESS_METHODS.has(method.toUpperCase()))
    ) {
      added += `content-length: ${body.length}\r\n`;
      contentLength = body.length;
    }
  } else if (body === "stream" && contentLength < 0 && !chunked) {
    added += "transfer-encoding: chunked\r\n";
    chunked = true;
  }
  added += "\r\n";
  size += added.length;
  return { method, path, headers, added, size, contentLength, chunked, close };
}

/**
 * The head, and a whole body when given (framed as the head says), in one buffer for one write:
 * the connection's write buffer, so nothing is allocated per request.
 * @param conn The connection (its write buffer is used until the write settles).
 * @param prepared The head.
 * @param body The whole body to send with it, if any.
 * @returns The bytes to write.
 */
export function encodeRequest(
  conn: Connection,
  prepared: PreparedHead,
  body?: Uint8Array,
): Uint8Array {
  // A whole body goes out as one chunk and the last chunk when the head says chunked.
  const payload = body && prepared.chunked ? chunkedWhole(body) : body;
  const size = prepared.size + (payload?.length ?? 0);
  const out = conn.writeBuffer(size);
  let at = writeLatin1(prepared.method, out, 0);
  out[at++] = SP;
  at = writeLatin1(prepared.path, out, at);
  at = writeLatin1(VERSION_LINE, out, at);
  for (const [name, value] of prepared.headers) {
    at = writeLatin1(name, out, at);
    out[at++] = COLON;
    out[at++] = SP;
    at = writeLatin1(value, out, at);
    out[at++] = CR;
    out[at++] = LF;
  }
  at = writeLatin1(prepared.added, out, at);
  if (payload) out.set(payload, at);
  return out;
}

/** A whole body as one chunk plus the last chunk. */
export function chunkedWhole(body: Uint8Array): Uint8Array {
  return body.length === 0 ? LAST_CHUNK : concat([chunkOf(body), LAST_CHUNK]);
}

function chunkOf(chunk: Uint8Array): Uint8Array {
  const size = encoder.encode(`${chunk.length.toString(16)}\r\n`);
  const out = new Uint8Array(size.length + chunk.length + 2);
  out.set(size);
  out.set(chunk, size.length);
  out[out.length - 2] = CR;
  out[out.length - 1] = LF;
  return out;
}

/** Writes a streamed body, chunked or checked against its Content-Length. */
export async function writeStream(
  conn: Connection,
  body: AsyncIterable<Uint8Array>,
  prepared: PreparedHead,
): Promise<void> {
  let sent = 0;
  for await (const chunk of body) {
    if (conn.closed) throw new Http1Error("closed", "The connection closed while sending");
    if (chunk.length === 0) continue;
    sent += chunk.length;
    if (prepared.chunked) {
      await conn.writeAll(chunkOf(chunk));
    } else {
      if (sent > prepared.contentLength) {
        throw new TypeError(`The body exceeds its Content-Length "${prepared.contentLength}"`);
      }
      await conn.writeAll(chunk);
    }
  }
  if (prepared.chunked) {
    await conn.writeAll(LAST_CHUNK);
  } else if (sent !== prepared.contentLength) {
    throw new TypeError(`The body ended short of its Content-Length "${prepared.contentLength}"`);
  }
}
