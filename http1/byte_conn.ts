/**
 * The byte stream HTTP/1.1 and the WebSocket client run on ({@linkcode ByteConn}), and a
 * `node:tls` implementation of it for `--insecure`.
 *
 * Why `node:tls`: in Deno 2.9.6 neither `Deno.connectTls`/`Deno.startTls` nor `fetch` can skip
 * certificate verification for one connection (only the process-wide
 * `--unsafely-ignore-certificate-errors` flag can), while `node:tls` honours
 * `rejectUnauthorized: false` per socket. A `Deno.Conn` already is a {@linkcode ByteConn}, so the
 * verified path pays nothing for this indirection.
 *
 * @module
 */

import { isIP, type Socket } from "node:net";
import { connect as connectTls } from "node:tls";

/**
 * Incoming bytes buffered (not yet read) before the socket is paused. One WebSocket read buffer
 * (64 KiB) several times over, so a reader that keeps up never pauses it.
 */
const READ_HIGH_WATER_BYTES = 256 * 1024;
/** Buffered bytes below which a paused socket is resumed. */
const READ_LOW_WATER_BYTES = READ_HIGH_WATER_BYTES / 4;

/**
 * The part of `Deno.Conn` the HTTP/1.1 and WebSocket clients use; a `Deno.Conn` is one as it
 * stands. Reads are never concurrent; after {@linkcode ByteConn.close} a pending read settles.
 */
export interface ByteConn {
  /**
   * Reads into `p`.
   * @param p The buffer to fill.
   * @returns The number of bytes read, or `null` at end of stream.
   */
  read(p: Uint8Array): Promise<number | null>;
  /**
   * Writes (some of) `p`.
   * @param p The bytes to write; not modified, and not reused by the caller until this settles.
   * @returns The number of bytes written.
   */
  write(p: Uint8Array): Promise<number>;
  /** Closes the connection; a pending read settles (with `null` or an error). */
  close(): void;
  /** Lets the process exit while the connection is open (an idle pooled connection). */
  unref?(): void;
  /** Undoes {@linkcode ByteConn.unref}. */
  ref?(): void;
}

/** Options for {@linkcode connectTlsInsecure}. */
export interface ConnectTlsInsecureOptions {
  /**
   * Aborts the connect: the socket is destroyed and the promise rejects with `signal.reason`.
   * @default {undefined}
   */
  signal?: AbortSignal;
}

/**
 * Opens a TLS connection with `node:tls` WITHOUT verifying the server's certificate (for
 * self-signed development servers): ALPN `http/1.1`, SNI unless `hostname` is an IP address,
 * `TCP_NODELAY` on.
 *
 * @param hostname Host name or IP address (IPv6 without brackets).
 * @param port TCP port.
 * @param options An abort signal.
 * @returns The connection, once the TLS handshake has completed.
 * @throws {Error} The socket error (`code` such as `"ECONNREFUSED"`), or `signal.reason`. The
 *   promise settles only after the socket has fully closed, so a failed attempt leaks nothing.
 *
 * @example
 * ```ts ignore
 * const conn = await connectTlsInsecure("127.0.0.1", 8443);
 * await conn.write(new TextEncoder().encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
 * conn.close();
 * ```
 */
export function connectTlsInsecure(
  hostname: string,
  port: number,
  options: ConnectTlsInsecureOptions = {},
): Promise<ByteConn> {
  const signal = options.signal;
  signal?.throwIfAborted();
  return new Promise((resolve, reject) => {
    const socket = connectTls({
      host: hostname,
      port,
      ...(isIP(hostname) === 0 ? { servername: hostname } : {}),
      rejectUnauthorized: false,
      ALPNProtocols: ["http/1.1"],
    });
    socket.setNoDelay(true);
    const cleanup = () => {
      signal?.removeEventListener("abort", onAbort);
      socket.off("secureConnect", onConnect);
      socket.off("error", onError);
    };
    const fail = (error: unknown) => {
      cleanup();
      // Swallow any later error; settle once the socket's handle is really gone.
      socket.on("error", noop);
      if (socket.closed) return reject(error);
      socket.once("close", () => reject(error));
      socket.destroy();
    };
    const onAbort = () => fail(signal?.reason);
    const onError = (error: Error) => fail(error);
    const onConnect = () => {
      cleanup();
      resolve(new NodeSocketConn(socket));
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    socket.once("secureConnect", onConnect);
    socket.once("error", onError);
  });
}

const noop = () => {};

interface PendingRead {
  p: Uint8Array;
  resolve: (n: number | null) => void;
  reject: (error: unknown) => void;
}

/**
 * A {@linkcode ByteConn} over a connected `node:net`/`node:tls` socket. Incoming chunks are queued
 * (the socket is paused above 256 KiB and resumed below 64 KiB) and copied into the reader's
 * buffer. Buffered data is read first; then a socket error rejects the next read, and end of
 * stream resolves it with `null`. Writes resolve once the socket has taken the bytes.
 * A pending read settles only on the socket's `close` event, so nothing outlives the socket.
 */
export class NodeSocketConn implements ByteConn {
  #socket: Socket;
  #chunks: Uint8Array[] = [];
  /** Bytes of `#chunks[0]` already read. */
  #offset = 0;
  #buffered = 0;
  #paused = false;
  #closed = false;
  #error: unknown;
  #hasError = false;
  #reader: PendingRead | undefined;
  #writers = new Set<(error: unknown) => void>();

  /**
   * Takes over a connected socket: from now on only this object consumes its `data`.
   * @param socket A connected `node:net` or `node:tls` socket.
   */
  constructor(socket: Socket) {
    this.#socket = socket;
    socket.on("data", this.#onData);
    socket.on("error", this.#onError);
    socket.on("close", this.#onClose);
    if (socket.closed) this.#onClose();
  }

  read(p: Uint8Array): Promise<number | null> {
    if (this.#reader !== undefined) {
      return Promise.reject(new Deno.errors.Busy("Cannot read: a read is already pending"));
    }
    if (this.#buffered > 0) return Promise.resolve(this.#take(p));
    if (this.#closed) return this.#hasError ? Promise.reject(this.#error) : Promise.resolve(null);
    if (p.length === 0) return Promise.resolve(0);
    return new Promise((resolve, reject) => this.#reader = { p, resolve, reject });
  }

  write(p: Uint8Array): Promise<number> {
    if (this.#closed || this.#socket.destroyed) {
      return Promise.reject(this.#hasError ? this.#error : closedError());
    }
    return new Promise((resolve, reject) => {
      this.#writers.add(reject);
      this.#socket.write(p, (error?: Error | null) => {
        if (!this.#writers.delete(reject)) return;
        if (error) reject(error);
        else resolve(p.length);
      });
    });
  }

  close(): void {
    this.#socket.destroy();
  }

  unref(): void {
    this.#socket.unref();
  }

  ref(): void {
    this.#socket.ref();
  }

  /** Copies queued bytes into `p`; resumes the socket once the queue is short again. */
  #take(p: Uint8Array): number {
    let n = 0;
    while (n < p.length && this.#chunks.length > 0) {
      const chunk = this.#chunks[0];
      const count = Math.min(p.length - n, chunk.length - this.#offset);
      p.set(chunk.subarray(this.#offset, this.#offset + count), n);
      n += count;
      this.#offset += count;
      if (this.#offset === chunk.length) {
        this.#chunks.shift();
        this.#offset = 0;
      }
    }
    this.#buffered -= n;
    if (this.#paused && this.#buffered <= READ_LOW_WATER_BYTES && !this.#closed) {
      this.#paused = false;
      this.#socket.resume();
    }
    return n;
  }

  #onData = (chunk: Uint8Array): void => {
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    const reader = this.#reader;
    if (reader !== undefined) {
      this.#reader = undefined;
      reader.resolve(this.#take(reader.p));
    }
    if (!this.#paused && this.#buffered >= READ_HIGH_WATER_BYTES) {
      this.#paused = true;
      this.#socket.pause();
    }
  };

  #onError = (error: Error): void => {
    if (!this.#hasError) {
      this.#hasError = true;
      this.#error = error;
    }
    // The socket is being destroyed; the reader settles on `close`, once the handle is gone.
  };

  /**
   * End of stream and errors reach the reader only here, once the handle is released (on a peer
   * FIN the socket ends its own side too, `allowHalfOpen` being off, and then closes).
   */
  #onClose = (): void => {
    this.#closed = true;
    const reader = this.#reader;
    if (reader !== undefined) {
      this.#reader = undefined;
      if (this.#hasError) reader.reject(this.#error);
      else reader.resolve(null);
    }
    const error = this.#hasError ? this.#error : closedError();
    for (const reject of this.#writers) reject(error);
    this.#writers.clear();
  };
}

function closedError(): Error {
  return new Deno.errors.BadResource("Cannot write: the socket is closed");
}
