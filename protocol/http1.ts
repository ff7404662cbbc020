/**
 * A minimal HTTP/1.1 client for replaying requests byte for byte (client → local app, replica →
 * replica): a per-origin keep-alive pool over
 * `Deno.connect` (TCP_NODELAY) and `Deno.startTls`, requests written exactly as given (headers in
 * order, repeats kept, nothing added but `Host` when absent and the body's framing), responses
 * parsed strictly (RFC 9112) with raw header pairs and the body passed through undecoded.
 *
 * Why not `node:http`: its polyfill was the client's largest CPU cost (writev, op_write, GC); and
 * not `fetch`: it adds `Accept-Encoding` and decompresses.
 *
 * Reuse rules: idle connections are reused newest first and closed after
 * {@linkcode Http1ClientOptions.idleTimeout}; a connection is never reused after an error, an
 * unfinished body or `Connection: close`. An idle connection keeps a read pending, so a server's
 * close is noticed while it sits in the pool. A request is retried once on a fresh connection
 * only when writing it to a reused connection failed, so the server cannot have seen it whole,
 * and only when its body was given whole; a connection closing after the request was written is
 * an error, never a retry (unlike `fetch` and `node:http`, which re-send the POST: a duplicate
 * delivery when the app had acted on it).
 *
 * @example
 * ```ts ignore
 * const client = new Http1Client();
 * const res = await client.request(new URL("http://localhost:3000"), {
 *   method: "POST",
 *   path: "/hook",
 *   headers: [["content-type", "application/json"]],
 *   body: new TextEncoder().encode("{}"),
 * });
 * for await (const chunk of res.body) console.log(chunk.length);
 * await client.close();
 * ```
 *
 * @module
 */

/** Largest response head (status line and headers) or trailer section accepted, in bytes. */
export const MAX_HEAD_BYTES = 64 * 1024;
/** Largest chunk-size line (size plus extensions) accepted, in bytes. */
const MAX_CHUNK_LINE_BYTES = 4 * 1024;
/** Per-connection read buffer: a whole maximal head, plus room for the CRLFs that end it. */
const READ_BUFFER_BYTES = MAX_HEAD_BYTES + 1024;
/** A body at most this large is sent in the same write as the head (one syscall, one segment). */
const COALESCE_BYTES = 64 * 1024;
/**
 * Idle connections are closed after this long: below the keep-alive timeouts of common servers
 * (Node 5 s, Deno/hyper and Go longer), so we close first and rarely meet a server's close.
 */
const DEFAULT_IDLE_TIMEOUT_MS = 4_000;
/** Idle connections kept per origin; more are closed as they are released. */
const DEFAULT_MAX_IDLE = 256;
/** Chunk sizes above 2^48 cannot be real and would lose precision: 12 hex digits at most. */
const MAX_CHUNK_SIZE_DIGITS = 12;
/** Content-Length values beyond Number.MAX_SAFE_INTEGER lose precision: 15 digits at most. */
const MAX_CONTENT_LENGTH_DIGITS = 15;

const LF = 10;
const CR = 13;
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const REQUEST_TARGET = /^[\x21-\xff]+$/;
const NON_ASCII = /[\x80-\xff]/;
const STATUS_LINE = /^HTTP\/1\.([01]) (\d{3})(?: ([^\r\n]*))?$/;
const BODYLESS_METHODS = new Set(["GET", "HEAD", "DELETE", "OPTIONS", "TRACE", "CONNECT"]);
const EMPTY = new Uint8Array(0);
const LAST_CHUNK = encoder.encode("0\r\n\r\n");

/**
 * Why a request failed:
 * - `connect`: no connection could be made (refused, unresolvable host, TLS handshake)
 * - `timeout`: the signal aborted with a `TimeoutError`
 * - `aborted`: the signal aborted for another reason
 * - `protocol`: the server's answer is not valid HTTP/1.1 (bad framing, oversized head, 101)
 * - `closed`: the connection failed or closed before the exchange completed
 */
export type Http1ErrorCode = "connect" | "timeout" | "aborted" | "protocol" | "closed";

/** A request to the local app failed; see {@linkcode Http1ErrorCode}. */
export class Http1Error extends Error {
  /** Machine-readable reason. */
  readonly code: Http1ErrorCode;
  /**
   * @param code Why.
   * @param message Human-readable detail.
   * @param options The underlying error as `cause`.
   */
  constructor(code: Http1ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "Http1Error";
    this.code = code;
  }
}

/** Options for {@linkcode Http1Client}. */
export interface Http1ClientOptions {
  /** Close a pooled connection idle this many ms. @default {4000} */
  idleTimeout?: number;
  /** Idle connections kept per origin. @default {256} */
  maxIdle?: number;
  /** Extra PEM root certificates for https origins. @default {undefined} */
  caCerts?: string[];
}

/** One request, see {@linkcode Http1Client.request}. */
export interface Http1RequestInit {
  /** The method, sent as given (a token). */
  method: string;
  /** The request target (path and query), sent as given. */
  path: string;
  /**
   * Header pairs sent in this order, repeats kept, names as given. `Host` is added when absent;
   * `Content-Length` when the body is a `Uint8Array` and no framing header is given;
   * `Transfer-Encoding: chunked` when the body is streamed with no framing header.
   */
  headers: readonly (readonly [string, string])[];
  /**
   * The body: whole (written with the head when small, and replayable), or streamed with
   * backpressure (each chunk written before the next is pulled). An empty `Uint8Array` with
   * GET/HEAD/DELETE/OPTIONS/TRACE/CONNECT sends no `Content-Length`, like `node:http`.
   * @default {undefined}
   */
  body?: Uint8Array | AsyncIterable<Uint8Array> | null;
  /** Aborts the request at any stage, also while the body is read: the connection is destroyed. */
  signal?: AbortSignal;
}

/** The app's answer. */
export interface Http1Response {
  /** Status code (never 1xx). */
  status: number;
  /** Reason phrase as sent (may be empty). */
  statusText: string;
  /** Header pairs in the order received, repeats kept, names as sent. */
  headers: [string, string][];
  /** The body, exactly as sent (never decompressed); consume it or cancel it. */
  body: Http1Body;
}

type Framing = "none" | "length" | "chunked" | "close";

/** One pooled connection and its read buffer. */
class Connection {
  readonly conn: Deno.Conn;
  readonly key: string;
  readonly buf = new Uint8Array(READ_BUFFER_BYTES);
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
  /** A read issued while idle, adopted by the next exchange. */
  pending: Promise<number | null> | undefined;
  /** Settles once the idle read has settled (for a clean close). */
  pendingSettled: Promise<unknown> | undefined;
  onAbort: (() => void) | undefined;
  signal: AbortSignal | undefined;

  constructor(conn: Deno.Conn, key: string) {
    this.conn = conn;
    this.key = key;
  }

  /**
   * Reads more bytes into the buffer, compacting it first when full.
   * @returns false at end of stream.
   */
  async fill(): Promise<boolean> {
    if (this.end === this.buf.length) {
      if (this.start === 0) throw new Http1Error("protocol", "Read buffer full");
      this.buf.copyWithin(0, this.start, this.end);
      this.end -= this.start;
      this.start = 0;
    } else if (this.start === this.end) {
      this.start = this.end = 0;
    }
    const pending = this.pending;
    let n: number | null;
    if (pending) {
      this.pending = undefined;
      n = await pending;
    } else {
      n = await this.conn.read(this.buf.subarray(this.end));
    }
    if (n === null) return false;
    this.end += n;
    this.received += n;
    return true;
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

  detachSignal(): void {
    if (this.onAbort) this.signal?.removeEventListener("abort", this.onAbort);
    this.onAbort = undefined;
    this.signal = undefined;
  }
}

/**
 * A response body: an async iterable of chunks (fresh arrays, safe to keep) read from the socket
 * only as fast as it is consumed.
 */
export class Http1Body implements AsyncIterable<Uint8Array> {
  #conn: Connection;
  #framing: Framing;
  #client: Http1Client;
  #remaining: number;
  #chunkState: "size" | "data" | "crlf" | "trailers" = "size";
  #trailerBytes = 0;
  #done = false;
  #touched = false;

  /** @internal */
  constructor(client: Http1Client, conn: Connection, framing: Framing, length: number) {
    this.#client = client;
    this.#conn = conn;
    this.#framing = framing;
    this.#remaining = length;
    if (framing === "none" || (framing === "length" && length === 0)) this.#finish();
  }

  /** Whether the whole body has been read. */
  get done(): boolean {
    return this.#done;
  }

  /**
   * The whole body when it is already buffered (a small Content-Length body that came with the
   * head, or no body): the connection is released at once. Nothing is returned once reading began.
   * @returns The bytes, or `undefined` when the body must be read by iterating.
   */
  takeBuffered(): Uint8Array | undefined {
    if (this.#touched) return undefined;
    this.#touched = true;
    if (this.#done) return this.#framing === "none" || this.#remaining === 0 ? EMPTY : undefined;
    const c = this.#conn;
    if (this.#framing !== "length" || c.end - c.start < this.#remaining) return undefined;
    const out = c.buf.slice(c.start, c.start + this.#remaining);
    c.start += this.#remaining;
    this.#remaining = 0;
    this.#finish();
    return out;
  }

  /**
   * Reads the next chunk.
   * @returns Bytes, or `null` at the end of the body.
   * @throws {Http1Error} When the connection fails or the framing is invalid.
   */
  async read(): Promise<Uint8Array | null> {
    this.#touched = true;
    if (this.#done) return null;
    try {
      switch (this.#framing) {
        case "length":
          return await this.#readLength();
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

  #finish(): void {
    this.#done = true;
    const c = this.#conn;
    c.readDone = true;
    if (c.end > c.start) c.reusable = false; // bytes beyond the response: not ours to guess at
    this.#client._maybeRelease(c);
  }

  async #readLength(): Promise<Uint8Array | null> {
    const c = this.#conn;
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

/**
 * A keep-alive HTTP/1.1 client with one connection pool per origin.
 */
export class Http1Client {
  #pools = new Map<string, Connection[]>();
  #idleTimeout: number;
  #maxIdle: number;
  #caCerts: string[] | undefined;
  #sweeper: ReturnType<typeof setInterval> | undefined;
  #closed = false;

  /** @param options Idle timeout, pool size, extra CA certificates. */
  constructor(options: Http1ClientOptions = {}) {
    this.#idleTimeout = options.idleTimeout ?? DEFAULT_IDLE_TIMEOUT_MS;
    this.#maxIdle = options.maxIdle ?? DEFAULT_MAX_IDLE;
    this.#caCerts = options.caCerts;
  }

  /** Idle pooled connections, over all origins (for tests and metrics). */
  get idleConnections(): number {
    let n = 0;
    for (const pool of this.#pools.values()) n += pool.length;
    return n;
  }

  /**
   * Sends one request and resolves once the response head (after any 1xx) has arrived.
   *
   * @param origin The server: `http:` or `https:` URL; only scheme, host and port are used.
   * @param init Method, target, headers, body and signal.
   * @returns The response; its body must be consumed or cancelled.
   * @throws {TypeError} When the method, target or a header is not valid to send.
   * @throws {Http1Error} When the exchange fails, see {@linkcode Http1ErrorCode}.
   */
  async request(origin: URL, init: Http1RequestInit): Promise<Http1Response> {
    if (this.#closed) throw new Http1Error("closed", "The client is closed");
    if (origin.protocol !== "http:" && origin.protocol !== "https:") {
      throw new TypeError(`Cannot request "${origin.href}": unsupported scheme`);
    }
    const { signal } = init;
    if (signal?.aborted) throw abortError(signal.reason);
    const body = init.body ?? undefined;
    const whole = body === undefined || body instanceof Uint8Array;
    const prepared = prepareHead(origin, init, whole ? body : "stream");
    const key = origin.origin;
    for (let attempt = 0;; attempt++) {
      const conn = this.#checkout(key) ?? await this.#connect(origin, key, signal);
      try {
        return await this.#exchange(conn, prepared, init.method, body, signal);
      } catch (error) {
        conn.destroy();
        if (
          error instanceof StaleConnection && conn.reused && whole && attempt === 0 &&
          !signal?.aborted && !this.#closed
        ) continue;
        throw this._mapError(conn, error instanceof StaleConnection ? error.cause : error);
      }
    }
  }

  /**
   * Closes every idle connection and stops reusing; in-flight exchanges run on.
   * @returns Settles once the idle connections' pending reads have settled.
   */
  close(): Promise<void> {
    this.#closed = true;
    const settling: Promise<unknown>[] = [];
    for (const pool of this.#pools.values()) {
      for (const conn of pool) {
        conn.destroy();
        if (conn.pendingSettled) settling.push(conn.pendingSettled);
      }
    }
    this.#pools.clear();
    this.#stopSweeper();
    return Promise.all(settling).then(() => {});
  }

  /** @internal Maps an I/O or parse failure to an {@linkcode Http1Error}. */
  _mapError(conn: Connection, error: unknown): unknown {
    if (conn.abortReason !== undefined) return abortError(conn.abortReason);
    if (error instanceof Http1Error || error instanceof TypeError) return error;
    const message = error instanceof Error ? error.message : String(error);
    return new Http1Error("closed", `The connection failed: ${message}`, { cause: error });
  }

  /** @internal Returns a connection whose exchange is complete to the pool, or closes it. */
  _maybeRelease(conn: Connection): void {
    if (!conn.readDone || !conn.writeDone || conn.closed) return;
    conn.detachSignal();
    if (!conn.reusable || this.#closed) {
      conn.destroy();
      return;
    }
    let pool = this.#pools.get(conn.key);
    if (!pool) this.#pools.set(conn.key, pool = []);
    if (pool.length >= this.#maxIdle) {
      conn.destroy();
      return;
    }
    conn.idle = true;
    conn.reused = true;
    conn.idleSince = Date.now();
    conn.start = conn.end = 0;
    conn.conn.unref();
    // A read kept pending while idle notices the server's close (or stray bytes) at once.
    const read = conn.conn.read(conn.buf);
    conn.pending = read;
    const settled = read.then(
      (n) => this.#idleReadDone(conn, read, n),
      () => this.#idleReadDone(conn, read, null),
    );
    conn.pendingSettled = settled;
    pool.push(conn);
    this.#startSweeper();
  }

  #idleReadDone(conn: Connection, read: Promise<number | null>, _n: number | null): void {
    if (!conn.idle || conn.pending !== read) return; // adopted by an exchange
    this.#evict(conn);
  }

  #evict(conn: Connection): void {
    conn.idle = false;
    conn.destroy();
    const pool = this.#pools.get(conn.key);
    const i = pool?.indexOf(conn) ?? -1;
    if (i >= 0) pool!.splice(i, 1);
  }

  #checkout(key: string): Connection | undefined {
    const pool = this.#pools.get(key);
    if (!pool) return undefined;
    const now = Date.now();
    for (let conn = pool.pop(); conn; conn = pool.pop()) {
      conn.idle = false;
      if (conn.closed) continue;
      if (now - conn.idleSince >= this.#idleTimeout) {
        conn.destroy();
        continue;
      }
      conn.conn.ref();
      return conn;
    }
    return undefined;
  }

  #startSweeper(): void {
    if (this.#sweeper !== undefined) return;
    const sweeper = setInterval(() => {
      const now = Date.now();
      let idle = 0;
      for (const pool of this.#pools.values()) {
        for (const conn of [...pool]) {
          if (now - conn.idleSince >= this.#idleTimeout) this.#evict(conn);
        }
        idle += pool.length;
      }
      if (idle === 0) this.#stopSweeper();
    }, Math.max(50, this.#idleTimeout / 4));
    Deno.unrefTimer(sweeper);
    this.#sweeper = sweeper;
  }

  #stopSweeper(): void {
    clearInterval(this.#sweeper);
    this.#sweeper = undefined;
  }

  async #connect(origin: URL, key: string, signal: AbortSignal | undefined): Promise<Connection> {
    const hostname = origin.hostname.replace(/^\[(.*)\]$/, "$1");
    const tls = origin.protocol === "https:";
    const port = origin.port ? Number(origin.port) : tls ? 443 : 80;
    let open: Deno.Conn | undefined;
    const onAbort = () => open?.close();
    try {
      const tcp = await Deno.connect({ hostname, port, signal });
      open = tcp;
      tcp.setNoDelay(true);
      if (!tls) return new Connection(tcp, key);
      const conn = await Deno.startTls(tcp, { hostname, caCerts: this.#caCerts });
      open = conn;
      signal?.addEventListener("abort", onAbort, { once: true });
      await conn.handshake();
      return new Connection(conn, key);
    } catch (error) {
      try {
        open?.close();
      } catch {
        // closed by the abort
      }
      if (signal?.aborted) throw abortError(signal.reason);
      const message = error instanceof Error ? error.message : String(error);
      throw new Http1Error("connect", `Cannot connect to "${origin.host}": ${message}`, {
        cause: error,
      });
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
  }

  async #exchange(
    conn: Connection,
    prepared: PreparedHead,
    method: string,
    body: Uint8Array | AsyncIterable<Uint8Array> | undefined,
    signal: AbortSignal | undefined,
  ): Promise<Http1Response> {
    conn.received = 0;
    conn.readDone = false;
    conn.writeDone = false;
    conn.reusable = !prepared.close;
    if (signal) {
      conn.signal = signal;
      conn.onAbort = () => {
        conn.abortReason = signal.reason ?? new DOMException("Aborted", "AbortError");
        conn.destroy();
      };
      signal.addEventListener("abort", conn.onAbort, { once: true });
      // Aborted before the listener existed (between checkout and here): act on it now.
      if (signal.aborted) conn.onAbort();
    }
    // The head (and a small whole body) in one write; a failure here is before the server could
    // have seen a complete request.
    let writing: Promise<void>;
    const first = body instanceof Uint8Array && body.length <= COALESCE_BYTES
      ? withBody(prepared, body)
      : prepared.bytes;
    const headWrite = conn.writeAll(first).catch((error) => {
      throw new StaleConnection(error);
    });
    if (body === undefined || first !== prepared.bytes) {
      writing = headWrite;
    } else if (body instanceof Uint8Array) {
      writing = headWrite.then(() => conn.writeAll(prepared.chunked ? chunkedWhole(body) : body));
    } else {
      writing = headWrite.then(() => writeStream(conn, body, prepared));
    }
    let writeError: unknown;
    writing.then(() => {
      conn.writeDone = true;
      this._maybeRelease(conn);
    }, (error) => {
      writeError = error;
      conn.destroy();
    });
    try {
      for (;;) {
        const head = await readHead(conn);
        if (head.status >= 100 && head.status < 200) {
          if (head.status === 101) {
            throw new Http1Error("protocol", "Unexpected 101 Switching Protocols");
          }
          continue; // 100 Continue, 103 Early Hints…: informational, skipped
        }
        const { framing, length } = bodyFraming(head, method);
        if (!head.keepAlive) conn.reusable = false;
        return {
          status: head.status,
          statusText: head.statusText,
          headers: head.headers,
          body: new Http1Body(this, conn, framing, length),
        };
      }
    } catch (error) {
      conn.destroy();
      // A failed write (it destroyed the connection) explains a failed read best.
      throw writeError !== undefined && !(error instanceof StaleConnection) ? writeError : error;
    }
  }
}

/** Marks a failure after which a request with a whole body may be retried on a new connection. */
class StaleConnection extends Error {
  constructor(cause: unknown) {
    super("Stale connection", { cause });
  }
}

interface PreparedHead {
  bytes: Uint8Array;
  /** Our `Content-Length` (or the caller's) for the body; -1 when none or chunked. */
  contentLength: number;
  /** The body goes out chunked. */
  chunked: boolean;
  /** The request asked for `Connection: close`. */
  close: boolean;
}

function prepareHead(
  origin: URL,
  init: Http1RequestInit,
  body: Uint8Array | undefined | "stream",
): PreparedHead {
  const { method, path, headers } = init;
  if (!TOKEN.test(method)) throw new TypeError(`Invalid method "${method}"`);
  if (!REQUEST_TARGET.test(path)) throw new TypeError(`Invalid request target "${path}"`);
  let head = `${method} ${path} HTTP/1.1\r\n`;
  let host = false;
  let contentLength = -1;
  let te: string | undefined;
  let close = false;
  for (const [name, value] of headers) {
    if (!TOKEN.test(name)) throw new TypeError(`Invalid header name "${name}"`);
    if (!FIELD_VALUE.test(value)) throw new TypeError(`Invalid value for header "${name}"`);
    head += `${name}: ${value}\r\n`;
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
  if (!host) head += `host: ${origin.host}\r\n`;
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
      head += `content-length: ${body.length}\r\n`;
      contentLength = body.length;
    }
  } else if (body === "stream" && contentLength < 0 && !chunked) {
    head += "transfer-encoding: chunked\r\n";
    chunked = true;
  }
  head += "\r\n";
  return { bytes: encodeLatin1(head), contentLength, chunked, close };
}

function withBody(prepared: PreparedHead, body: Uint8Array): Uint8Array {
  const payload = prepared.chunked ? chunkedWhole(body) : body;
  if (payload.length === 0) return prepared.bytes;
  const out = new Uint8Array(prepared.bytes.length + payload.length);
  out.set(prepared.bytes);
  out.set(payload, prepared.bytes.length);
  return out;
}

function chunkedWhole(body: Uint8Array): Uint8Array {
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

async function writeStream(
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

interface ResponseHead {
  status: number;
  statusText: string;
  headers: [string, string][];
  keepAlive: boolean;
  contentLength: number;
  /** Combined Transfer-Encoding values, when present. */
  transferEncoding: string | undefined;
}

/** Reads and parses one response head. */
async function readHead(conn: Connection): Promise<ResponseHead> {
  let scanFrom = conn.start;
  for (;;) {
    const end = findHeadEnd(conn.buf, scanFrom, conn.end);
    if (end >= 0) {
      const bytes = conn.buf.subarray(conn.start, end);
      conn.start = end;
      return parseHead(bytes);
    }
    if (conn.end - conn.start > MAX_HEAD_BYTES) {
      throw new Http1Error("protocol", `The response head exceeds ${MAX_HEAD_BYTES} bytes`);
    }
    scanFrom = Math.max(conn.start, conn.end - 3);
    const offset = conn.start;
    let more: boolean;
    try {
      more = await conn.fill();
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

/** Index just past the blank line ending a head in `buf[from, to)`, or -1. */
function findHeadEnd(buf: Uint8Array, from: number, to: number): number {
  let i = from;
  for (;;) {
    const lf = buf.indexOf(LF, i);
    if (lf < 0 || lf >= to) return -1;
    if (lf + 1 < to && buf[lf + 1] === LF) return lf + 2;
    if (lf + 2 < to && buf[lf + 1] === CR && buf[lf + 2] === LF) return lf + 3;
    i = lf + 1;
  }
}

function parseHead(bytes: Uint8Array): ResponseHead {
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

/** Body framing per RFC 9112 §6.3. */
function bodyFraming(head: ResponseHead, method: string): { framing: Framing; length: number } {
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

/** Parses a Content-Length value (a list of identical values is allowed); -1 if invalid. */
function parseContentLength(value: string): number {
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

function hasToken(list: string, token: string): boolean {
  for (const part of list.split(",")) {
    if (trimOws(part).toLowerCase() === token) return true;
  }
  return false;
}

function lastToken(list: string): string {
  const parts = list.split(",");
  return trimOws(parts[parts.length - 1]).toLowerCase();
}

function trimOws(s: string): string {
  return s.replace(/^[ \t]+|[ \t]+$/g, "");
}

function stripCr(line: string): string {
  return line.endsWith("\r") ? line.slice(0, -1) : line;
}

function encodeLatin1(s: string): Uint8Array {
  if (!NON_ASCII.test(s)) return encoder.encode(s);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

function decodeLatin1(bytes: Uint8Array): string {
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

function concat(pieces: Uint8Array[]): Uint8Array {
  if (pieces.length === 1) return pieces[0];
  let length = 0;
  for (const p of pieces) length += p.length;
  const out = new Uint8Array(length);
  let off = 0;
  for (const p of pieces) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

function abortError(reason: unknown): Http1Error {
  const timeout = reason instanceof DOMException && reason.name === "TimeoutError";
  const message = reason instanceof Error ? reason.message : String(reason);
  return new Http1Error(
    timeout ? "timeout" : "aborted",
    timeout ? `Timed out: ${message}` : `Aborted: ${message}`,
    { cause: reason },
  );
}
