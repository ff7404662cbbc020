/**
 * Reading one response off a connection that is not pooled (the answer to a WebSocket upgrade):
 * the same strict head parser and body framing as {@linkcode Http1Client}, and the bytes that
 * followed the head handed back to the caller (for a 101, the start of the new protocol).
 *
 * @module
 */
import { Connection, readHead } from "./_conn.ts";
import { bodyFraming, type BodyOwner, Http1Body } from "./body.ts";
import type { ByteConn } from "./byte_conn.ts";
import { MAX_HEAD_BYTES } from "./head.ts";
import type { Http1Response } from "./types.ts";

/** Options for {@linkcode readResponse}. */
export interface ReadResponseOptions {
  /**
   * Largest head accepted, in bytes.
   * @default {65536}
   */
  maxHeadBytes?: number;
  /**
   * The request's method (a HEAD answer has no body).
   * @default {"GET"}
   */
  method?: string;
}

/** A response read by {@linkcode readResponse}. */
export interface RawResponse extends Http1Response {
  /**
   * The bytes received after the head and not consumed by the body: for a 1xx answer (whose
   * body is empty), what the server sent next. A view into the read buffer: copy it.
   * @returns The bytes.
   */
  rest(): Uint8Array;
}

/** Not pooled: nothing to release, errors passed on as they are. */
const UNPOOLED: BodyOwner = {
  _maybeRelease() {},
  _mapError: (_conn, error) => error,
};

/**
 * Reads one response head from `conn` and frames its body (none for a 1xx answer). Closing
 * `conn` stays the caller's job; a body read that fails closes it.
 *
 * @param conn The connection, the request already written.
 * @param options Head size limit and the request's method.
 * @returns Status, raw header pairs, the body and the bytes after the head.
 * @throws {Http1Error} `protocol` for an invalid or oversized head, `closed` when the
 *   connection fails (the I/O error as `cause`) or ends first.
 *
 * @example
 * ```ts ignore
 * const response = await readResponse(conn, { maxHeadBytes: 16 * 1024 });
 * if (response.status === 101) startFraming(response.rest());
 * ```
 */
export async function readResponse(
  conn: ByteConn,
  options: ReadResponseOptions = {},
): Promise<RawResponse> {
  const maxHeadBytes = options.maxHeadBytes ?? MAX_HEAD_BYTES;
  const c = new Connection(conn, "", maxHeadBytes + 1024);
  const head = await readHead(c, maxHeadBytes);
  const { framing, length } = head.status < 200
    ? { framing: "none" as const, length: 0 }
    : bodyFraming(head, options.method ?? "GET");
  return {
    status: head.status,
    statusText: head.statusText,
    headers: head.headers,
    body: new Http1Body(UNPOOLED, c, framing, length),
    rest: () => c.buf.subarray(c.start, c.end),
  };
}
