/**
 * One connection's read buffer and exchange state, and reading a response head off it.
 *
 * @module
 */
import type { Http1Abort, Http1AbortTarget } from "./abort.ts";
import type { ByteConn } from "./byte_conn.ts";
import { Http1Error } from "./errors.ts";
import { findHeadEnd, MAX_HEAD_BYTES, parseResponseHead, type ResponseHead } from "./head.ts";

/** Per-connection read buffer: a whole maximal head, plus room for the CRLFs that end it. */
export const READ_BUFFER_BYTES = MAX_HEAD_BYTES + 1024;
/** First size of a connection's write buffer: a typical webhook's head and body. */
const WRITE_BUFFER_MIN_BYTES = 4 * 1024;
/**
 * Largest write buffer a connection keeps between requests: a request larger than this gets a
 * buffer of its own (copying it costs more than the allocation), so a pool of idle connections
 * never pins more than this each.
 */
const WRITE_BUFFER_KEEP_BYTES = 16 * 1024;

/** How much a read buffer grows by when reads fill it. */
const BUFFER_GROWTH = 4;

/** One connection (pooled, or a single exchange) and its read buffer. */
export class Connection implements Http1AbortTarget {
  readonly conn: ByteConn;
  readonly key: string;
  /** The read buffer: `buf[start, end)` is received and not consumed yet. */
  buf: Uint8Array;
  start = 0;
  end = 0;
  /** Bytes received for the current exchange. */
  received = 0;
  /** Served a request before (came from the pool). */
  reused = false;
  idle = false;
  idleSince = 0;
  closed = false;
  /** Set when the connection was destroyed because the request's signal aborted. */
  abortReason: unknown = undefined;
  reusable = true;
  writeDone = false;
  readDone = false;
  /** Why writing the current request failed, once it did. */
  writeError: unknown = undefined;
  /** A read issued while idle, adopted by the next exchange. */
  pending: Promise<number | null> | undefined;
  /** Settles once the idle read has settled (for a clean close). */
  pendingSettled: Promise<unknown> | undefined;
  onAbort: (() => void) | undefined;
  signal: AbortSignal | undefined;
  /** The current exchange's {@linkcode Http1Abort}, if it has one. */
  abort: Http1Abort | undefined;
  /** The reusable write buffer (see {@linkcode Connection.writeBuffer}). */
  #out: Uint8Array | undefined;

  readonly #smallBytes: number;
  readonly #maxBytes: number;
  #lastReadFilled = false;

  /**
   * @param conn The byte stream.
   * @param key The pool it belongs to (the origin).
   * @param bufferBytes Size of the read buffer.
   * @param maxBufferBytes The buffer grows up to this while reads fill it (and while one head
   * does not fit); {@linkcode shrink} takes it back to `bufferBytes`. @default bufferBytes
   */
  constructor(
    conn: ByteConn,
    key: string,
    bufferBytes: number = READ_BUFFER_BYTES,
    maxBufferBytes: number = bufferBytes,
  ) {
    this.conn = conn;
    this.key = key;
    this.buf = new Uint8Array(bufferBytes);
    this.#smallBytes = bufferBytes;
    this.#maxBytes = Math.max(bufferBytes, maxBufferBytes);
  }

  /**
   * Reads more bytes into the buffer, compacting it first when full (or growing it, up to its
   * maximum, when it is full of unconsumed bytes or the last read filled it).
   * @returns false at end of stream.
   */
  async fill(): Promise<boolean> {
    return this.took(await this.readMore());
  }

  /**
   * Starts reading more bytes into the buffer (compacting or growing it first when needed), or
   * adopts the read kept pending while idle; hand the result to {@linkcode Connection.took}. The
   * two halves of {@linkcode Connection.fill}, for callers that await the read themselves (one
   * async frame fewer per read).
   * @returns The read: bytes read, or null at end of stream.
   * @throws {Http1Error} `protocol` when the buffer is full of unconsumed bytes at its largest.
   */
  readMore(): Promise<number | null> {
    const pending = this.pending;
    if (pending) {
      // Issued on the empty buffer (start = end = 0) into all of it: nothing may move first.
      this.pending = undefined;
      return pending;
    }
    this.#makeRoom();
    return this.conn.read(this.buf.subarray(this.end));
  }

  /**
   * Accounts for a read {@linkcode Connection.readMore} started.
   * @param n What the read resolved with.
   * @returns false at end of stream.
   */
  took(n: number | null): boolean {
    if (n === null) return false;
    this.#lastReadFilled = this.end + n === this.buf.length;
    this.end += n;
    this.received += n;
    return true;
  }

  /** Room to read into: compacts the buffer, or grows it when full or when reads fill it. */
  #makeRoom(): void {
    if (this.start === this.end) this.start = this.end = 0;
    const full = this.end === this.buf.length;
    if ((full && this.start === 0) || (this.#lastReadFilled && this.buf.length < this.#maxBytes)) {
      if (this.buf.length >= this.#maxBytes) throw new Http1Error("protocol", "Read buffer full");
      const grown = new Uint8Array(Math.min(this.#maxBytes, this.buf.length * BUFFER_GROWTH));
      grown.set(this.buf.subarray(this.start, this.end));
      this.end -= this.start;
      this.start = 0;
      this.buf = grown;
    } else if (full) {
      this.buf.copyWithin(0, this.start, this.end);
      this.end -= this.start;
      this.start = 0;
    }
  }

  /**
   * Takes an empty buffer back to its first size (an idle connection then holds only that).
   * Only while no read is pending.
   */
  shrink(): void {
    if (this.start !== this.end || this.pending || this.buf.length === this.#smallBytes) return;
    this.start = this.end = 0;
    this.buf = new Uint8Array(this.#smallBytes);
    this.#lastReadFilled = false;
  }

  /**
   * A buffer of `size` bytes to build the next write in, reused from request to request: only
   * one write is in flight per connection, and the caller lets it settle before asking again.
   * @param size Bytes needed.
   * @returns A view of exactly `size` bytes (contents undefined).
   */
  writeBuffer(size: number): Uint8Array {
    if (size > WRITE_BUFFER_KEEP_BYTES) return new Uint8Array(size);
    let out = this.#out;
    if (out === undefined || out.length < size) {
      let length = WRITE_BUFFER_MIN_BYTES;
      while (length < size) length *= 2;
      out = this.#out = new Uint8Array(length);
    }
    return out.subarray(0, size);
  }

  /** Writes all of `bytes`. */
  async writeAll(bytes: Uint8Array): Promise<void> {
    let off = 0;
    while (off < bytes.length) {
      off += await this.conn.write(off === 0 ? bytes : bytes.subarray(off));
    }
  }

  destroy(): void {
    if (this.closed) return;
    this.closed = true;
    this.reusable = false;
    this.detachSignal();
    try {
      this.conn.close();
    } catch {
      // already closed
    }
  }

  /** The request's abort: remembers why, and destroys the connection. */
  abortWith(reason: unknown): void {
    this.abortReason = reason;
    this.destroy();
  }

  /** The exchange is over (or the connection gone): its signal or abort no longer reaches it. */
  detachSignal(): void {
    if (this.onAbort) this.signal?.removeEventListener("abort", this.onAbort);
    this.onAbort = undefined;
    this.signal = undefined;
    this.abort?._detach(this);
    this.abort = undefined;
  }
}

/**
 * Reads and parses one response head; the bytes after it stay in the buffer.
 * @param conn The connection.
 * @param maxBytes Largest head accepted.
 * @returns The parsed head.
 * @throws {Http1Error} `protocol` for an invalid or oversized head, `closed` when the connection
 *   fails (the I/O error as `cause`) or ends first.
 */
export async function readHead(
  conn: Connection,
  maxBytes: number = MAX_HEAD_BYTES,
): Promise<ResponseHead> {
  let scanFrom = conn.start;
  for (;;) {
    const end = findHeadEnd(conn.buf, scanFrom, conn.end);
    if (end >= 0) {
      const bytes = conn.buf.subarray(conn.start, end);
      conn.start = end;
      return parseResponseHead(bytes);
    }
    if (conn.end - conn.start > maxBytes) {
      throw new Http1Error("protocol", `The response head exceeds ${maxBytes} bytes`);
    }
    scanFrom = Math.max(conn.start, conn.end - 3);
    const offset = conn.start;
    let more: boolean;
    try {
      more = conn.took(await conn.readMore());
    } catch (error) {
      if (error instanceof Http1Error) throw error;
      throw new Http1Error("closed", `The connection failed: ${(error as Error).message}`, {
        cause: error,
      });
    }
    scanFrom -= offset - conn.start; // the buffer may have been compacted
    if (!more) {
      // Not retried even on a reused connection: the server may have read and acted on the
      // request before closing (an app that crashed mid-request), and a webhook must never be
      // delivered twice. Idle connections keep a read pending, so a close that happened while
      // pooled is noticed before reuse and only a close racing our write lands here.
      if (conn.received === 0) {
        throw new Http1Error("closed", "The connection closed before any response byte");
      }
      throw new Http1Error("closed", "The connection closed inside the response head");
    }
  }
}
