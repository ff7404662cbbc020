/**
 * The HTTP/1.1 server: one read loop per connection over `Deno.listen` (TLS: `_tls_server.ts`), request
 * heads parsed strictly (`request_head.ts`), bodies read only as the handler pulls them
 * (Content-Length or chunked), answers written with the framing the server chooses (`reply.ts`),
 * keep-alive and pipelining, `Expect: 100-continue`, WebSocket upgrades handed the raw
 * connection, and the timeouts `Deno.serve` lacks: a request head must be complete within
 * `headerTimeout` of its first byte (else `408`), and a kept-alive connection idle for
 * `idleTimeout` is closed.
 *
 * Why not `Deno.serve`: per request it builds a `Request`, `Headers` and body streams and reads
 * the answer back out of a `Response`, three times the CPU of this loop for a small webhook
 * (measured: 26 against 9 µs for a bare echo), and it has neither a head timeout nor a bound on a
 * WebSocket message before it is buffered. HTTP/2 is not served (webhook senders and proxies
 * speak HTTP/1.1 to an origin).
 *
 * @module
 */
import { concat, encoder, writeLatin1 } from "./_bytes.ts";
import { Connection } from "./_conn.ts";
import { tlsServerConn, tlsServerContext } from "./_tls_server.ts";
import type { ByteConn } from "./byte_conn.ts";
import { type BodyOwner, Http1Body } from "./body.ts";
import { Http1Error } from "./errors.ts";
import { findHeadEnd } from "./head.ts";
import { Reply, type ReplyHead, replyHead } from "./reply.ts";
import { parseRequestHead, type RequestHead, RequestHeadError } from "./request_head.ts";
import { type BodyReader, ServerRequest, type UpgradeOptions } from "./server_request.ts";
import { websocketAccept } from "./ws/framing.ts";
import type { SecureContext } from "node:tls";

/** What a handler answers with: a {@linkcode Reply}, or a `Response` (read whole). */
export type ServerAnswer = Reply | Response;

/** Answers one request. */
export type ServerHandler = (request: ServerRequest) => ServerAnswer | Promise<ServerAnswer>;

/** A request refused before a handler saw it, or a connection closed for a timeout. */
export interface RefusedConnection {
  /** The peer's address. */
  peer: string;
  /** The status sent (400, 408, 431, 501, 505). */
  status: number;
  /** Why. */
  message: string;
}

/** Options for {@linkcode serveHttp1}. */
export interface ServeHttp1Options {
  /** Address to listen on. */
  hostname: string;
  /** Port (0 picks one). */
  port: number;
  /** Serve TLS with this certificate and key (PEM). */
  tls?: { cert: string; key: string };
  /** A request head must be complete within this many ms of its first byte; 0: no limit. */
  headerTimeout: number;
  /**
   * Close a kept-alive connection idle between requests for this many ms, and one whose sender
   * has not taken any of its answer for as long (it stopped reading); 0: never.
   */
  idleTimeout: number;
  /** Largest request head (request line and headers) in bytes; a larger one gets `431`. */
  maxHeadSize: number;
  /** Answers each request. */
  handler: ServerHandler;
  /**
   * Answers a request whose handler threw, and reports errors writing an answer's body
   * (`request` is then set, and the return value ignored).
   */
  onError: (error: unknown, request: ServerRequest | undefined) => ServerAnswer;
  /** Told of each request refused before its handler, and of each head timeout. */
  onRefused?: (refused: RefusedConnection) => void;
}

/** A running server. */
export interface Http1Server {
  /** The bound address. */
  readonly addr: Deno.NetAddr;
  /** Connections open (upgraded ones excluded: their sockets own them). */
  readonly connections: number;
  /** Resolves once the server has stopped. */
  readonly finished: Promise<void>;
  /**
   * Stops accepting, closes idle connections, lets exchanges in progress finish (their
   * connections then close), and resolves once none is left.
   */
  shutdown(): Promise<void>;
}

/**
 * First read buffer of a connection: a typical webhook's head and small body in one read, and
 * all an idle kept-alive connection holds; it grows (×4) while reads fill it.
 */
const SMALL_READ_BUFFER_BYTES = 4 * 1024;
/** Largest read buffer for bodies (a request head may need more: it gets `maxHeadSize`). */
const READ_BUFFER_BYTES = 64 * 1024;
/** Sweeps per timeout period: a timeout fires within 1¼ of its value. */
const SWEEPS_PER_TIMEOUT = 4;
/** Left-over request body bytes read and discarded to keep a connection (else it closes). */
const DISCARD_LIMIT = 64 * 1024;
/** A chunk of a streamed answer is copied behind its chunk header up to this size. */
const COALESCE_LIMIT = 16 * 1024;
/**
 * Wait after a failed accept (out of file descriptors: the connection stays in the listen
 * backlog) before the next, so the loop neither ends nor spins while descriptors are short.
 */
const ACCEPT_RETRY_DELAY = 100;

/** A request body's chunk lines must end in CRLF (one object for every request). */
const STRICT_BODY = { strict: true } as const;

const CONTINUE = encoder.encode("HTTP/1.1 100 Continue\r\n\r\n");
const LAST_CHUNK = encoder.encode("0\r\n\r\n");
const CRLF = encoder.encode("\r\n");

/** Where a connection is, for the timeout sweep. */
const enum Phase {
  /** Waiting for (the rest of) a request head: the head timeout runs. */
  Head,
  /** Kept alive between requests: the idle timeout runs. */
  Idle,
  /** A request is being handled or answered: no timeout of ours. */
  Busy,
  /**
   * Answered; skipping the rest of a small unread body before the next request: the sender owes
   * those bytes as it owes a head, so the head timeout (else the idle timeout) bounds the wait.
   */
  Discard,
  /**
   * Refused (400, 408, 431…): the refusal is being written, then the connection closes. A peer
   * that takes no bytes (it stopped reading, or its TLS handshake never finished, so nothing can
   * be written) gets the head timeout (else the idle timeout) more, then is closed anyway.
   */
  Closing,
}

/**
 * Starts the server.
 * @param options Address, limits, handler.
 * @returns Its handle.
 * @throws {Deno.errors.AddrInUse} When the port is taken.
 */
export function serveHttp1(options: ServeHttp1Options): Http1Server {
  const tls = options.tls && tlsServerContext(options.tls);
  const listener = Deno.listen({ hostname: options.hostname, port: options.port });
  const server = new Server(listener, options, tls);
  return server;
}

class Server implements Http1Server {
  readonly addr: Deno.NetAddr;
  readonly finished: Promise<void>;
  readonly options: ServeHttp1Options;
  readonly scheme: "http" | "https";
  /** TLS for each connection, when served. */
  readonly tls: SecureContext | undefined;
  readonly open = new Set<ServerConnection>();
  draining = false;
  #listener: Deno.Listener;
  #sweep: ReturnType<typeof setInterval> | undefined;
  #accepting: Promise<void>;
  #allClosed = Promise.withResolvers<void>();
  #date = "";
  #dateSecond = -1;

  constructor(
    listener: Deno.Listener,
    options: ServeHttp1Options,
    tls: SecureContext | undefined,
  ) {
    this.#listener = listener;
    this.options = options;
    this.addr = listener.addr as Deno.NetAddr;
    this.tls = tls;
    this.scheme = tls ? "https" : "http";
    const shortest = Math.min(
      options.headerTimeout || Infinity,
      options.idleTimeout || Infinity,
    );
    if (shortest !== Infinity) {
      this.#sweep = setInterval(
        () => this.#expire(),
        Math.max(1, Math.floor(shortest / SWEEPS_PER_TIMEOUT)),
      );
    }
    this.#accepting = this.#accept();
    this.finished = this.#accepting.then(() => this.#allClosed.promise);
  }

  get connections(): number {
    return this.open.size;
  }

  /** The `date` header value, computed once a second. */
  get date(): string {
    const second = Math.floor(Date.now() / 1000);
    if (second !== this.#dateSecond) {
      this.#dateSecond = second;
      this.#date = new Date(second * 1000).toUTCString();
    }
    return this.#date;
  }

  async #accept(): Promise<void> {
    for (;;) {
      let conn: Deno.Conn;
      try {
        conn = await this.#listener.accept();
      } catch (error) {
        // The listener was closed.
        if (this.draining || error instanceof Deno.errors.BadResource) return;
        // Out of file descriptors (EMFILE) or the like: the listener still works.
        await new Promise((resolve) => setTimeout(resolve, ACCEPT_RETRY_DELAY));
        continue;
      }
      if (this.draining) {
        closeQuietly(conn);
        continue;
      }
      const connection = new ServerConnection(this, conn);
      this.open.add(connection);
      connection.run().finally(() => this.forget(connection));
    }
  }

  forget(connection: ServerConnection): void {
    if (!this.open.delete(connection)) return;
    if (this.draining && this.open.size === 0) this.#allClosed.resolve();
  }

  #expire(): void {
    const now = performance.now();
    const { headerTimeout, idleTimeout } = this.options;
    for (const connection of this.open) {
      const waited = now - connection.since;
      if (connection.phase === Phase.Head && headerTimeout > 0 && waited >= headerTimeout) {
        connection.timeOutHead(headerTimeout);
      } else if (connection.phase === Phase.Idle && idleTimeout > 0 && waited >= idleTimeout) {
        connection.close();
      } else if (
        (connection.phase === Phase.Discard || connection.phase === Phase.Closing) &&
        waited >= (headerTimeout || idleTimeout)
      ) {
        connection.close();
      } else if (
        idleTimeout > 0 && connection.writingSince >= 0 &&
        now - connection.writingSince >= idleTimeout
      ) {
        // The sender has not taken a byte of its answer for an idle timeout: it stopped reading.
        connection.close();
      }
    }
  }

  shutdown(): Promise<void> {
    if (!this.draining) {
      this.draining = true;
      clearInterval(this.#sweep);
      closeQuietly(this.#listener);
      for (const connection of this.open) if (connection.phase !== Phase.Busy) connection.close();
      if (this.open.size === 0) this.#allClosed.resolve();
    }
    return this.finished;
  }
}

/** One accepted connection and its request loop. */
class ServerConnection implements BodyOwner {
  readonly #server: Server;
  readonly #conn: Connection;
  readonly #peer: string;
  phase: Phase = Phase.Head;
  since = performance.now();
  #request: ServerRequest | undefined;
  #closed = false;
  #upgraded = false;

  constructor(server: Server, conn: Deno.Conn) {
    this.#server = server;
    if ("setNoDelay" in conn) (conn as Deno.TcpConn).setNoDelay(true);
    this.#conn = new Connection(
      server.tls ? tlsServerConn(conn, server.tls) : conn,
      "",
      SMALL_READ_BUFFER_BYTES,
      Math.max(READ_BUFFER_BYTES, server.options.maxHeadSize + 1),
    );
    this.#peer = (conn.remoteAddr as Deno.NetAddr).hostname;
  }

  /** Serves requests until the connection closes. */
  async run(): Promise<void> {
    const c = this.#conn;
    try {
      while (!this.#closed) {
        const head = await this.#readHead();
        if (!head) return;
        this.phase = Phase.Busy;
        const keepAlive = await this.#exchange(head);
        if (this.#upgraded) return;
        if (!keepAlive || this.#server.draining) return;
        c.shrink();
        this.phase = c.start < c.end ? Phase.Head : Phase.Idle;
        this.since = performance.now();
      }
    } catch (error) {
      this.#request?._abort(error);
      this.#failUpgrade(error);
    } finally {
      if (!this.#upgraded) this.close();
    }
  }

  /**
   * `performance.now()` when the write in progress began, -1 when none is: a sender that stops
   * reading its answer leaves it pending (see {@linkcode Server}'s sweep).
   */
  writingSince = -1;

  /** Writes part of an answer, timing each socket write for the stalled-reader sweep. */
  async #send(bytes: Uint8Array): Promise<void> {
    const conn = this.#conn.conn;
    try {
      for (let offset = 0; offset < bytes.length;) {
        this.writingSince = performance.now();
        offset += await conn.write(offset === 0 ? bytes : bytes.subarray(offset));
      }
    } finally {
      this.writingSince = -1;
    }
  }

  /** Closes the connection (a read or write in progress fails). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#conn.destroy();
    this.#server.forget(this);
  }

  /** The 408 of an expired head timeout, while it is written; the read loop then stops. */
  #timedOut: Promise<void> | undefined;

  /** The head timeout expired: answers 408 and closes. */
  timeOutHead(timeout: number): void {
    const message = `The request head did not arrive within ${timeout} ms`;
    this.#timedOut = this.#refuse({ peer: this.#peer, status: 408, message })
      .finally(() => this.close());
  }

  /** Reads the next request head; `undefined` at a clean end of the connection. */
  async #readHead(): Promise<RequestHead | undefined> {
    const c = this.#conn;
    const maxHeadSize = this.#server.options.maxHeadSize;
    // Pipelined bytes may start with one (a CRLF some clients send after a body).
    skipLeadingBlankLines(c);
    let scanFrom = c.start;
    for (;;) {
      const end = findHeadEnd(c.buf, scanFrom, c.end);
      if (end >= 0 && end - c.start <= maxHeadSize) {
        const bytes = c.buf.subarray(c.start, end);
        c.start = end;
        try {
          return parseRequestHead(bytes);
        } catch (error) {
          if (!(error instanceof RequestHeadError)) throw error;
          await this.#refuse({ peer: this.#peer, status: error.status, message: error.message });
          return undefined;
        }
      }
      if (end >= 0 || c.end - c.start > maxHeadSize) {
        await this.#refuse({
          peer: this.#peer,
          status: 431,
          message: `The request head exceeds ${maxHeadSize} bytes`,
        });
        return undefined;
      }
      // A blank line before a request line is tolerated (RFC 9112 §2.2).
      scanFrom = Math.max(c.start, c.end - 3);
      const offset = c.start;
      if (!(await c.fill())) return undefined;
      if (this.#closed) return undefined;
      if (this.#timedOut) {
        // The rest of the head came while the 408 was going out: the sender was refused.
        await this.#timedOut;
        return undefined;
      }
      scanFrom -= offset - c.start;
      if (this.phase === Phase.Idle) {
        this.phase = Phase.Head;
        this.since = performance.now();
      }
      skipLeadingBlankLines(c);
      scanFrom = Math.max(scanFrom, c.start);
    }
  }

  /** Handles one request and writes its answer; returns whether the connection may be reused. */
  async #exchange(head: RequestHead): Promise<boolean> {
    const server = this.#server;
    const c = this.#conn;
    const http1Body = head.bodyLength === 0 ? undefined : new Http1Body(
      this,
      c,
      head.bodyLength < 0 ? "chunked" : "length",
      head.bodyLength,
      STRICT_BODY,
    );
    const body = http1Body &&
      new RequestBody(http1Body, head.bodyLength, head.expectContinue ? c : undefined);
    const request = new ServerRequest({
      method: head.method,
      target: head.target,
      headers: head.headers,
      host: head.host,
      scheme: server.scheme,
      peer: this.#peer,
      body: body ?? null,
      bodyLength: head.bodyLength,
      upgrade: head.upgrade ? (req, options) => this.#upgrade(req, head, options) : undefined,
    });
    this.#request = request;
    if (!http1Body && !head.upgrade) this.#watchForClose();
    let answer: ServerAnswer;
    try {
      answer = await server.options.handler(request);
    } catch (error) {
      answer = server.options.onError(error, undefined);
    }
    const reply = answer instanceof Reply ? answer : await replyFromResponse(answer);
    let keepAlive = head.keepAlive && !server.draining;
    // An unread body: the connection can be kept only if the rest is small enough to skip.
    if (body && !body.done && (head.expectContinue && !body.continued || !body.skippable())) {
      keepAlive = false;
    }
    const reusable = await this.#write(reply, head, keepAlive);
    this.#request = undefined;
    if (!reusable) return false;
    if (body && !body.done) {
      if (!body.skippable()) return false;
      this.phase = Phase.Discard;
      this.since = performance.now();
      return await body.discard();
    }
    return true;
  }

  /**
   * Writes an answer.
   * @returns Whether the connection can take another request: false when it failed on the way or
   * the answer closes it.
   */
  async #write(
    reply: Reply,
    head: RequestHead,
    keepAlive: boolean,
  ): Promise<boolean> {
    const c = this.#conn;
    const request = this.#request!;
    const prepared = replyHead(reply, {
      method: head.method,
      minorVersion: head.minorVersion,
      keepAlive,
      date: this.#server.date,
    });
    const body = reply.body;
    try {
      const text = prepared.text;
      const whole = body instanceof Uint8Array && prepared.framing !== "none";
      if (whole && body.length <= COALESCE_LIMIT) {
        // Head and body in one write, from the connection's reused write buffer.
        const out = c.writeBuffer(text.length + body.length);
        writeLatin1(text, out, 0);
        out.set(body, text.length);
        await this.#send(out);
      } else {
        const out = c.writeBuffer(text.length);
        writeLatin1(text, out, 0);
        await this.#send(out);
        if (whole) await this.#send(body);
        else if (body !== null && !(body instanceof Uint8Array)) {
          if (prepared.framing === "none") {
            // A HEAD answer or a bodiless status: the stream is not wanted (it is let go).
            await body[Symbol.asyncIterator]().return?.();
          } else if (!(await this.#writeStream(body, prepared, request))) {
            return false;
          }
        }
      }
    } catch (error) {
      request._abort(error);
      this.#failUpgrade(error);
      return false;
    }
    if (reply.status === 101) this.#upgraded = this.#pendingUpgrade !== undefined;
    if (this.#upgraded) this.#handOver();
    else if (this.#pendingUpgrade) {
      // Only an upgrade's answer makes the error: building one (a stack trace) per request costs.
      this.#failUpgrade(new Error(`The upgrade was answered with ${reply.status}, not 101`));
    }
    return !prepared.close;
  }

  /** Writes a streamed body; false when it failed (the connection must close). */
  async #writeStream(
    body: AsyncIterable<Uint8Array>,
    prepared: ReplyHead,
    request: ServerRequest,
  ): Promise<boolean> {
    let sent = 0;
    try {
      for await (const chunk of body) {
        if (chunk.length === 0) continue;
        sent += chunk.length;
        if (prepared.framing === "chunked") {
          const size = encoder.encode(`${chunk.length.toString(16)}\r\n`);
          if (chunk.length <= COALESCE_LIMIT) {
            await this.#send(concat([size, chunk, CRLF]));
          } else {
            await this.#send(size);
            await this.#send(chunk);
            await this.#send(CRLF);
          }
        } else {
          if (prepared.framing === "length" && sent > prepared.length) {
            throw new Http1Error("protocol", "The answer's body is longer than its Content-Length");
          }
          await this.#send(chunk);
        }
      }
      if (prepared.framing === "chunked") await this.#send(LAST_CHUNK);
      if (prepared.framing === "length" && sent !== prepared.length) {
        throw new Http1Error("protocol", "The answer's body is shorter than its Content-Length");
      }
      return prepared.framing !== "close";
    } catch (error) {
      request._abort(error);
      this.#server.options.onError(error, request);
      return false;
    }
  }

  #pendingUpgrade:
    | PromiseWithResolvers<{ conn: ByteConn; initial: Uint8Array }>
    | undefined;

  #upgrade(request: ServerRequest, head: RequestHead, options: UpgradeOptions) {
    const key = request.get("sec-websocket-key");
    if (
      head.method !== "GET" || head.upgrade?.toLowerCase() !== "websocket" || key === null ||
      request.get("sec-websocket-version") !== "13"
    ) {
      throw new TypeError("Not a WebSocket upgrade request (RFC 6455 §4.2.1)");
    }
    if (this.#pendingUpgrade) throw new TypeError("The connection is already being upgraded");
    const written = Promise.withResolvers<{ conn: ByteConn; initial: Uint8Array }>();
    // Rejected when the 101 is not written (see #failUpgrade): never an unhandled rejection.
    written.promise.catch(() => {});
    this.#pendingUpgrade = written;
    const reply = new Reply(101, [
      ["upgrade", "websocket"],
      ["connection", "Upgrade"],
      ["sec-websocket-accept", websocketAccept(key)],
      ...(options.headers ?? []),
    ]);
    return { reply, onWritten: written.promise };
  }

  /**
   * The upgrade asked for will not happen (its 101 failed to go out, another answer was sent, or
   * the connection ended): its owner is told, so what waits for the socket can let go.
   */
  #failUpgrade(error: unknown): void {
    this.#pendingUpgrade?.reject(error);
    this.#pendingUpgrade = undefined;
  }

  /** Gives the connection and the bytes after the head to the upgrade's owner. */
  #handOver(): void {
    const c = this.#conn;
    this.#server.forget(this);
    this.#pendingUpgrade!.resolve({
      conn: c.conn,
      initial: c.buf.slice(c.start, c.end),
    });
    this.#pendingUpgrade = undefined;
  }

  /**
   * Keeps a read pending while the handler runs, so a sender that goes away is noticed (the
   * request's signal aborts); the bytes it brings are the next request's.
   */
  #watchForClose(): void {
    const c = this.#conn;
    if (c.pending || c.start < c.end || this.#closed) return;
    c.shrink();
    c.start = c.end = 0;
    const pending = c.conn.read(c.buf.subarray(0));
    c.pending = pending;
    const request = this.#request;
    // The sender going away (end of input, or an error) ends the exchange: its answer can no
    // longer be delivered (a half-closed sender is taken as gone, as by Deno.serve).
    const gone = (reason: unknown) => {
      if (!request || this.#request !== request) return;
      request._abort(reason);
      this.close();
    };
    pending.then((n) => {
      if (n === null) gone(new Deno.errors.ConnectionReset("The sender closed the connection"));
    }, gone);
  }

  async #refuse(refused: RefusedConnection): Promise<void> {
    this.phase = Phase.Closing;
    this.since = performance.now();
    this.#server.options.onRefused?.(refused);
    const reply = Reply.json(refused.status, { error: refused.message });
    const prepared = replyHead(reply, {
      method: "GET",
      minorVersion: 1,
      keepAlive: false,
      date: this.#server.date,
    });
    try {
      const body = reply.body as Uint8Array;
      const out = new Uint8Array(prepared.text.length + body.length);
      out.set(body, writeLatin1(prepared.text, out, 0));
      await this.#conn.writeAll(out);
    } catch {
      // The peer is gone.
    }
  }

  // BodyOwner: the request body's end, and its errors.

  /** @internal The request body was read whole: watch the connection while the handler runs. */
  _maybeRelease(): void {
    if (this.#request) this.#watchForClose();
  }

  /** @internal Errors reading the request body reach the handler as they are. */
  _mapError(_conn: Connection, error: unknown): unknown {
    this.#request?._abort(error);
    return error;
  }
}

/**
 * A request body over the connection, sending `100 Continue` before the first read if asked.
 * Cancelling it stops the handler's reading but leaves the connection to the server, which
 * writes the answer and then skips the rest of the body or closes the connection.
 */
class RequestBody implements BodyReader {
  readonly #body: Http1Body;
  #continueOn: Connection | undefined;
  #remaining: number;
  #reading = false;
  #cancelled = false;

  /**
   * @param body The body on the connection.
   * @param length Its declared length, -1 when chunked.
   * @param continueOn Where to send `100 Continue` before the first read, if asked.
   */
  constructor(body: Http1Body, length: number, continueOn: Connection | undefined) {
    this.#body = body;
    this.#continueOn = continueOn;
    this.#remaining = length;
  }

  get done(): boolean {
    return this.#body.done;
  }

  /** Whether `100 Continue` went out (or was not asked for). */
  get continued(): boolean {
    return this.#continueOn === undefined;
  }

  async read(into?: Uint8Array): Promise<Uint8Array | null> {
    if (this.#cancelled) return null;
    const conn = this.#continueOn;
    this.#reading = true;
    try {
      if (conn) {
        this.#continueOn = undefined;
        if (conn.start === conn.end) await conn.writeAll(CONTINUE);
      }
      return await this.#body.read(into);
    } finally {
      this.#reading = false;
    }
  }

  takeBuffered(): Uint8Array | undefined {
    return this.#cancelled ? undefined : this.#body.takeBuffered();
  }

  cancel(): void {
    this.#cancelled = true;
  }

  /**
   * Whether what is left can be read and dropped to keep the connection: a known length within
   * {@linkcode DISCARD_LIMIT}, and no read of the handler's still in progress.
   */
  skippable(): boolean {
    return !this.#reading && this.#remaining >= 0 && this.#remaining <= DISCARD_LIMIT;
  }

  /**
   * Reads and drops the rest; false when the connection failed. The handler's reads get nothing
   * from then on: one still running after its answer (a relay whose far side answered early)
   * would read the connection beside this one, into the same buffer, taking the next request.
   */
  async discard(): Promise<boolean> {
    this.#cancelled = true;
    try {
      while (await this.#body.read());
      return true;
    } catch {
      return false;
    }
  }
}

/** A `Response` as a {@linkcode Reply}: its body read whole (the server's own answers are small). */
async function replyFromResponse(response: Response): Promise<Reply> {
  const headers: [string, string][] = [];
  for (const [name, value] of response.headers) headers.push([name, value]);
  const body = response.body === null ? null : new Uint8Array(await response.arrayBuffer());
  return new Reply(response.status, headers, body);
}

/** Drops CRLFs left before a request line (RFC 9112 §2.2). */
function skipLeadingBlankLines(c: Connection): void {
  while (c.start < c.end && (c.buf[c.start] === 13 || c.buf[c.start] === 10)) {
    if (c.buf[c.start] === 13 && c.start + 1 >= c.end) return;
    c.start++;
  }
}

function closeQuietly(closer: { close(): void }): void {
  try {
    closer.close();
  } catch {
    // Already closed.
  }
}
