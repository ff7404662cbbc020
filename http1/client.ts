/**
 * The keep-alive HTTP/1.1 client: one connection pool per origin, one exchange per connection
 * at a time, and the rule that a request the server may have read is never sent again.
 *
 * @module
 */
import { Connection, readHead } from "./_conn.ts";
import { bodyFraming, type BodyOwner, Http1Body } from "./body.ts";
import type { Http1Abort, Http1AbortTarget } from "./abort.ts";
import { dial, dialTarget } from "./dial.ts";
import { abortError, Http1Error } from "./errors.ts";
import {
  chunkedWhole,
  encodeRequest,
  type PreparedHead,
  prepareHead,
  writeStream,
} from "./serialize.ts";
import type { Http1RequestInit, Http1Response } from "./types.ts";

/** A body at most this large is sent in the same write as the head (one syscall, one segment). */
const COALESCE_BYTES = 64 * 1024;
/**
 * Idle connections are closed after this long: below the keep-alive timeouts of common servers
 * (Node 5 s, Deno/hyper and Go longer), so we close first and rarely meet a server's close.
 */
const DEFAULT_IDLE_TIMEOUT_MS = 4_000;
/** Idle connections kept per origin; more are closed as they are released. */
const DEFAULT_MAX_IDLE = 256;

/** Options for {@linkcode Http1Client}. */
export interface Http1ClientOptions {
  /** Close a pooled connection idle this many ms. @default {4000} */
  idleTimeout?: number;
  /** Idle connections kept per origin. @default {256} */
  maxIdle?: number;
  /** Extra PEM root certificates for https origins. @default {undefined} */
  caCerts?: string[];
  /**
   * For https origins: do not verify the server's certificate (self-signed development servers;
   * see {@linkcode dial}). `caCerts` is then ignored.
   * @default {false}
   */
  insecure?: boolean;
}

/**
 * A keep-alive HTTP/1.1 client with one connection pool per origin.
 */
export class Http1Client implements BodyOwner {
  #pools = new Map<string, Connection[]>();
  #idleTimeout: number;
  #maxIdle: number;
  #caCerts: string[] | undefined;
  #insecure: boolean;
  #sweeper: ReturnType<typeof setInterval> | undefined;
  #closed = false;

  /** @param options Idle timeout, pool size, extra CA certificates. */
  constructor(options: Http1ClientOptions = {}) {
    this.#idleTimeout = options.idleTimeout ?? DEFAULT_IDLE_TIMEOUT_MS;
    this.#maxIdle = options.maxIdle ?? DEFAULT_MAX_IDLE;
    this.#caCerts = options.caCerts;
    this.#insecure = options.insecure ?? false;
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
    const { signal, abort } = init;
    if (signal?.aborted) throw abortError(signal.reason);
    if (abort?.aborted) throw abortError(abort.reason);
    const body = init.body ?? undefined;
    const whole = body === undefined || body instanceof Uint8Array;
    const prepared = prepareHead(origin, init, whole ? body : "stream");
    const key = origin.origin;
    for (let attempt = 0;; attempt++) {
      const conn = this.#checkout(key) ?? await this.#connect(origin, key, signal, abort);
      try {
        return await this.#exchange(conn, prepared, init.method, body, signal, abort);
      } catch (error) {
        conn.destroy();
        if (
          error instanceof StaleConnection && conn.reused && whole && attempt === 0 &&
          !signal?.aborted && !abort?.aborted && !this.#closed
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
    conn.conn.unref?.();
    // A read kept pending while idle notices the server's close (or stray bytes) at once.
    const read = conn.conn.read(conn.buf);
    conn.pending = read;
    const settle = () => this.#idleReadDone(conn, read);
    conn.pendingSettled = read.then(settle, settle);
    pool.push(conn);
    this.#startSweeper();
  }

  #idleReadDone(conn: Connection, read: Promise<number | null>): void {
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
      conn.conn.ref?.();
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

  async #connect(
    origin: URL,
    key: string,
    signal: AbortSignal | undefined,
    abort: Http1Abort | undefined,
  ): Promise<Connection> {
    // Dialing takes a signal: an Http1Abort gets one for the connect (rare: connections are
    // pooled), which also follows the request's own signal.
    let connecting: Http1AbortTarget | undefined;
    if (abort) {
      const controller = new AbortController();
      connecting = { abortWith: (reason) => controller.abort(reason) };
      signal = signal ? AbortSignal.any([signal, controller.signal]) : controller.signal;
      abort._attach(connecting);
    }
    try {
      const conn = await dial(dialTarget(origin), {
        caCerts: this.#caCerts,
        insecure: this.#insecure,
        signal,
      });
      return new Connection(conn, key);
    } catch (error) {
      if (signal?.aborted) throw abortError(signal.reason);
      const message = error instanceof Error ? error.message : String(error);
      throw new Http1Error("connect", `Cannot connect to "${origin.host}": ${message}`, {
        cause: error,
      });
    } finally {
      if (connecting) abort!._detach(connecting);
    }
  }

  async #exchange(
    conn: Connection,
    prepared: PreparedHead,
    method: string,
    body: Uint8Array | AsyncIterable<Uint8Array> | undefined,
    signal: AbortSignal | undefined,
    abort: Http1Abort | undefined,
  ): Promise<Http1Response> {
    conn.received = 0;
    conn.readDone = false;
    conn.writeDone = false;
    conn.writeError = undefined;
    conn.reusable = !prepared.close;
    if (signal) {
      conn.signal = signal;
      conn.onAbort = () => {
        conn.abortReason = signal.reason ?? new DOMException("Aborted", "AbortError");
        conn.destroy();
      };
      // Not `once`: destroy() removes it anyway, and the options object costs per request.
      signal.addEventListener("abort", conn.onAbort);
      // Aborted before the listener existed (between checkout and here): act on it now.
      if (signal.aborted) conn.onAbort();
    }
    if (abort) {
      conn.abort = abort;
      abort._attach(conn);
    }
    // The head (and a small whole body) in one write; a failure here is before the server could
    // have seen a complete request.
    const coalesce = body === undefined ||
      (body instanceof Uint8Array && body.length <= COALESCE_BYTES);
    const first = encodeRequest(conn, prepared, coalesce ? body : undefined);
    const rest = coalesce ? undefined : body;
    conn.conn.write(first).then(
      (n) =>
        n === first.length && rest === undefined
          ? this.#written(conn)
          : this.#writeRest(conn, first.subarray(n), rest, prepared),
      (error) => this.#writeFailed(conn, new StaleConnection(error)),
    );
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
      const writeError = conn.writeError;
      throw writeError !== undefined && !(error instanceof StaleConnection) ? writeError : error;
    }
  }

  /** The request is written whole: the connection may go back to the pool once read too. */
  #written(conn: Connection): void {
    conn.writeDone = true;
    this._maybeRelease(conn);
  }

  #writeFailed(conn: Connection, error: unknown): void {
    conn.writeError = error;
    conn.destroy();
  }

  /** Writes what the first write left: the rest of the head (and small body), then the body. */
  async #writeRest(
    conn: Connection,
    head: Uint8Array,
    body: Uint8Array | AsyncIterable<Uint8Array> | undefined,
    prepared: PreparedHead,
  ): Promise<void> {
    try {
      try {
        await conn.writeAll(head);
      } catch (error) {
        throw new StaleConnection(error);
      }
      if (body instanceof Uint8Array) {
        await conn.writeAll(prepared.chunked ? chunkedWhole(body) : body);
      } else if (body !== undefined) {
        await writeStream(conn, body, prepared);
      }
    } catch (error) {
      return this.#writeFailed(conn, error);
    }
    this.#written(conn);
  }
}

/** Marks a failure after which a request with a whole body may be retried on a new connection. */
class StaleConnection extends Error {
  constructor(cause: unknown) {
    super("Stale connection", { cause });
  }
}
