/**
 * An open WebSocket connection (RFC 6455 after the handshake), either side: a frame reader loop
 * over one reusable buffer (small while the connection is idle, grown while reads fill it), a write queue that coalesces the frames queued in one tick into one socket
 * write, control frames answered at once, idle pings, and a close handshake with a deadline.
 * Every way the connection can end resolves {@linkcode WsClient.closed}; nothing rejects.
 *
 * @module
 */

import type { ByteConn } from "../byte_conn.ts";
import { encoder } from "../_bytes.ts";
import {
  applyMask,
  CloseCode,
  CONTROL_BIT,
  encodeFrame,
  encodeFrameInto,
  FIN_BIT,
  frameHeaderSize,
  isValidCloseCode,
  LENGTH_16_MARK,
  LENGTH_64_MARK,
  LENGTH_BITS,
  MASK_BIT,
  MASK_BYTES,
  MAX_CLOSE_REASON_BYTES,
  MAX_CONTROL_PAYLOAD_BYTES,
  MAX_FRAME_HEADER_BYTES,
  Opcode,
  OPCODE_BITS,
  RSV_BITS,
  truncateUtf8,
  UINT32_RANGE,
} from "./framing.ts";

/** Largest reusable read buffer: holds many small frames per read syscall. */
const READ_BUFFER_BYTES = 64 * 1024;
/** Default first read buffer; it grows ×4 while reads fill it, up to {@linkcode READ_BUFFER_BYTES}. */
const INITIAL_READ_BUFFER_BYTES = 64 * 1024;
/** The factor a read buffer grows by when a read filled it. */
const READ_BUFFER_GROWTH = 4;
/**
 * Payloads at least this large that are not complete in the read buffer get their own buffer and
 * the rest is read straight into it (no second copy). Smaller ones are compacted in the buffer.
 */
const DIRECT_READ_MIN_BYTES = 16 * 1024;
/**
 * First size of a write buffer: outgoing frames are encoded (masked, for a client) straight into
 * one, and every frame queued in one tick goes out in one write.
 */
const WRITE_BUFFER_MIN_BYTES = 16 * 1024;
/**
 * A buffer made for a large message has this size, so the next ones of a burst share it (one
 * write for several); a buffer up to this size is kept for reuse once written.
 */
const WRITE_BUFFER_LARGE_BYTES = 256 * 1024;
/**
 * Written buffers kept for reuse, at most: a burst of large messages then allocates nothing.
 * They are dropped once the connection has been idle for its idle timeout.
 */
const SPARE_WRITE_BUFFERS = 4;

/** A buffer frames are encoded into, with the 32-bit view masking runs over. */
class WriteBuffer {
  readonly bytes: Uint8Array;
  readonly words: Uint32Array;
  /** Bytes used. */
  length = 0;
  /** @param size At least this many bytes (rounded up to whole words). */
  constructor(size: number) {
    this.bytes = new Uint8Array(
      Math.ceil(size / Uint32Array.BYTES_PER_ELEMENT) * Uint32Array.BYTES_PER_ELEMENT,
    );
    this.words = new Uint32Array(this.bytes.buffer);
  }
}

const utf8Strict = new TextDecoder("utf-8", { fatal: true });

/**
 * Idle checks per idle timeout: a connection is pinged within 1/12 of `idleTimeout` after it
 * went silent for `idleTimeout`, and given up within as much after twice that.
 */
const IDLE_SWEEPS_PER_TIMEOUT = 12;

/**
 * The connections with one idle timeout, checked by one interval timer: a timer of its own per
 * connection (a Timeout object, its callback closures and list entries) cost about half a KiB
 * on a server holding thousands of idle tunnels. The timer runs only while the group is not
 * empty, so it keeps the process alive exactly while such a connection is open.
 */
class IdleSweep {
  readonly #timeout: number;
  readonly #members = new Set<Connection>();
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(timeout: number) {
    this.#timeout = timeout;
  }

  add(connection: Connection): void {
    this.#members.add(connection);
    this.#timer ??= setInterval(
      this.#sweep,
      Math.max(1, Math.floor(this.#timeout / IDLE_SWEEPS_PER_TIMEOUT)),
    );
  }

  delete(connection: Connection): void {
    if (!this.#members.delete(connection) || this.#members.size > 0) return;
    clearInterval(this.#timer);
    this.#timer = undefined;
    idleSweeps.delete(this.#timeout);
  }

  #sweep = (): void => {
    const now = performance.now();
    for (const connection of this.#members) connection._checkIdle(now);
  };
}

/** The idle sweeps, by idle timeout. */
const idleSweeps = new Map<number, IdleSweep>();

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

/** An open WebSocket connection, as `connectWebSocket` and a server's upgrade give it. */
export interface WsClient {
  /**
   * Queues one binary message; never blocks. Frames are written in order, those queued in the
   * same tick in one socket write. After {@linkcode WsClient.close} (or once closed) the data is
   * dropped silently. The bytes are copied (masked) at once, so `data` may be reused.
   * @param data The message payload.
   */
  send(data: Uint8Array): void;
  /** Always true: {@linkcode WsClient.send} copies the message before it returns. */
  readonly copiesOnSend: true;
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

/** Limits and timeouts of one {@linkcode Connection}, all resolved (no defaults left). */
export interface ConnectionOptions {
  /** Largest incoming message in bytes, after reassembly. */
  maxMessageSize: number;
  /** Milliseconds of silence before a ping (twice that and the peer is dead); `0`: off. */
  idleTimeout: number;
  /** Milliseconds the closing handshake may take. */
  closeTimeout: number;
  /**
   * `client`: frames sent are masked and frames received must not be; `server`: the reverse
   * (RFC 6455 §5.1). @default "client"
   */
  role?: "client" | "server";
  /**
   * Size of the first read buffer, bytes: an idle connection holds only this much in its pending
   * read. @default 65536
   */
  initialReadBufferBytes?: number;
  /** Fail the connection (1003) on a text message instead of delivering it. @default false */
  binaryOnly?: boolean;
}

interface DrainWaiter {
  lowWater: number;
  resolve: () => void;
}

const noop = () => {};

/** The {@linkcode WsClient} implementation: a frame reader loop and a write queue on one conn. */
export class Connection implements WsClient {
  #conn: ByteConn;
  #config: ConnectionOptions;
  #signal: AbortSignal | undefined;
  #readBuffer: Uint8Array;
  /** Frames we send are masked (client); frames we receive must be masked (server). */
  #masked: boolean;
  #smallReadBytes: number;
  #readDone: Promise<void>;
  #writeDone: Promise<void> = Promise.resolve();

  // Write side.
  /** Control frames (ping, pong) to write before the queued frames, each whole. */
  #urgent: Uint8Array[] = [];
  /**
   * The pong in `#urgent` not yet being written: a newer ping's pong replaces it (RFC 6455
   * §5.5.3), so a peer that pings without reading queues one pong, not one per ping.
   */
  #pong: Uint8Array | undefined;
  /** The frames queued and not yet being written, one write per buffer. */
  #queued: WriteBuffer[] = [];
  /** Free buffers, for the frames queued while `#queued`'s are written. */
  #spares: WriteBuffer[] = [];
  #buffered = 0;
  #flushing = false;
  /** Made on first use, like the other arrays an idle connection rarely needs. */
  #drainWaiters: DrainWaiter[] | undefined;

  // Read side.
  #handler: ((data: Uint8Array) => void) | undefined;
  #pending: Uint8Array[] | undefined;
  /**
   * The fragmented message so far: `#fragments[0, #fragmentBytes)`, in one buffer that doubles as
   * fragments arrive (up to `maxMessageSize`), so memory follows the bytes, not the frame count
   * (an array entry per fragment cost ~200 bytes for each empty 6-byte frame a peer sent).
   */
  #fragments: Uint8Array | undefined;
  #fragmentBytes = 0;
  #inFragmentedMessage = false;
  #lastActivity = performance.now();
  #pingedAt = -1;

  // Lifecycle.
  #closeSent = false;
  /** The peer's close frame, once received; nothing is parsed after it. */
  #peerClose: { code: number; reason: string } | undefined;
  #failed = false;
  /** How the connection ends after we failed it. */
  #failInfo: WsCloseInfo | undefined;
  #finished = false;
  #idleSweep: IdleSweep | undefined;
  #closeTimer: ReturnType<typeof setTimeout> | undefined;
  #resolveClosed!: (info: WsCloseInfo) => void;
  readonly closed: Promise<WsCloseInfo>;

  /**
   * Starts reading frames at once.
   * @param conn The connection, handshake done.
   * @param initial Bytes already received after the handshake's answer (the first frames).
   * @param config Limits and timeouts.
   * @param signal After it aborts, the connection is closed with 1001.
   */
  constructor(
    conn: ByteConn,
    initial: Uint8Array,
    config: ConnectionOptions,
    signal: AbortSignal | undefined,
  ) {
    this.#conn = conn;
    this.#config = config;
    this.#masked = config.role !== "server";
    this.#smallReadBytes = config.initialReadBufferBytes ?? INITIAL_READ_BUFFER_BYTES;
    this.#readBuffer = new Uint8Array(Math.max(this.#smallReadBytes, initial.length));
    this.#readBuffer.set(initial);
    this.closed = new Promise((resolve) => this.#resolveClosed = resolve);
    this.#signal = signal;
    if (signal) {
      this.#onAbort = () => {
        if (!this.#closeSent && !this.#finished) this.#sendClose(CloseCode.GoingAway);
      };
      signal.addEventListener("abort", this.#onAbort, { once: true });
    }
    if (config.idleTimeout > 0) {
      let sweep = idleSweeps.get(config.idleTimeout);
      if (!sweep) idleSweeps.set(config.idleTimeout, sweep = new IdleSweep(config.idleTimeout));
      sweep.add(this);
      this.#idleSweep = sweep;
    }
    // One async function reads for the connection's whole life (each suspended one costs an idle
    // connection about 450 bytes of generator, registers, promises and closures).
    this.#readDone = this.#readFrames(0, initial.length);
  }

  get bufferedAmount(): number {
    return this.#buffered;
  }

  get copiesOnSend(): true {
    return true;
  }

  get onMessage(): (data: Uint8Array) => void {
    return this.#handler ?? noop;
  }

  set onMessage(handler: (data: Uint8Array) => void) {
    this.#handler = handler;
    const pending = this.#pending;
    if (!pending) return;
    this.#pending = undefined;
    for (const data of pending) {
      if (!this.#deliver(data)) return;
    }
  }

  send(data: Uint8Array): void {
    if (this.#closeSent || this.#finished) return;
    this.#append(Opcode.Binary, data);
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
    return new Promise((resolve) => (this.#drainWaiters ??= []).push({ lowWater, resolve }));
  }

  // ---- writing ----

  /**
   * Encodes a frame at the end of the last queued buffer, or in a new one (the spare one if it is
   * large enough) when it does not fit: frames are copied once, whatever their size.
   */
  #append(opcode: number, payload: Uint8Array): void {
    if (this.#finished) return;
    const size = frameHeaderSize(payload.length, this.#masked) + payload.length;
    let buffer = this.#queued.at(-1);
    if (buffer === undefined || buffer.length + size > buffer.bytes.length) {
      buffer = this.#takeSpare(size) ?? new WriteBuffer(
        size <= WRITE_BUFFER_MIN_BYTES
          ? WRITE_BUFFER_MIN_BYTES
          : Math.max(size, WRITE_BUFFER_LARGE_BYTES),
      );
      this.#queued.push(buffer);
    }
    buffer.length = encodeFrameInto(
      buffer.bytes,
      buffer.words,
      buffer.length,
      opcode,
      payload,
      this.#masked,
    );
    this.#buffered += size;
    this.#scheduleFlush();
  }

  /** A kept buffer with room for `size` bytes, if there is one. */
  #takeSpare(size: number): WriteBuffer | undefined {
    const spares = this.#spares;
    for (let i = spares.length - 1; i >= 0; i--) {
      if (spares[i].bytes.length >= size) return spares.splice(i, 1)[0];
    }
    return undefined;
  }

  /**
   * Queues a control frame ahead of the queued frames (never of a write in progress), so a ping
   * or pong is not stuck behind megabytes of backlog and mistaken for a dead peer.
   */
  #enqueueUrgent(frame: Uint8Array): void {
    if (this.#finished) return;
    this.#urgent.push(frame);
    this.#buffered += frame.length;
    this.#scheduleFlush();
  }

  /** Queues a pong, in place of the one still waiting if there is one. */
  #enqueuePong(frame: Uint8Array): void {
    const waiting = this.#pong === undefined ? -1 : this.#urgent.indexOf(this.#pong);
    this.#pong = frame;
    if (waiting < 0) return this.#enqueueUrgent(frame);
    this.#buffered += frame.length - this.#urgent[waiting].length;
    this.#urgent[waiting] = frame;
  }

  #scheduleFlush(): void {
    if (!this.#flushing) {
      this.#flushing = true;
      // A microtask, so every frame queued in this synchronous run goes out in one write.
      queueMicrotask(this.#startFlush);
    }
  }

  /** Starts the flush {@linkcode #scheduleFlush} queued (one function, not a closure per flush). */
  readonly #startFlush = (): void => {
    this.#writeDone = this.#flush();
  };

  async #flush(): Promise<void> {
    try {
      while (!this.#finished) {
        let chunk: Uint8Array;
        let written: WriteBuffer | undefined;
        if (this.#urgent.length > 0) {
          chunk = this.#urgent.shift()!;
          if (chunk === this.#pong) this.#pong = undefined;
        } else if (this.#queued.length > 0) {
          written = this.#queued.shift()!;
          chunk = written.bytes.subarray(0, written.length);
        } else {
          break;
        }
        let done = 0;
        while (done < chunk.length) {
          done += await this.#conn.write(done === 0 ? chunk : chunk.subarray(done));
        }
        this.#buffered -= chunk.length;
        if (
          written !== undefined && written.bytes.length <= WRITE_BUFFER_LARGE_BYTES &&
          this.#spares.length < SPARE_WRITE_BUFFERS
        ) {
          written.length = 0;
          this.#spares.push(written);
        }
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

  #notifyDrain(): void {
    if (!this.#drainWaiters?.length) return;
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
    this.#append(Opcode.Close, payload);
    this.#closeTimer = setTimeout(() => {
      const peer = this.#peerClose;
      this.#finish(
        this.#failInfo ?? (peer ? { ...peer, wasClean: true } : {
          code: CloseCode.Abnormal,
          reason: `Close handshake timed out after ${this.#config.closeTimeout} ms`,
          wasClean: false,
        }),
      );
    }, this.#config.closeTimeout);
  }

  // ---- reading ----

  async #discardUntilEnd(): Promise<void> {
    const buffer = this.#readBuffer;
    try {
      while (!this.#finished && (await this.#conn.read(buffer)) !== null);
    } catch {
      // The connection failed: it is over either way.
    }
    this.#finish(this.#failInfo!);
  }

  async #readFrames(start: number, end: number): Promise<void> {
    let buffer = this.#readBuffer;
    const conn = this.#conn;
    // Frames from a client carry a 4-byte mask after the length (RFC 6455 §5.3).
    const maskBytes = this.#masked ? 0 : MASK_BYTES;
    try {
      for (;;) {
        while (end - start >= 2 && this.#peerClose === undefined) {
          const b0 = buffer[start];
          const b1 = buffer[start + 1];
          let length = b1 & LENGTH_BITS;
          let headerLength = 2 + maskBytes;
          if (length === LENGTH_16_MARK) {
            headerLength += 2;
            if (end - start < headerLength) break;
            length = (buffer[start + 2] << 8) | buffer[start + 3];
          } else if (length === LENGTH_64_MARK) {
            headerLength += 8;
            if (end - start < headerLength) break;
            const view = new DataView(buffer.buffer, buffer.byteOffset + start + 2, 8);
            length = view.getUint32(0) * UINT32_RANGE + view.getUint32(4);
          } else if (end - start < headerLength) break;
          if (!this.#checkHeader(b0, b1, length)) return;
          const payloadStart = start + headerLength;
          const frameEnd = payloadStart + length;
          if (frameEnd <= end) {
            start = frameEnd;
            const payload = buffer.slice(payloadStart, frameEnd);
            if (maskBytes) {
              applyMask(payload, buffer.subarray(payloadStart - MASK_BYTES, payloadStart));
            }
            if (!this.#onFrame(b0, payload)) return;
          } else if (length >= DIRECT_READ_MIN_BYTES) {
            const mask = maskBytes
              ? buffer.slice(payloadStart - maskBytes, payloadStart)
              : undefined;
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
            if (mask) applyMask(payload, mask);
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
        if (end === 0 && buffer.length > this.#smallReadBytes) {
          // The burst is over: an idle connection holds only a small buffer in its read.
          buffer = this.#readBuffer = new Uint8Array(this.#smallReadBytes);
        }
        // The whole buffer when it is empty (an idle connection's read): no view of it to keep.
        const n = await conn.read(end === 0 ? buffer : buffer.subarray(end));
        if (n === null) return this.#onEndOfInput(undefined);
        if (end + n === buffer.length && buffer.length < READ_BUFFER_BYTES) {
          // A read filled the buffer: more is coming; read it in fewer, larger reads.
          const grown = new Uint8Array(
            Math.min(READ_BUFFER_BYTES, buffer.length * READ_BUFFER_GROWTH),
          );
          grown.set(buffer.subarray(start, end + n));
          end = end + n - start;
          start = 0;
          buffer = this.#readBuffer = grown;
        } else {
          end += n;
        }
        this.#lastActivity = performance.now();
      }
    } catch (error) {
      this.#onEndOfInput(error);
    } finally {
      // A server that failed the connection keeps reading (and dropping) what the client still
      // sends until it closes or the close timeout, so its close frame is read rather than cut
      // off by a reset (closing a socket with unread input resets it).
      if (this.#failed && !this.#finished && !this.#masked) await this.#discardUntilEnd();
    }
  }

  /** Validates a frame header; on a violation fails the connection and returns `false`. */
  #checkHeader(b0: number, b1: number, length: number): boolean {
    const opcode = b0 & OPCODE_BITS;
    const fin = (b0 & FIN_BIT) !== 0;
    if (b0 & RSV_BITS) return this.#fail(CloseCode.ProtocolError, "Reserved bits set");
    if (((b1 & MASK_BIT) !== 0) === this.#masked) {
      return this.#fail(
        CloseCode.ProtocolError,
        this.#masked ? "Masked frame from server" : "Unmasked frame from client",
      );
    }
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
        if (this.#config.binaryOnly) {
          return this.#fail(
            CloseCode.UnsupportedData,
            "Text messages are not part of the protocol",
          );
        }
      // falls through
      case Opcode.Binary:
        if (fin) return this.#deliver(payload);
        this.#inFragmentedMessage = true;
        this.#fragments = payload;
        this.#fragmentBytes = payload.length;
        return true;
      case Opcode.Continuation: {
        const length = this.#fragmentBytes + payload.length;
        let buffer = this.#fragments!;
        if (length > buffer.length) {
          // #checkHeader keeps `length` within maxMessageSize.
          const grown = new Uint8Array(
            Math.min(this.#config.maxMessageSize, Math.max(length, 2 * buffer.length)),
          );
          grown.set(buffer.subarray(0, this.#fragmentBytes));
          buffer = this.#fragments = grown;
        }
        buffer.set(payload, this.#fragmentBytes);
        this.#fragmentBytes = length;
        if (!fin) return true;
        const message = length === buffer.length ? buffer : buffer.slice(0, length);
        this.#fragments = undefined;
        this.#fragmentBytes = 0;
        this.#inFragmentedMessage = false;
        return this.#deliver(message);
      }
      case Opcode.Ping:
        if (!this.#closeSent) this.#enqueuePong(encodeFrame(Opcode.Pong, payload, this.#masked));
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
      (this.#pending ??= []).push(data);
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

  /**
   * @internal Run by the idle sweep: pings after `idleTimeout` of silence, gives up after twice
   * that.
   * @param now `performance.now()`.
   */
  _checkIdle(now: number): void {
    if (this.#finished) return;
    const timeout = this.#config.idleTimeout;
    const silent = now - this.#lastActivity;
    if (silent < timeout) return;
    // Quiet for a while: an idle connection holds no write buffers.
    this.#spares = [];
    if (silent >= 2 * timeout) {
      return this.#finish({
        code: CloseCode.Abnormal,
        reason: `Idle timeout: nothing received for ${Math.round(silent)} ms`,
        wasClean: false,
      });
    }
    if (this.#pingedAt !== this.#lastActivity && !this.#closeSent) {
      this.#pingedAt = this.#lastActivity;
      this.#enqueueUrgent(encodeFrame(Opcode.Ping, new Uint8Array(), this.#masked));
    }
  }

  /** Listens to the constructor's signal (made only when there is one). */
  #onAbort: (() => void) | undefined;

  // ---- ending ----

  /** Fails the connection (RFC 6455 §7.1.7): send a close frame, then drop TCP. */
  #fail(code: number, reason: string, error?: unknown): false {
    if (this.#failed || this.#finished) return false;
    this.#failed = true;
    if (!this.#closeSent) this.#sendClose(code, truncateUtf8(reason, MAX_CLOSE_REASON_BYTES));
    const info: WsCloseInfo = { code, reason, wasClean: false };
    if (error !== undefined) info.error = error;
    this.#failInfo = info;
    // A client drops TCP once its close frame is out; a server lingers (see #readLoop).
    if (this.#masked) this.drained().then(() => this.#finish(info));
    return false;
  }

  #finish(info: WsCloseInfo): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#idleSweep?.delete(this);
    clearTimeout(this.#closeTimer);
    if (this.#onAbort) this.#signal?.removeEventListener("abort", this.#onAbort);
    this.#urgent = [];
    this.#queued = [];
    this.#spares = [];
    this.#buffered = 0;
    this.#fragments = undefined;
    try {
      this.#conn.close();
    } catch { /* already closed */ }
    const waiters = this.#drainWaiters ?? [];
    this.#drainWaiters = undefined;
    for (const waiter of waiters) waiter.resolve();
    // Resolve only after the pending read and write have settled, so no op outlives `closed`.
    Promise.allSettled([this.#readDone, this.#writeDone]).then(() => this.#resolveClosed(info));
  }
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
