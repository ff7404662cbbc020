/**
 * A minimal RFC 6455 WebSocket client on `Deno.connect` and `Deno.startTls` (or `node:tls` when
 * certificate verification is switched off with `insecure`).
 *
 * Why not the built-in `new WebSocket()`: in Deno 2.9.6 it turns `TCP_NODELAY` off, so every small
 * frame can wait ~40 ms for a delayed ACK, and it cannot trust a private CA per connection. This
 * client sets `setNoDelay(true)`, takes `caCerts` per connection, coalesces the frames queued in
 * one tick into one socket write, and never rejects a promise nobody awaits: every way a
 * connection can end resolves {@linkcode WsClient.closed}.
 *
 * Not supported, on purpose: extensions (permessage-deflate), subprotocol negotiation, UTF-8
 * validation of text messages (they are handed over as bytes), HTTP proxies.
 *
 * @example
 * ```ts ignore
 * const ws = await connectWebSocket("wss://tunnel.example/ws/abc", {
 *   headers: { authorization: "Bearer t0ken" },
 * });
 * ws.onMessage = (data) => console.log(data.length);
 * ws.send(new Uint8Array([1, 2, 3]));
 * await ws.drained();
 * ws.close();
 * console.log(await ws.closed);
 * ```
 *
 * @module
 */

import { type ByteConn, connectTlsInsecure } from "../http1/mod.ts";

// ---- Defaults and limits (named once, with the reason for each value) ----

/** How long the TCP + TLS + HTTP upgrade may take: beyond this the path is as good as dead. */
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
/** Largest incoming message: a 1 MiB payload plus room for the tunnel's own message header. */
const DEFAULT_MAX_MESSAGE_SIZE = 1024 * 1024 + 64;
/** Silence before we ping; the same again without a byte received and the peer is dead. */
const DEFAULT_IDLE_TIMEOUT_MS = 15_000;
/** How long a close handshake (or flushing the close frame when failing) may take. */
const DEFAULT_CLOSE_TIMEOUT_MS = 5_000;
/** Cap on the HTTP response head; real upgrade answers are a few hundred bytes. */
const MAX_RESPONSE_HEAD_BYTES = 16 * 1024;
/** Cap on the body of a refused upgrade that we keep for the error message. */
const MAX_ERROR_BODY_BYTES = 4 * 1024;
/** Raw bytes read for a refused upgrade's body: room for chunked-encoding overhead. */
const MAX_ERROR_BODY_RAW_BYTES = 2 * MAX_ERROR_BODY_BYTES;
/** Reusable read buffer: holds many small frames per read syscall. */
const READ_BUFFER_BYTES = 64 * 1024;
/**
 * Payloads at least this large that are not complete in the read buffer get their own buffer and
 * the rest is read straight into it (no second copy). Smaller ones are compacted in the buffer.
 */
const DIRECT_READ_MIN_BYTES = 16 * 1024;
/**
 * Queued frames are concatenated into one write up to this many bytes; a frame larger than this
 * is written on its own, since copying it would cost more than the syscall it saves.
 */
const WRITE_BATCH_MAX_BYTES = 256 * 1024;
/** Random bytes fetched at once for frame masks, so a small frame costs no extra crypto op. */
const MASK_POOL_BYTES = 4 * 1024;

// ---- RFC 6455 constants ----

/** Appended to the key before hashing (RFC 6455 §1.3). */
const WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/** Bytes of randomness in Sec-WebSocket-Key (RFC 6455 §4.1). */
const KEY_BYTES = 16;
const MASK_BYTES = 4;
/** Largest header: 2 fixed + 8 extended length + 4 mask. */
const MAX_FRAME_HEADER_BYTES = 14;
const MAX_CONTROL_PAYLOAD_BYTES = 125;
const MAX_CLOSE_REASON_BYTES = MAX_CONTROL_PAYLOAD_BYTES - 2;
const LENGTH_7_MAX = 125;
const LENGTH_16_MARK = 126;
const LENGTH_64_MARK = 127;
const UINT16_MAX = 0xffff;
const UINT32_RANGE = 2 ** 32;
const FIN_BIT = 0x80;
const RSV_BITS = 0x70;
const OPCODE_BITS = 0x0f;
const MASK_BIT = 0x80;
const LENGTH_BITS = 0x7f;
const CONTROL_BIT = 0x08;

const Opcode = {
  Continuation: 0x0,
  Text: 0x1,
  Binary: 0x2,
  Close: 0x8,
  Ping: 0x9,
  Pong: 0xa,
} as const;

const CloseCode = {
  Normal: 1000,
  GoingAway: 1001,
  ProtocolError: 1002,
  NoStatus: 1005,
  Abnormal: 1006,
  InvalidData: 1007,
  TooBig: 1009,
  InternalError: 1011,
} as const;

const HTTP_SWITCHING_PROTOCOLS = 101;
const DEFAULT_PORT = { ws: 80, wss: 443 } as const;
/** Headers the handshake owns; `host` may be overridden, these may not. */
const RESERVED_HEADERS = new Set([
  "upgrade",
  "connection",
  "sec-websocket-key",
  "sec-websocket-version",
  "sec-websocket-extensions",
]);

const encoder = new TextEncoder();
const utf8Strict = new TextDecoder("utf-8", { fatal: true });
const utf8Lenient = new TextDecoder();
const latin1 = new TextDecoder("latin1");

// ---- Public API ----

/** Options for {@linkcode connectWebSocket}. */
export interface WsClientOptions {
  /**
   * Extra headers for the upgrade request (e.g. `Authorization`, `X-Channel-Secret`, the protocol
   * version). `Host` may be overridden; the handshake's own headers may not.
   * @default {{}}
   */
  headers?: HeadersInit;
  /**
   * PEM certificates trusted in addition to the system roots, for `wss://` with a private CA.
   * @default {[]}
   */
  caCerts?: string[];
  /**
   * For `wss://`: do not verify the server's certificate at all (self-signed development servers;
   * anyone on the path can then read and alter the traffic). `caCerts` is ignored. The TLS socket
   * is then a `node:tls` one, as `Deno.startTls` cannot skip verification per connection, so
   * socket errors are Node-style (`err.code === "ECONNREFUSED"`) rather than `Deno.errors.*`.
   * @default {false}
   */
  insecure?: boolean;
  /**
   * Milliseconds the TCP connect, TLS and HTTP upgrade may take together; `0` disables it.
   * @default {10000}
   */
  connectTimeout?: number;
  /**
   * Aborts the connect (the promise rejects with `signal.reason`); after that, closes the
   * connection with code 1001.
   * @default {undefined}
   */
  signal?: AbortSignal;
  /**
   * Largest incoming message in bytes (after reassembly); a larger one closes with 1009.
   * @default {1048640} (1 MiB + 64)
   */
  maxMessageSize?: number;
  /**
   * Milliseconds without receiving a single byte after which a ping is sent; after twice this
   * silence the connection is dropped and {@linkcode WsClient.closed} resolves with code 1006.
   * `0` disables it.
   * @default {15000}
   */
  idleTimeout?: number;
  /**
   * Milliseconds the closing handshake may take before the TCP connection is dropped.
   * @default {5000}
   */
  closeTimeout?: number;
}

/** How a connection ended; the value {@linkcode WsClient.closed} resolves with. */
export interface WsCloseInfo {
  /**
   * The close code: the peer's code after a close handshake (1005 if it sent none), the code we
   * sent when we failed the connection (1002 protocol error, 1007 bad close reason, 1009 message
   * too big, 1011 `onMessage` threw), or 1006 when the connection was lost (EOF, socket error,
   * idle timeout, close timeout).
   */
  code: number;
  /** The close reason, or a description of why the connection was lost or failed. */
  reason: string;
  /** `true` only if a close frame was received from the peer. */
  wasClean: boolean;
  /** The underlying error, if one ended the connection (socket error, `onMessage` threw). */
  error?: unknown;
}

/** Options for {@linkcode WsHandshakeError}. */
export interface WsHandshakeErrorOptions extends ErrorOptions {
  /** HTTP status of the answer; `0` if there was no parsable status line. */
  status: number;
  /**
   * The first 4 KiB of the answer's body, decoded as UTF-8.
   * @default {""}
   */
  body?: string;
}

/**
 * The server did not accept the WebSocket upgrade: it answered with a status other than 101, sent
 * an invalid answer, or closed the connection during the handshake.
 *
 * @example
 * ```ts ignore
 * try {
 *   await connectWebSocket("ws://127.0.0.1:8080/ws/abc");
 * } catch (err) {
 *   if (err instanceof WsHandshakeError) console.error(`${err.status} ${err.body}`);
 * }
 * ```
 */
export class WsHandshakeError extends Error {
  /** HTTP status of the answer (e.g. 401); `0` if there was no parsable status line. */
  readonly status: number;
  /** Up to 4 KiB of the answer's body, e.g. `{"error":"unknown channel"}`. */
  readonly body: string;

  /**
   * Creates the error.
   * @param message What went wrong.
   * @param options Status, body and cause.
   */
  constructor(message: string, options: WsHandshakeErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "WsHandshakeError";
    this.status = options.status;
    this.body = options.body ?? "";
  }
}

/** An open WebSocket connection returned by {@linkcode connectWebSocket}. */
export interface WsClient {
  /**
   * Queues one binary message; never blocks. Frames are written in order, those queued in the
   * same tick in one socket write. After {@linkcode WsClient.close} (or once closed) the data is
   * dropped silently. The bytes are copied (masked) at once, so `data` may be reused.
   * @param data The message payload.
   */
  send(data: Uint8Array): void;
  /** Bytes queued but not yet written to the socket; check it for backpressure. */
  readonly bufferedAmount: number;
  /**
   * Called with every message (binary, or text as UTF-8 bytes), reassembled from its fragments.
   * Messages arriving before a handler is set are kept and handed to the first one set. If it
   * throws, the connection is closed with 1011 and the error is in {@linkcode WsCloseInfo.error}.
   */
  onMessage: (data: Uint8Array) => void;
  /** Resolves once, when the socket is closed and all its operations have ended; never rejects. */
  readonly closed: Promise<WsCloseInfo>;
  /**
   * Starts the closing handshake after the queued messages; the TCP connection is dropped when
   * the peer answers or after `closeTimeout`. Does nothing if closing already.
   * @param code Close code: 1000–1003, 1007–1014 or 3000–4999.
   * @param reason At most 123 UTF-8 bytes.
   * @throws {RangeError} If the code or reason is not allowed.
   */
  close(code?: number, reason?: string): void;
  /**
   * Resolves when {@linkcode WsClient.bufferedAmount} is at most `lowWater`, or once closed.
   * @param lowWater Threshold in bytes.
   */
  drained(lowWater?: number): Promise<void>;
}

/**
 * Opens a WebSocket connection: TCP with `TCP_NODELAY`, TLS for `wss://` (ALPN `http/1.1`, with
 * `caCerts` trusted, or unverified with `insecure`), then the HTTP/1.1 upgrade, verifying
 * `Sec-WebSocket-Accept`.
 *
 * @param url A `ws://` or `wss://` URL (`http://`/`https://` are accepted as aliases); path and
 *   query are sent, a fragment is ignored.
 * @param options Headers, CA certificates, timeouts and limits.
 * @returns The open connection.
 * @throws {TypeError} If the URL or a header is invalid.
 * @throws {RangeError} If an option is out of range.
 * @throws {WsHandshakeError} If the server refuses or botches the upgrade.
 * @throws {DOMException} `signal.reason` if aborted, a `TimeoutError` after `connectTimeout`.
 * @throws {Deno.errors.ConnectionRefused} And other socket or TLS errors (e.g.
 *   `Deno.errors.InvalidData` for an untrusted certificate); with `insecure` and `wss://`, Node
 *   socket errors instead.
 *
 * @example
 * ```ts ignore
 * const ws = await connectWebSocket("ws://127.0.0.1:8080/ws/abc?v=1", { idleTimeout: 5000 });
 * ws.onMessage = (data) => ws.send(data);
 * ```
 */
export async function connectWebSocket(
  url: string | URL,
  options: WsClientOptions = {},
): Promise<WsClient> {
  const target = parseWsUrl(url);
  const config = resolveOptions(options);
  const key = toBase64(crypto.getRandomValues(new Uint8Array(KEY_BYTES)));
  const request = encoder.encode(buildRequest(target, key, options.headers));
  options.signal?.throwIfAborted();

  const controller = new AbortController();
  const signal = controller.signal;
  const onUserAbort = () => controller.abort(options.signal?.reason);
  options.signal?.addEventListener("abort", onUserAbort, { once: true });
  const timer = config.connectTimeout > 0
    ? setTimeout(
      () =>
        controller.abort(
          new DOMException(
            `Cannot connect to "${target.display}": timed out after ${config.connectTimeout} ms`,
            "TimeoutError",
          ),
        ),
      config.connectTimeout,
    )
    : undefined;
  let conn: ByteConn | undefined;
  const closeConn = () => {
    try {
      conn?.close();
    } catch { /* already closed */ }
  };
  signal.addEventListener("abort", closeConn, { once: true });
  try {
    if (target.tls && config.insecure) {
      conn = await connectTlsInsecure(target.hostname, target.port, { signal });
      signal.throwIfAborted();
    } else {
      const tcp = await Deno.connect({ hostname: target.hostname, port: target.port, signal });
      conn = tcp;
      signal.throwIfAborted();
      tcp.setNoDelay(true);
      if (target.tls) {
        conn = await Deno.startTls(tcp, {
          hostname: target.hostname,
          caCerts: config.caCerts,
          alpnProtocols: ["http/1.1"],
        });
        signal.throwIfAborted();
      }
    }
    await writeAll(conn, request);
    const readBuffer = new Uint8Array(READ_BUFFER_BYTES);
    const { headEnd, end } = await readResponseHead(conn, readBuffer);
    const head = parseResponseHead(readBuffer.subarray(0, headEnd));
    if (head.status !== HTTP_SWITCHING_PROTOCOLS) {
      const body = await readErrorBody(conn, readBuffer.subarray(headEnd, end), head);
      throw new WsHandshakeError(
        `WebSocket upgrade to "${target.display}" refused: status ${head.status}`,
        { status: head.status, body },
      );
    }
    await verifyUpgrade(head, key, target.display);
    signal.throwIfAborted();
    return new Connection(conn, readBuffer, headEnd, end, config, options.signal);
  } catch (err) {
    closeConn();
    if (signal.aborted) throw signal.reason;
    throw err;
  } finally {
    clearTimeout(timer);
    signal.removeEventListener("abort", closeConn);
    options.signal?.removeEventListener("abort", onUserAbort);
  }
}

// ---- Connection ----

interface ResolvedOptions {
  caCerts: string[];
  insecure: boolean;
  connectTimeout: number;
  maxMessageSize: number;
  idleTimeout: number;
  closeTimeout: number;
}

interface DrainWaiter {
  lowWater: number;
  resolve: () => void;
}

const noop = () => {};

/** The {@linkcode WsClient} implementation: a frame reader loop and a write queue on one conn. */
class Connection implements WsClient {
  #conn: ByteConn;
  #config: ResolvedOptions;
  #signal: AbortSignal | undefined;
  #readBuffer: Uint8Array;
  #readDone: Promise<void>;
  #writeDone: Promise<void> = Promise.resolve();

  // Write side.
  #queue: Uint8Array[] = [];
  #buffered = 0;
  #flushing = false;
  #drainWaiters: DrainWaiter[] = [];

  // Read side.
  #handler: ((data: Uint8Array) => void) | undefined;
  #pending: Uint8Array[] = [];
  #fragments: Uint8Array[] = [];
  #fragmentBytes = 0;
  #inFragmentedMessage = false;
  #lastActivity = performance.now();
  #pingedAt = -1;

  // Lifecycle.
  #closeSent = false;
  /** The peer's close frame, once received; nothing is parsed after it. */
  #peerClose: { code: number; reason: string } | undefined;
  #failed = false;
  #finished = false;
  #idleTimer: ReturnType<typeof setTimeout> | undefined;
  #closeTimer: ReturnType<typeof setTimeout> | undefined;
  #resolveClosed!: (info: WsCloseInfo) => void;
  readonly closed: Promise<WsCloseInfo>;

  constructor(
    conn: ByteConn,
    readBuffer: Uint8Array,
    start: number,
    end: number,
    config: ResolvedOptions,
    signal: AbortSignal | undefined,
  ) {
    this.#conn = conn;
    this.#config = config;
    this.#readBuffer = readBuffer;
    this.closed = new Promise((resolve) => this.#resolveClosed = resolve);
    this.#signal = signal;
    signal?.addEventListener("abort", this.#onAbort, { once: true });
    if (config.idleTimeout > 0) this.#armIdle(config.idleTimeout);
    this.#readDone = this.#readLoop(start, end);
  }

  get bufferedAmount(): number {
    return this.#buffered;
  }

  get onMessage(): (data: Uint8Array) => void {
    return this.#handler ?? noop;
  }

  set onMessage(handler: (data: Uint8Array) => void) {
    this.#handler = handler;
    const pending = this.#pending;
    this.#pending = [];
    for (const data of pending) {
      if (!this.#deliver(data)) return;
    }
  }

  send(data: Uint8Array): void {
    if (this.#closeSent || this.#finished) return;
    this.#enqueue(encodeFrame(Opcode.Binary, data), false);
  }

  close(code: number = CloseCode.Normal, reason = ""): void {
    if (!isValidCloseCode(code)) {
      throw new RangeError(
        `Cannot close with code "${code}": use 1000-1003, 1007-1014 or 3000-4999`,
      );
    }
    const reasonBytes = encoder.encode(reason);
    if (reasonBytes.length > MAX_CLOSE_REASON_BYTES) {
      throw new RangeError(
        `Cannot close with reason "${reason}": longer than ${MAX_CLOSE_REASON_BYTES} bytes`,
      );
    }
    if (this.#closeSent || this.#finished) return;
    this.#sendClose(code, reasonBytes);
  }

  drained(lowWater = 0): Promise<void> {
    if (this.#buffered <= lowWater || this.#finished) return Promise.resolve();
    return new Promise((resolve) => this.#drainWaiters.push({ lowWater, resolve }));
  }

  // ---- writing ----

  #enqueue(frame: Uint8Array, urgent: boolean): void {
    if (this.#finished) return;
    // Control frames may overtake queued data frames (never a frame being written), so a ping or
    // pong is not stuck behind megabytes of backlog and mistaken for a dead peer.
    if (urgent) this.#queue.unshift(frame);
    else this.#queue.push(frame);
    this.#buffered += frame.length;
    if (!this.#flushing) {
      this.#flushing = true;
      // A microtask, so every frame queued in this synchronous run goes out in one write.
      queueMicrotask(() => this.#writeDone = this.#flush());
    }
  }

  async #flush(): Promise<void> {
    try {
      while (this.#queue.length > 0 && !this.#finished) {
        const chunk = this.#takeBatch();
        let written = 0;
        while (written < chunk.length) {
          written += await this.#conn.write(written === 0 ? chunk : chunk.subarray(written));
        }
        this.#buffered -= chunk.length;
        this.#notifyDrain();
      }
    } catch (error) {
      this.#finish({
        code: CloseCode.Abnormal,
        reason: `Write failed: ${errorMessage(error)}`,
        wasClean: false,
        error,
      });
    } finally {
      this.#flushing = false;
    }
  }

  #takeBatch(): Uint8Array {
    const queue = this.#queue;
    const first = queue[0];
    if (queue.length === 1 || first.length + queue[1].length > WRITE_BATCH_MAX_BYTES) {
      queue.shift();
      return first;
    }
    let count = 0;
    let total = 0;
    while (count < queue.length && total + queue[count].length <= WRITE_BATCH_MAX_BYTES) {
      total += queue[count].length;
      count++;
    }
    const batch = new Uint8Array(total);
    let offset = 0;
    for (const frame of queue.splice(0, count)) {
      batch.set(frame, offset);
      offset += frame.length;
    }
    return batch;
  }

  #notifyDrain(): void {
    if (this.#drainWaiters.length === 0) return;
    const buffered = this.#buffered;
    this.#drainWaiters = this.#drainWaiters.filter((waiter) => {
      if (buffered > waiter.lowWater) return true;
      waiter.resolve();
      return false;
    });
  }

  #sendClose(code: number | undefined, reason: Uint8Array = new Uint8Array()): void {
    this.#closeSent = true;
    let payload = new Uint8Array();
    if (code !== undefined) {
      payload = new Uint8Array(2 + reason.length);
      new DataView(payload.buffer).setUint16(0, code);
      payload.set(reason, 2);
    }
    this.#enqueue(encodeFrame(Opcode.Close, payload), false);
    this.#closeTimer = setTimeout(() => {
      const peer = this.#peerClose;
      this.#finish(
        peer ? { ...peer, wasClean: true } : {
          code: CloseCode.Abnormal,
          reason: `Close handshake timed out after ${this.#config.closeTimeout} ms`,
          wasClean: false,
        },
      );
    }, this.#config.closeTimeout);
  }

  // ---- reading ----

  async #readLoop(start: number, end: number): Promise<void> {
    const buffer = this.#readBuffer;
    const conn = this.#conn;
    try {
      for (;;) {
        while (end - start >= 2 && this.#peerClose === undefined) {
          const b0 = buffer[start];
          const b1 = buffer[start + 1];
          let length = b1 & LENGTH_BITS;
          let headerLength = 2;
          if (length === LENGTH_16_MARK) {
            headerLength = 4;
            if (end - start < headerLength) break;
            length = (buffer[start + 2] << 8) | buffer[start + 3];
          } else if (length === LENGTH_64_MARK) {
            headerLength = 10;
            if (end - start < headerLength) break;
            const view = new DataView(buffer.buffer, buffer.byteOffset + start + 2, 8);
            length = view.getUint32(0) * UINT32_RANGE + view.getUint32(4);
          }
          if (!this.#checkHeader(b0, b1, length)) return;
          const payloadStart = start + headerLength;
          const frameEnd = payloadStart + length;
          if (frameEnd <= end) {
            start = frameEnd;
            if (!this.#onFrame(b0, buffer.slice(payloadStart, frameEnd))) return;
          } else if (length >= DIRECT_READ_MIN_BYTES) {
            const payload = new Uint8Array(length);
            payload.set(buffer.subarray(payloadStart, end));
            let filled = end - payloadStart;
            start = end = 0;
            while (filled < length) {
              const n = await conn.read(payload.subarray(filled));
              if (n === null) return this.#onEndOfInput(undefined);
              filled += n;
              this.#lastActivity = performance.now();
            }
            if (!this.#onFrame(b0, payload)) return;
          } else {
            break;
          }
        }
        if (this.#finished || this.#failed) return;
        if (start === end || this.#peerClose !== undefined) {
          // After a close frame nothing more is parsed; we only wait for EOF.
          start = end = 0;
        } else if (buffer.length - start < MAX_FRAME_HEADER_BYTES + DIRECT_READ_MIN_BYTES) {
          buffer.copyWithin(0, start, end);
          end -= start;
          start = 0;
        }
        const n = await conn.read(buffer.subarray(end));
        if (n === null) return this.#onEndOfInput(undefined);
        end += n;
        this.#lastActivity = performance.now();
      }
    } catch (error) {
      this.#onEndOfInput(error);
    }
  }

  /** Validates a frame header; on a violation fails the connection and returns `false`. */
  #checkHeader(b0: number, b1: number, length: number): boolean {
    const opcode = b0 & OPCODE_BITS;
    const fin = (b0 & FIN_BIT) !== 0;
    if (b0 & RSV_BITS) return this.#fail(CloseCode.ProtocolError, "Reserved bits set");
    if (b1 & MASK_BIT) return this.#fail(CloseCode.ProtocolError, "Masked frame from server");
    if (opcode & CONTROL_BIT) {
      if (opcode !== Opcode.Close && opcode !== Opcode.Ping && opcode !== Opcode.Pong) {
        return this.#fail(CloseCode.ProtocolError, `Unknown opcode "${opcode}"`);
      }
      if (!fin) return this.#fail(CloseCode.ProtocolError, "Fragmented control frame");
      if (length > MAX_CONTROL_PAYLOAD_BYTES) {
        return this.#fail(CloseCode.ProtocolError, "Control frame too long");
      }
      return true;
    }
    if (opcode === Opcode.Continuation) {
      if (!this.#inFragmentedMessage) {
        return this.#fail(CloseCode.ProtocolError, "Continuation frame without a message");
      }
    } else if (opcode === Opcode.Text || opcode === Opcode.Binary) {
      if (this.#inFragmentedMessage) {
        return this.#fail(CloseCode.ProtocolError, "New message inside a fragmented message");
      }
    } else {
      return this.#fail(CloseCode.ProtocolError, `Unknown opcode "${opcode}"`);
    }
    if (this.#fragmentBytes + length > this.#config.maxMessageSize) {
      return this.#fail(
        CloseCode.TooBig,
        `Message larger than ${this.#config.maxMessageSize} bytes`,
      );
    }
    return true;
  }

  /** Handles one complete, valid frame; returns `false` when reading must stop. */
  #onFrame(b0: number, payload: Uint8Array): boolean {
    const opcode = b0 & OPCODE_BITS;
    const fin = (b0 & FIN_BIT) !== 0;
    switch (opcode) {
      case Opcode.Text:
      case Opcode.Binary:
        if (fin) return this.#deliver(payload);
        this.#inFragmentedMessage = true;
        this.#fragments.push(payload);
        this.#fragmentBytes = payload.length;
        return true;
      case Opcode.Continuation: {
        this.#fragments.push(payload);
        this.#fragmentBytes += payload.length;
        if (!fin) return true;
        const message = concat(this.#fragments, this.#fragmentBytes);
        this.#fragments = [];
        this.#fragmentBytes = 0;
        this.#inFragmentedMessage = false;
        return this.#deliver(message);
      }
      case Opcode.Ping:
        if (!this.#closeSent) this.#enqueue(encodeFrame(Opcode.Pong, payload), true);
        return true;
      case Opcode.Pong:
        return true;
      default:
        return this.#onCloseFrame(payload);
    }
  }

  #deliver(data: Uint8Array): boolean {
    const handler = this.#handler;
    if (handler === undefined) {
      this.#pending.push(data);
      return true;
    }
    try {
      handler(data);
      return true;
    } catch (error) {
      return this.#fail(
        CloseCode.InternalError,
        `Message handler failed: ${errorMessage(error)}`,
        error,
      );
    }
  }

  #onCloseFrame(payload: Uint8Array): boolean {
    let code: number = CloseCode.NoStatus;
    let reason = "";
    if (payload.length === 1) return this.#fail(CloseCode.ProtocolError, "Close frame of 1 byte");
    if (payload.length >= 2) {
      code = (payload[0] << 8) | payload[1];
      if (!isValidCloseCode(code)) {
        return this.#fail(CloseCode.ProtocolError, `Invalid close code "${code}"`);
      }
      try {
        reason = utf8Strict.decode(payload.subarray(2));
      } catch {
        return this.#fail(CloseCode.InvalidData, "Close reason is not UTF-8");
      }
    }
    this.#peerClose = { code, reason };
    // Echo the code (RFC 6455 §5.5.1), then drop the TCP connection once the echo is written
    // (RFC 6455 §7.1.1 lets the client do so once both close frames have been exchanged).
    if (!this.#closeSent) this.#sendClose(code === CloseCode.NoStatus ? undefined : code);
    this.drained().then(() => this.#finish({ code, reason, wasClean: true }));
    return true;
  }

  #onEndOfInput(error: unknown): void {
    if (this.#finished) return;
    if (this.#peerClose !== undefined) {
      // The peer closed after its close frame, possibly before our echo was written: still clean.
      return this.#finish({ ...this.#peerClose, wasClean: true });
    }
    this.#finish({
      code: CloseCode.Abnormal,
      reason: error === undefined
        ? "Connection closed without a close frame"
        : `Read failed: ${errorMessage(error)}`,
      wasClean: false,
      ...(error === undefined ? {} : { error }),
    });
  }

  // ---- liveness ----

  #armIdle(delay: number): void {
    this.#idleTimer = setTimeout(this.#onIdle, Math.max(1, delay));
  }

  #onIdle = (): void => {
    if (this.#finished) return;
    const timeout = this.#config.idleTimeout;
    const silent = performance.now() - this.#lastActivity;
    if (silent < timeout) return this.#armIdle(timeout - silent);
    if (silent >= 2 * timeout) {
      return this.#finish({
        code: CloseCode.Abnormal,
        reason: `Idle timeout: nothing received for ${Math.round(silent)} ms`,
        wasClean: false,
      });
    }
    if (this.#pingedAt !== this.#lastActivity && !this.#closeSent) {
      this.#pingedAt = this.#lastActivity;
      this.#enqueue(encodeFrame(Opcode.Ping, new Uint8Array()), true);
    }
    this.#armIdle(2 * timeout - silent);
  };

  #onAbort = (): void => {
    if (!this.#closeSent && !this.#finished) this.#sendClose(CloseCode.GoingAway);
  };

  // ---- ending ----

  /** Fails the connection (RFC 6455 §7.1.7): send a close frame, then drop TCP. */
  #fail(code: number, reason: string, error?: unknown): false {
    if (this.#failed || this.#finished) return false;
    this.#failed = true;
    if (!this.#closeSent) this.#sendClose(code, truncateUtf8(reason, MAX_CLOSE_REASON_BYTES));
    const info: WsCloseInfo = { code, reason, wasClean: false };
    if (error !== undefined) info.error = error;
    this.drained().then(() => this.#finish(info));
    return false;
  }

  #finish(info: WsCloseInfo): void {
    if (this.#finished) return;
    this.#finished = true;
    clearTimeout(this.#idleTimer);
    clearTimeout(this.#closeTimer);
    this.#signal?.removeEventListener("abort", this.#onAbort);
    this.#queue = [];
    this.#buffered = 0;
    this.#fragments = [];
    try {
      this.#conn.close();
    } catch { /* already closed */ }
    for (const waiter of this.#drainWaiters) waiter.resolve();
    this.#drainWaiters = [];
    // Resolve only after the pending read and write have settled, so no op outlives `closed`.
    Promise.allSettled([this.#readDone, this.#writeDone]).then(() => this.#resolveClosed(info));
  }
}

// ---- Framing helpers ----

let maskPool = new Uint8Array();
let maskPoolOffset = 0;

/** Writes 4 fresh random mask bytes into `target` at `offset`. */
function writeMask(target: Uint8Array, offset: number): void {
  if (maskPoolOffset + MASK_BYTES > maskPool.length) {
    maskPool = crypto.getRandomValues(new Uint8Array(MASK_POOL_BYTES));
    maskPoolOffset = 0;
  }
  for (let i = 0; i < MASK_BYTES; i++) target[offset + i] = maskPool[maskPoolOffset + i];
  maskPoolOffset += MASK_BYTES;
}

/**
 * Builds one masked, final client frame. The payload is placed at a 4-byte aligned offset of a
 * fresh buffer so masking runs over 32-bit words; the returned view starts at the header.
 */
function encodeFrame(opcode: number, payload: Uint8Array): Uint8Array {
  const length = payload.length;
  const extended = length <= LENGTH_7_MAX ? 0 : length <= UINT16_MAX ? 2 : 8;
  const headerLength = 2 + extended + MASK_BYTES;
  const padding = (MASK_BYTES - (headerLength % MASK_BYTES)) % MASK_BYTES;
  const payloadOffset = padding + headerLength;
  const buffer = new Uint8Array(payloadOffset + length);
  buffer[padding] = FIN_BIT | opcode;
  if (extended === 0) {
    buffer[padding + 1] = MASK_BIT | length;
  } else if (extended === 2) {
    buffer[padding + 1] = MASK_BIT | LENGTH_16_MARK;
    new DataView(buffer.buffer).setUint16(padding + 2, length);
  } else {
    buffer[padding + 1] = MASK_BIT | LENGTH_64_MARK;
    const view = new DataView(buffer.buffer);
    view.setUint32(padding + 2, Math.floor(length / UINT32_RANGE));
    view.setUint32(padding + 6, length >>> 0);
  }
  const maskOffset = payloadOffset - MASK_BYTES;
  writeMask(buffer, maskOffset);
  buffer.set(payload, payloadOffset);
  const words = length >>> 2;
  if (words > 0) {
    // Same byte order for mask and data, so a word-wise XOR equals the byte-wise one.
    const mask = new Uint32Array(buffer.buffer, maskOffset, 1)[0];
    const data = new Uint32Array(buffer.buffer, payloadOffset, words);
    for (let i = 0; i < words; i++) data[i] ^= mask;
  }
  for (let i = words << 2; i < length; i++) {
    buffer[payloadOffset + i] ^= buffer[maskOffset + (i & (MASK_BYTES - 1))];
  }
  return padding === 0 ? buffer : buffer.subarray(padding);
}

/** Close codes that may appear in a close frame (RFC 6455 §7.4, IANA registry). */
function isValidCloseCode(code: number): boolean {
  return Number.isInteger(code) &&
    ((code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
      (code >= 3000 && code <= 4999));
}

function concat(parts: Uint8Array[], total: number): Uint8Array {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

function truncateUtf8(text: string, maxBytes: number): Uint8Array {
  const bytes = encoder.encode(text);
  if (bytes.length <= maxBytes) return bytes;
  let end = maxBytes;
  // Do not cut a multi-byte character: back up over continuation bytes (10xxxxxx).
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end);
}

// ---- Handshake helpers ----

interface WsTarget {
  tls: boolean;
  hostname: string;
  port: number;
  host: string;
  pathAndQuery: string;
  /** The URL without query or credentials, for messages. */
  display: string;
}

function parseWsUrl(input: string | URL): WsTarget {
  const url = new URL(input);
  const scheme = url.protocol;
  const tls = scheme === "wss:" || scheme === "https:";
  if (!tls && scheme !== "ws:" && scheme !== "http:") {
    throw new TypeError(`Cannot connect to "${url.href}": unsupported scheme "${scheme}"`);
  }
  const hostname = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
  return {
    tls,
    hostname,
    port: url.port === "" ? (tls ? DEFAULT_PORT.wss : DEFAULT_PORT.ws) : Number(url.port),
    host: url.host,
    pathAndQuery: (url.pathname || "/") + url.search,
    display: `${tls ? "wss" : "ws"}://${url.host}${url.pathname}`,
  };
}

function resolveOptions(options: WsClientOptions): ResolvedOptions {
  const number = (name: string, value: number | undefined, fallback: number) => {
    if (value === undefined) return fallback;
    if (!Number.isFinite(value) || value < 0) {
      throw new RangeError(`Cannot use ${name} "${value}": must be a finite number >= 0`);
    }
    return value;
  };
  return {
    caCerts: options.caCerts ?? [],
    insecure: options.insecure ?? false,
    connectTimeout: number("connectTimeout", options.connectTimeout, DEFAULT_CONNECT_TIMEOUT_MS),
    maxMessageSize: number("maxMessageSize", options.maxMessageSize, DEFAULT_MAX_MESSAGE_SIZE),
    idleTimeout: number("idleTimeout", options.idleTimeout, DEFAULT_IDLE_TIMEOUT_MS),
    closeTimeout: number("closeTimeout", options.closeTimeout, DEFAULT_CLOSE_TIMEOUT_MS),
  };
}

function buildRequest(target: WsTarget, key: string, init: HeadersInit | undefined): string {
  const extra = new Headers(init);
  const lines = [
    `GET ${target.pathAndQuery} HTTP/1.1`,
    `Host: ${extra.get("host") ?? target.host}`,
    "Upgrade: websocket",
    "Connection: Upgrade",
    `Sec-WebSocket-Key: ${key}`,
    "Sec-WebSocket-Version: 13",
  ];
  for (const [name, value] of extra) {
    if (name === "host") continue;
    if (RESERVED_HEADERS.has(name)) {
      throw new TypeError(`Cannot set header "${name}": it belongs to the WebSocket handshake`);
    }
    lines.push(`${name}: ${value}`);
  }
  return lines.join("\r\n") + "\r\n\r\n";
}

async function writeAll(conn: ByteConn, data: Uint8Array): Promise<void> {
  let written = 0;
  while (written < data.length) written += await conn.write(data.subarray(written));
}

const CR = 0x0d;
const LF = 0x0a;

/** Reads until the blank line ending the response head; the bytes after it stay in `buffer`. */
async function readResponseHead(
  conn: ByteConn,
  buffer: Uint8Array,
): Promise<{ headEnd: number; end: number }> {
  let end = 0;
  for (;;) {
    if (end >= MAX_RESPONSE_HEAD_BYTES) {
      throw new WsHandshakeError(
        `Cannot read WebSocket upgrade response: head exceeds ${MAX_RESPONSE_HEAD_BYTES} bytes`,
        { status: 0 },
      );
    }
    const n = await conn.read(buffer.subarray(end, MAX_RESPONSE_HEAD_BYTES));
    if (n === null) {
      throw new WsHandshakeError(
        "Cannot read WebSocket upgrade response: connection closed during the handshake",
        { status: 0 },
      );
    }
    const from = Math.max(0, end - 3);
    end += n;
    for (let i = from; i + 3 < end; i++) {
      if (
        buffer[i] === CR && buffer[i + 1] === LF && buffer[i + 2] === CR && buffer[i + 3] === LF
      ) {
        return { headEnd: i + 4, end };
      }
    }
  }
}

interface ResponseHead {
  status: number;
  headers: Map<string, string>;
}

function parseResponseHead(bytes: Uint8Array): ResponseHead {
  const lines = latin1.decode(bytes).split("\r\n");
  const match = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(lines[0]);
  if (!match) {
    throw new WsHandshakeError(
      `Cannot parse WebSocket upgrade response: bad status line "${lines[0].slice(0, 80)}"`,
      { status: 0 },
    );
  }
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    const previous = headers.get(name);
    headers.set(name, previous === undefined ? value : `${previous}, ${value}`);
  }
  return { status: Number(match[1]), headers };
}

async function verifyUpgrade(head: ResponseHead, key: string, display: string): Promise<void> {
  const fail = (detail: string) => {
    throw new WsHandshakeError(`Invalid WebSocket upgrade from "${display}": ${detail}`, {
      status: head.status,
    });
  };
  const headers = head.headers;
  if (headers.get("upgrade")?.toLowerCase() !== "websocket") fail(`missing "Upgrade: websocket"`);
  const connection = (headers.get("connection") ?? "").toLowerCase().split(",");
  if (!connection.some((token) => token.trim() === "upgrade")) {
    fail(`missing "Connection: Upgrade"`);
  }
  const digest = await crypto.subtle.digest("SHA-1", encoder.encode(key + WS_GUID));
  const expected = toBase64(new Uint8Array(digest));
  if (headers.get("sec-websocket-accept") !== expected) fail("wrong Sec-WebSocket-Accept");
  if (headers.has("sec-websocket-extensions")) fail("unrequested Sec-WebSocket-Extensions");
}

/** Reads up to 4 KiB of a refused upgrade's body (Content-Length, chunked, or until EOF). */
async function readErrorBody(
  conn: ByteConn,
  already: Uint8Array,
  head: ResponseHead,
): Promise<string> {
  const contentLength = Number(head.headers.get("content-length") ?? NaN);
  const chunked = /\bchunked\b/i.test(head.headers.get("transfer-encoding") ?? "");
  const raw = new Uint8Array(MAX_ERROR_BODY_RAW_BYTES);
  let length = Math.min(already.length, raw.length);
  raw.set(already.subarray(0, length));
  const want = chunked
    ? raw.length
    : Number.isFinite(contentLength)
    ? Math.min(contentLength, MAX_ERROR_BODY_BYTES)
    : MAX_ERROR_BODY_BYTES;
  const complete = () => {
    if (length >= want) return true;
    if (!chunked) return false;
    const decoded = decodeChunked(raw.subarray(0, length));
    return decoded.done || decoded.body.length >= MAX_ERROR_BODY_BYTES;
  };
  try {
    while (!complete()) {
      const n = await conn.read(raw.subarray(length, want));
      if (n === null) break;
      length += n;
    }
  } catch {
    // A body cut short by a reset still tells the caller something; keep what arrived.
  }
  const body = chunked ? decodeChunked(raw.subarray(0, length)).body : raw.subarray(0, length);
  return utf8Lenient.decode(body.subarray(0, MAX_ERROR_BODY_BYTES));
}

/** Best-effort decoding of a (possibly partial) chunked body. */
function decodeChunked(raw: Uint8Array): { body: Uint8Array; done: boolean } {
  const parts: Uint8Array[] = [];
  let total = 0;
  let offset = 0;
  for (;;) {
    let lineEnd = -1;
    for (let i = offset; i + 1 < raw.length; i++) {
      if (raw[i] === CR && raw[i + 1] === LF) {
        lineEnd = i;
        break;
      }
    }
    if (lineEnd < 0) break;
    const size = parseInt(latin1.decode(raw.subarray(offset, lineEnd)).split(";")[0], 16);
    if (!Number.isFinite(size)) break;
    if (size === 0) return { body: concat(parts, total), done: true };
    const start = lineEnd + 2;
    const part = raw.subarray(start, Math.min(start + size, raw.length));
    parts.push(part);
    total += part.length;
    offset = start + size + 2;
    if (offset > raw.length) break;
  }
  return { body: parts.length === 0 ? new Uint8Array() : concat(parts, total), done: false };
}

function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
