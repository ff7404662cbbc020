/**
 * Response bodies: how one is framed (RFC 9112 §6.3), and reading it (Content-Length, chunked,
 * or until close) only as fast as it is consumed, bytes passed through undecoded.
 *
 * @module
 */
import { concat, CR, EMPTY, lastToken, LF } from "./_bytes.ts";
import type { Connection } from "./_conn.ts";
import { Http1Error } from "./errors.ts";
import { MAX_HEAD_BYTES, type ResponseHead } from "./head.ts";

/** A Content-Length body with at least this much due is read without the connection's buffer. */
const DIRECT_READ_MIN_BYTES = 16 * 1024;
/** Largest chunk read straight from the socket (the tunnel's frame size). */
const DIRECT_READ_MAX_BYTES = 64 * 1024;
/** A direct read that filled less than 1/this of its chunk is copied into one of its own size. */
const SHORT_READ_SHARE = 4;
/** Largest chunk-size line (size plus extensions) accepted, in bytes. */
const MAX_CHUNK_LINE_BYTES = 4 * 1024;
/** Chunk sizes above 2^48 cannot be real and would lose precision: 12 hex digits at most. */
const MAX_CHUNK_SIZE_DIGITS = 12;

/** How a body is delimited. */
export type Framing = "none" | "length" | "chunked" | "close";

/**
 * @internal What a body tells the owner of its connection: the pool returns a finished
 * connection to the pool and maps failures to {@linkcode Http1Error}s.
 */
export interface BodyOwner {
  /** Called once the body is read whole (the connection may be reused). */
  _maybeRelease(conn: Connection): void;
  /** Maps an I/O or parse failure to the error thrown to the reader. */
  _mapError(conn: Connection, error: unknown): unknown;
}

/**
 * Body framing per RFC 9112 §6.3.
 * @param head The response head.
 * @param method The request's method (a HEAD answer has no body).
 * @returns How the body is delimited, and its length when `length`.
 * @throws {Http1Error} `protocol` when both Content-Length and Transfer-Encoding are present.
 */
export function bodyFraming(
  head: ResponseHead,
  method: string,
): { framing: Framing; length: number } {
  // 205 Reset Content has no content either (RFC 9110 §15.3.6), whatever a sloppy server sends.
  if (method === "HEAD" || head.status === 204 || head.status === 205 || head.status === 304) {
    return { framing: "none", length: 0 };
  }
  if (head.transferEncoding !== undefined) {
    if (head.contentLength >= 0) {
      throw new Http1Error(
        "protocol",
        "The response has both Content-Length and Transfer-Encoding",
      );
    }
    if (lastToken(head.transferEncoding) === "chunked") return { framing: "chunked", length: 0 };
    return { framing: "close", length: 0 };
  }
  if (head.contentLength >= 0) return { framing: "length", length: head.contentLength };
  return { framing: "close", length: 0 };
}

/**
 * A response body: an async iterable of chunks (fresh arrays, safe to keep) read from the socket
 * only as fast as it is consumed.
 */
export class Http1Body implements AsyncIterable<Uint8Array> {
  #conn: Connection;
  #framing: Framing;
  #client: BodyOwner;
  #remaining: number;
  #chunkState: "size" | "data" | "crlf" | "trailers" = "size";
  #trailerBytes = 0;
  #done = false;
  #touched = false;
  #strict: boolean;

  /**
   * @internal
   * @param options `strict`: chunk-size lines and chunk data must end in CRLF, and a size line
   * holds no other CR (RFC 9112 §7.1), as a server reading requests demands: a bare LF or CR is
   * where a proxy in front and the server can disagree on where a chunk ends (request smuggling,
   * CVE-2025-22871 in Go). Responses are read leniently (a sloppy app's bare LF). @default false
   */
  constructor(
    client: BodyOwner,
    conn: Connection,
    framing: Framing,
    length: number,
    options?: { strict?: boolean },
  ) {
    this.#client = client;
    this.#conn = conn;
    this.#framing = framing;
    this.#remaining = length;
    this.#strict = options?.strict === true;
    if (framing === "none" || (framing === "length" && length === 0)) this.#finish();
  }

  /** Whether the whole body has been read. */
  get done(): boolean {
    return this.#done;
  }

  /**
   * The whole body when it is already buffered (a small Content-Length body that came with the
   * head, or no body): the connection is released at once. Nothing is returned once reading began.
   * @param options `view: true` returns a view of the connection's read buffer instead of a copy,
   *   valid until the end of the current synchronous run only (the connection goes back to the
   *   pool, and is read again, after it): copy it (or send it through something that copies at
   *   once) before awaiting anything.
   * @returns The bytes, or `undefined` when the body must be read by iterating.
   */
  takeBuffered(options?: { view?: boolean }): Uint8Array | undefined {
    if (this.#touched) return undefined;
    this.#touched = true;
    if (this.#done) return this.#framing === "none" || this.#remaining === 0 ? EMPTY : undefined;
    const c = this.#conn;
    if (this.#framing !== "length" || c.end - c.start < this.#remaining) return undefined;
    const view = options?.view === true;
    const from = c.start;
    const to = from + this.#remaining;
    c.start = to;
    this.#remaining = 0;
    this.#finish(view);
    return view ? c.buf.subarray(from, to) : c.buf.slice(from, to);
  }

  /**
   * Reads the next chunk.
   * @param into A buffer the caller reuses: the bytes may then be read or copied into it (a
   * view of it is returned), which saves a fresh array per chunk; the view is valid until the
   * next read. Without it, every chunk is a fresh array, safe to keep.
   * @returns Bytes, or `null` at the end of the body.
   * @throws {Http1Error} When the connection fails or the framing is invalid.
   */
  async read(into?: Uint8Array): Promise<Uint8Array | null> {
    this.#touched = true;
    if (this.#done) return null;
    try {
      switch (this.#framing) {
        case "length":
          return await (into ? this.#readLengthInto(into) : this.#readLength());
        case "chunked":
          return await this.#readChunked();
        default:
          return await this.#readUntilClose();
      }
    } catch (error) {
      this.#conn.destroy();
      this.#done = true;
      throw this.#client._mapError(this.#conn, error);
    }
  }

  /** Stops reading: an unfinished body destroys the connection. */
  cancel(): void {
    if (this.#done) return;
    this.#done = true;
    this.#conn.destroy();
  }

  /** Iterates the chunks; breaking out of the loop cancels the body. */
  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    return {
      next: async () => {
        const value = await this.read();
        return value ? { value, done: false } : { value: undefined, done: true };
      },
      return: () => {
        this.cancel();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }

  /** The body is read whole; `later`: release the connection only after this synchronous run. */
  #finish(later = false): void {
    this.#done = true;
    const c = this.#conn;
    c.readDone = true;
    if (c.end > c.start) c.reusable = false; // bytes beyond the response: not ours to guess at
    if (later) queueMicrotask(() => this.#client._maybeRelease(c));
    else this.#client._maybeRelease(c);
  }

  async #readLength(): Promise<Uint8Array | null> {
    const c = this.#conn;
    if (c.start === c.end && this.#remaining >= DIRECT_READ_MIN_BYTES && !c.pending) {
      return await this.#readDirect();
    }
    if (c.start === c.end && !(await c.fill())) {
      throw new Http1Error(
        "closed",
        `The connection closed with ${this.#remaining} body bytes due`,
      );
    }
    const n = Math.min(this.#remaining, c.end - c.start);
    const out = c.buf.slice(c.start, c.start + n);
    c.start += n;
    this.#remaining -= n;
    if (this.#remaining === 0) this.#finish();
    return out;
  }

  /** {@linkcode Http1Body.read} of a Content-Length body into the caller's buffer. */
  async #readLengthInto(into: Uint8Array): Promise<Uint8Array> {
    const c = this.#conn;
    const want = Math.min(this.#remaining, into.length);
    let n: number;
    if (c.start < c.end || c.pending) {
      if (c.start === c.end && !(await c.fill())) throw this.#cutShort();
      n = Math.min(want, c.end - c.start);
      into.set(c.buf.subarray(c.start, c.start + n));
      c.start += n;
    } else {
      const read = await c.conn.read(into.subarray(0, want));
      if (read === null) throw this.#cutShort();
      n = read;
      c.received += n;
    }
    this.#remaining -= n;
    if (this.#remaining === 0) this.#finish();
    return into.subarray(0, n);
  }

  #cutShort(): Http1Error {
    return new Http1Error("closed", `The connection closed with ${this.#remaining} body bytes due`);
  }

  /**
   * Reads the next part of a long body straight into a fresh chunk, skipping the connection's
   * buffer and the copy out of it (the buffer is empty and a large part is still due).
   */
  async #readDirect(): Promise<Uint8Array | null> {
    const c = this.#conn;
    const chunk = new Uint8Array(Math.min(this.#remaining, DIRECT_READ_MAX_BYTES));
    const n = await c.conn.read(chunk);
    if (n === null) {
      throw new Http1Error(
        "closed",
        `The connection closed with ${this.#remaining} body bytes due`,
      );
    }
    c.received += n;
    this.#remaining -= n;
    if (this.#remaining === 0) this.#finish();
    // A short read keeps only its bytes, not the whole chunk's memory.
    return n * SHORT_READ_SHARE >= chunk.length ? chunk.subarray(0, n) : chunk.slice(0, n);
  }

  async #readUntilClose(): Promise<Uint8Array | null> {
    const c = this.#conn;
    c.reusable = false;
    if (c.start === c.end && !(await c.fill())) {
      this.#finish();
      return null;
    }
    const out = c.buf.slice(c.start, c.end);
    c.start = c.end;
    return out;
  }

  async #readChunked(): Promise<Uint8Array | null> {
    const c = this.#conn;
    const pieces: Uint8Array[] = [];
    for (;;) {
      if (this.#parseChunks(pieces)) {
        this.#finish();
        return pieces.length ? concat(pieces) : null;
      }
      if (pieces.length) return concat(pieces);
      if (!(await c.fill())) {
        throw new Http1Error("closed", "The connection closed inside a chunked body");
      }
    }
  }

  /** Consumes what the buffer holds; pushes data; returns true after the last chunk's trailers. */
  #parseChunks(pieces: Uint8Array[]): boolean {
    const c = this.#conn;
    const buf = c.buf;
    for (;;) {
      const avail = c.end - c.start;
      if (this.#chunkState === "data") {
        if (avail === 0) return false;
        const n = Math.min(avail, this.#remaining);
        pieces.push(buf.slice(c.start, c.start + n));
        c.start += n;
        this.#remaining -= n;
        if (this.#remaining > 0) return false;
        this.#chunkState = "crlf";
        continue;
      }
      if (this.#chunkState === "crlf") {
        if (avail === 0) return false;
        if (buf[c.start] === LF) {
          if (this.#strict) throw new Http1Error("protocol", "Bare LF after chunk data");
          c.start += 1;
        } else if (buf[c.start] === CR) {
          if (avail < 2) return false;
          if (buf[c.start + 1] !== LF) throw new Http1Error("protocol", "Missing CRLF after chunk");
          c.start += 2;
        } else {
          throw new Http1Error("protocol", "Missing CRLF after chunk data");
        }
        this.#chunkState = "size";
        continue;
      }
      const lf = buf.indexOf(LF, c.start);
      if (lf < 0 || lf >= c.end) {
        const limit = this.#chunkState === "size"
          ? MAX_CHUNK_LINE_BYTES
          : MAX_HEAD_BYTES - this.#trailerBytes;
        if (avail > limit) throw new Http1Error("protocol", "Chunk size line or trailers too long");
        return false;
      }
      const lineEnd = lf > c.start && buf[lf - 1] === CR ? lf - 1 : lf;
      if (this.#chunkState === "trailers") {
        this.#trailerBytes += lf + 1 - c.start;
        if (this.#trailerBytes > MAX_HEAD_BYTES) {
          throw new Http1Error("protocol", "Trailers too long");
        }
        const empty = lineEnd === c.start;
        c.start = lf + 1;
        if (empty) return true;
        continue; // trailers are discarded
      }
      if (this.#strict && (lineEnd === lf || buf.subarray(c.start, lineEnd).includes(CR))) {
        throw new Http1Error("protocol", "Chunk size line not ended by CRLF");
      }
      const size = parseChunkSize(buf, c.start, lineEnd);
      c.start = lf + 1;
      if (size === 0) {
        this.#chunkState = "trailers";
      } else {
        this.#remaining = size;
        this.#chunkState = "data";
      }
    }
  }
}

function parseChunkSize(buf: Uint8Array, from: number, to: number): number {
  let size = 0;
  let i = from;
  for (; i < to; i++) {
    const b = buf[i];
    const d = b >= 48 && b <= 57
      ? b - 48
      : b >= 97 && b <= 102
      ? b - 87
      : b >= 65 && b <= 70
      ? b - 55
      : -1;
    if (d < 0) break;
    size = size * 16 + d;
  }
  const digits = i - from;
  if (digits === 0 || digits > MAX_CHUNK_SIZE_DIGITS) {
    throw new Http1Error("protocol", "Invalid chunk size");
  }
  while (i < to && (buf[i] === 32 || buf[i] === 9)) i++;
  if (i < to && buf[i] !== 59 /* ; */) throw new Http1Error("protocol", "Invalid chunk size");
  return size; // chunk extensions are ignored
}
