/**
 * A tunnel session multiplexes many HTTP exchanges ("streams") over one WebSocket. The server
 * opens streams; the client answers on them. Each direction of a stream is HEAD, DATA*, END (or
 * RESET), and DATA is flow-controlled by a per-stream credit window plus the socket's
 * `bufferedAmount`, so memory stays bounded whatever the peer does.
 *
 * @module
 */
import { setImmediate } from "node:timers";
import { type Frame, FRAME_HEADER_SIZE, FrameType } from "./frame.ts";
import { decodeFrames, encodeFrames } from "./frame.ts";
import { ProtocolError, StreamResetError } from "./errors.ts";
import type { ResetCode } from "./wire.ts";
import { decodeReset, encodeReset } from "./head.ts";
import {
  DRAIN_POLL_INTERVAL,
  MAX_BATCH_SIZE,
  MAX_CHUNK_SIZE,
  MAX_HEAD_SIZE,
  SOCKET_HIGH_WATER,
  STREAM_WINDOW,
  WINDOW_UPDATE_THRESHOLD,
} from "./limits.ts";

/** The socket a session writes to: a WebSocket or anything shaped like one. */
export interface FrameTransport {
  /** Sends one binary message. */
  send(message: Uint8Array): void;
  /** Bytes queued on the socket and not yet written. */
  readonly bufferedAmount: number;
  /** WebSocket ready state, when known: frames wait while it is 0 (CONNECTING). */
  readonly readyState?: number;
}

/** WebSocket `readyState` while the opening handshake is in progress. */
const CONNECTING = 0;

/** Options for {@linkcode TunnelSession}. */
export interface TunnelSessionOptions {
  /** `server` opens streams; `client` accepts them through `onStream`. */
  role: "server" | "client";
  /** Called for each stream the peer opens (client role). */
  onStream?: (stream: TunnelStream) => void;
  /**
   * Called once when stream ids run out (after ~2^31 streams): the owner should close the socket
   * once {@linkcode TunnelSession.activeStreams} is 0, so the client reconnects with a fresh
   * session; meanwhile `openStream` throws.
   */
  onExhausted?: () => void;
  /** First stream id the server role uses (odd); only tests of id exhaustion change it. @default 1 */
  firstStreamId?: number;
  /**
   * Called once when the socket stayed too full to write for {@linkcode stallTimeout} ms while a
   * stream waited to send: the peer stopped reading (pongs may still arrive). The owner should
   * close the socket as dead.
   */
  onStalled?: () => void;
  /** How long the socket may stay unwritable before {@linkcode onStalled} runs, in ms. @default Infinity */
  stallTimeout?: number;
  /**
   * Receives the queue's frames (ACK, NACK, NOTICE), which belong to no open stream: an ACK may
   * follow the stream's END. Without it such a frame breaks the protocol (a peer that did not
   * ask for queueing never gets or sends them).
   */
  onControl?: (frame: Frame) => void;
}

/** Frame types handled by {@linkcode TunnelSessionOptions.onControl}. */
const CONTROL_TYPES: ReadonlySet<number> = new Set([
  FrameType.Ack,
  FrameType.Nack,
  FrameType.Notice,
]);

/** Largest stream id: ids are u32 on the wire. */
const MAX_STREAM_ID = 0xffff_ffff;

const EMPTY = new Uint8Array(0);
const MAX_CREDIT = 2 ** 31;

/**
 * A deadline may run this much before its time: timers fire by the event loop's clock, which can
 * lag `performance.now()` by up to a millisecond, as a timer per deadline did too.
 */
const DEADLINE_SLACK = 1;
/** A deadline queue holding more than this many entries, most of them cancelled, is compacted. */
const DEADLINE_COMPACT_MIN = 1024;

/** One pending callback of a {@linkcode DeadlineQueue}; `run` is cleared once cancelled or run. */
interface Deadline {
  at: number;
  run: (() => void) | undefined;
}

/**
 * Runs callbacks a fixed delay after they were added, all on one timer: a per-request deadline
 * then costs a queue entry rather than a timer of its own (timers are a measurable part of a
 * webhook's CPU cost). With one delay per queue, adding order is deadline order, so the timer
 * only ever waits for the oldest live entry; cancelled entries are skipped lazily and compacted
 * away when they pile up behind a slow one. The timer is stopped whenever nothing is pending, so
 * a queue keeps the process alive exactly as long as the timers it replaces would.
 */
class DeadlineQueue {
  readonly #delay: number;
  #entries: Deadline[] = [];
  #head = 0;
  #live = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(delay: number) {
    this.#delay = delay;
  }

  add(run: () => void): Deadline {
    const deadline: Deadline = { at: performance.now() + this.#delay, run };
    this.#entries.push(deadline);
    this.#live++;
    this.#timer ??= setTimeout(this.#expire, this.#delay);
    if (this.#entries.length > DEADLINE_COMPACT_MIN && this.#entries.length > 2 * this.#live) {
      this.#entries = this.#entries.filter((entry, i) => i >= this.#head && entry.run);
      this.#head = 0;
    }
    return deadline;
  }

  cancel(deadline: Deadline): void {
    if (!deadline.run) return;
    deadline.run = undefined;
    this.#live--;
    this.#skipDone();
  }

  /** Drops finished entries from the front; stops the timer when none is left. */
  #skipDone(): void {
    const entries = this.#entries;
    while (this.#head < entries.length && !entries[this.#head].run) this.#head++;
    if (this.#head === entries.length) {
      this.#entries = [];
      this.#head = 0;
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }

  #expire = (): void => {
    this.#timer = undefined;
    const now = performance.now() + DEADLINE_SLACK;
    // Fields, not locals: a callback may add or cancel entries.
    while (this.#head < this.#entries.length) {
      const deadline = this.#entries[this.#head];
      const run = deadline.run;
      if (run && deadline.at > now) break;
      this.#head++;
      if (!run) continue;
      deadline.run = undefined;
      this.#live--;
      try {
        run();
      } catch {
        // A failing callback must not stop the other deadlines from firing.
      }
    }
    this.#skipDone();
    if (this.#head < this.#entries.length) {
      clearTimeout(this.#timer);
      this.#timer = setTimeout(this.#expire, this.#entries[this.#head].at - performance.now());
    }
  };
}

/** Multiplexes streams over one WebSocket; see the module doc. */
export class TunnelSession {
  #transport: FrameTransport;
  #role: "server" | "client";
  #onStream?: (stream: TunnelStream) => void;
  #onExhausted?: () => void;
  #exhausted = false;
  /**
   * Open streams; made with the first one (like the deadline queues), since an empty Map costs
   * about 240 bytes and a server holds thousands of sessions that may never carry a webhook.
   */
  #streams: Map<number, TunnelStream> | undefined;
  #nextStreamId = 1;
  #lastPeerStreamId = 0;
  #queue: Frame[] = [];
  #queuedBytes = 0;
  #flushScheduled = false;
  #closedBy: StreamResetError | undefined;
  #drainPoll: Promise<void> | undefined;
  #fullSince: number | undefined;
  #stalled = false;
  #onStalled?: () => void;
  #stallTimeout: number;
  #deadlines: Map<number, DeadlineQueue> | undefined;
  #onControl?: (frame: Frame) => void;

  /**
   * Creates a session over an open (or opening) WebSocket.
   * @param transport The socket to write messages to.
   * @param options Role and stream callback.
   */
  constructor(transport: FrameTransport, options: TunnelSessionOptions) {
    this.#transport = transport;
    this.#role = options.role;
    this.#onStream = options.onStream;
    this.#onExhausted = options.onExhausted;
    this.#nextStreamId = options.firstStreamId ?? 1;
    this.#onStalled = options.onStalled;
    this.#stallTimeout = options.stallTimeout ?? Infinity;
    this.#onControl = options.onControl;
  }

  /** Streams currently open. */
  get activeStreams(): number {
    return this.#streams?.size ?? 0;
  }

  /** True once {@linkcode close} ran. */
  get closed(): boolean {
    return this.#closedBy !== undefined;
  }

  /**
   * Opens a new stream (server role).
   * @returns The stream; send its head with {@linkcode TunnelStream.sendHead}.
   */
  openStream(): TunnelStream {
    if (this.#closedBy) throw this.#closedBy;
    if (this.#nextStreamId > MAX_STREAM_ID) {
      // Open streams finish normally; the owner closes the socket once they are done, and the
      // client reconnects with a fresh session.
      if (!this.#exhausted) {
        this.#exhausted = true;
        this.#onExhausted?.();
      }
      throw new StreamResetError("tunnel_closed", "The tunnel ran out of stream ids");
    }
    const id = this.#nextStreamId;
    this.#nextStreamId += 2;
    const stream = new TunnelStream(this, id);
    (this.#streams ??= new Map()).set(id, stream);
    return stream;
  }

  /**
   * Handles one received WebSocket message.
   * @param message The binary message.
   * @throws {ProtocolError} When the message breaks the protocol; the caller should close the
   * socket with code 1008 and then call {@linkcode close}.
   */
  receive(message: Uint8Array): void {
    if (this.#closedBy) return;
    for (const frame of decodeFrames(message)) this.#dispatch(frame);
  }

  /**
   * Ends the session: every open stream fails with `reason`.
   * @param reason Why; defaults to `tunnel_closed`.
   */
  close(reason?: StreamResetError): void {
    if (this.#closedBy) return;
    this.#closedBy = reason ?? new StreamResetError("tunnel_closed", "The tunnel closed");
    const streams = this.#streams;
    this.#streams = undefined;
    if (streams) { for (const stream of streams.values()) stream._fail(this.#closedBy); }
    this.#queue = [];
    this.#queuedBytes = 0;
  }

  /**
   * Sends a queue frame (ACK, NACK or NOTICE) with the next flush.
   * @param type The frame type.
   * @param streamId The delivery's stream id (0 for NOTICE).
   * @param payload The encoded payload (`protocol/queued.ts`).
   */
  sendControl(type: FrameType, streamId: number, payload: Uint8Array): void {
    this._enqueue({ type, streamId, payload });
  }

  #dispatch(frame: Frame): void {
    if (CONTROL_TYPES.has(frame.type)) {
      if (!this.#onControl) {
        throw new ProtocolError(`Unexpected frame type ${frame.type}: queueing was not negotiated`);
      }
      if ((frame.type === FrameType.Notice) !== (frame.streamId === 0)) {
        throw new ProtocolError(`Frame type ${frame.type} on stream ${frame.streamId}`);
      }
      this.#onControl(frame);
      return;
    }
    if (frame.streamId === 0) throw new ProtocolError("Frame on stream 0");
    let stream = this.#streams?.get(frame.streamId);
    if (!stream) {
      if (this.#role === "client" && frame.type === FrameType.Head) {
        if (frame.streamId <= this.#lastPeerStreamId || frame.streamId % 2 === 0) {
          throw new ProtocolError(`Stream id ${frame.streamId} is not a new odd id`);
        }
        this.#lastPeerStreamId = frame.streamId;
        stream = new TunnelStream(this, frame.streamId);
        (this.#streams ??= new Map()).set(frame.streamId, stream);
        stream._receive(frame);
        this.#onStream?.(stream);
        return;
      }
      // Frames for a stream that was reset or finished on our side can race the reset: ignore.
      if (frame.streamId < this.#nextStreamId || frame.streamId <= this.#lastPeerStreamId) return;
      throw new ProtocolError(`Frame for unknown stream ${frame.streamId}`);
    }
    stream._receive(frame);
  }

  /** @internal Queues a frame and schedules a flush at the end of this tick. */
  _enqueue(frame: Frame): void {
    if (this.#closedBy) return;
    this.#queue.push(frame);
    this.#queuedBytes += frame.payload.length;
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(this.#flushLater ??= () => this.#flush());
    }
  }

  /** Writes every queued frame now instead of at the end of the tick (before closing). */
  flush(): void {
    if (this.#queue.length > 0) this.#flush();
  }

  /** {@linkcode #flush} bound, made with the first frame sent (an idle session has none). */
  #flushLater: (() => void) | undefined;

  #flush(): void {
    this.#flushScheduled = false;
    // Not open yet: keep the frames; the owner calls flush() from its open handler.
    if (this.#transport.readyState === CONNECTING) return;
    const queue = this.#queue;
    this.#queue = [];
    this.#queuedBytes = 0;
    let start = 0;
    let bytes = 0;
    for (let i = 0; i < queue.length; i++) {
      // Count frame headers too: thousands of empty frames must not exceed MAX_MESSAGE_SIZE.
      bytes += FRAME_HEADER_SIZE + queue[i].payload.length;
      if (bytes > MAX_BATCH_SIZE && i > start) {
        this.#send(queue.slice(start, i));
        start = i;
        bytes = FRAME_HEADER_SIZE + queue[i].payload.length;
      }
    }
    if (start < queue.length) this.#send(start === 0 ? queue : queue.slice(start));
  }

  #send(frames: Frame[]): void {
    try {
      this.#transport.send(encodeFrames(frames));
    } catch {
      // The socket is closing; its close handler ends the session.
    }
  }

  /**
   * @internal Resolves once the socket has room for more DATA. One poll per session serves
   * every waiting stream (the server's WebSocket has no drain event). A stream that fails while
   * it waits (reset, timed out, session closed) stops waiting at the next poll, so a peer that
   * never reads cannot pin the uploads of streams that are already over.
   * @param waiter The waiting stream.
   */
  async _waitForSocket(waiter: TunnelStream): Promise<void> {
    while (this.#socketFull()) {
      const failure = waiter._failure;
      if (failure) throw failure;
      this.#checkStall();
      this.#drainPoll ??= new Promise<void>((resolve) =>
        setTimeout(() => {
          this.#drainPoll = undefined;
          resolve();
        }, DRAIN_POLL_INTERVAL)
      );
      await this.#drainPoll;
    }
    this.#fullSince = undefined;
    if (this.#closedBy) throw this.#closedBy;
  }

  /** Reports a socket that stayed unwritable past the stall timeout, once. */
  #checkStall(): void {
    const now = performance.now();
    this.#fullSince ??= now;
    if (!this.#stalled && now - this.#fullSince >= this.#stallTimeout) {
      this.#stalled = true;
      this.#onStalled?.();
    }
  }

  #socketFull(): boolean {
    return !this.#closedBy &&
      this.#transport.bufferedAmount + this.#queuedBytes > SOCKET_HIGH_WATER;
  }

  /** @internal The deadline queue for `delay` ms, shared by every stream of the session. */
  _deadlines(delay: number): DeadlineQueue {
    const queues = this.#deadlines ??= new Map();
    let queue = queues.get(delay);
    if (!queue) queues.set(delay, queue = new DeadlineQueue(delay));
    return queue;
  }

  /** @internal Forgets a finished stream. */
  _remove(id: number): void {
    this.#streams?.delete(id);
  }
}

/** Options for {@linkcode TunnelStream.sendBody}. */
export interface SendBodyOptions {
  /** Fail with `body_too_large` once more than this many bytes were read. @default Infinity */
  maxBytes?: number;
}

/**
 * One HTTP exchange inside a {@linkcode TunnelSession}. The outgoing side is written with
 * `sendHead`, `sendBody`/`sendEnd` or `reset`; the incoming side is read from `head` and `body`.
 */
export class TunnelStream {
  /** Stream id, unique within its session. */
  readonly id: number;
  #body: ReadableStream<Uint8Array> | undefined;

  #session: TunnelSession;
  /** The peer's HEAD payload, once received. */
  #headPayload: Uint8Array | undefined;
  // The promises behind `head` and `remoteEnded` are made on first access (most streams need at
  // most one of them), and settled from the stream's state then or when it changes.
  #head: PromiseWithResolvers<Uint8Array> | undefined;
  #ended: PromiseWithResolvers<void> | undefined;
  #controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  #inbox: Uint8Array[] = [];
  #inboxEnded = false;
  #pullPending = false;
  #receivedUngranted = 0;
  #consumedUngranted = 0;
  #remoteDone = false;
  #localDone = false;
  #failure: StreamResetError | undefined;
  #sendCredit = STREAM_WINDOW;
  #creditWaiter: (() => void) | undefined;
  #onReset: ((error: StreamResetError) => void) | undefined;
  #deadline: { queue: DeadlineQueue; entry: Deadline } | undefined;
  #bytesReceived = 0;
  #bodyTouched = false;

  /** @internal Created by {@linkcode TunnelSession}. */
  constructor(session: TunnelSession, id: number) {
    this.#session = session;
    this.id = id;
  }

  /**
   * Resolves with the peer's HEAD payload; rejects with {@linkcode StreamResetError} when the
   * stream fails before it arrives.
   */
  get head(): Promise<Uint8Array> {
    if (!this.#head) {
      this.#head = Promise.withResolvers();
      this.#head.promise.catch(() => {});
      if (this.#headPayload) this.#head.resolve(this.#headPayload);
      else if (this.#failure) this.#head.reject(this.#failure);
    }
    return this.#head.promise;
  }

  /**
   * Resolves when the peer's END arrives; rejects with {@linkcode StreamResetError} when the
   * stream fails before it.
   */
  get remoteEnded(): Promise<void> {
    if (!this.#ended) {
      this.#ended = Promise.withResolvers();
      this.#ended.promise.catch(() => {});
      if (this.#inboxEnded) this.#ended.resolve();
      else if (this.#failure) this.#ended.reject(this.#failure);
    }
    return this.#ended.promise;
  }

  /**
   * The peer's body; errors with {@linkcode StreamResetError} if the stream is reset. Created on
   * first access, so a body taken whole with {@linkcode takeBufferedBody} costs no stream.
   */
  get body(): ReadableStream<Uint8Array> {
    this.#body ??= new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.#controller = controller;
        if (this.#failure && !this.#inboxEnded) controller.error(this.#failure);
      },
      pull: () => {
        this.#bodyTouched = true;
        this.#pullPending = true;
        this.#deliver();
      },
      cancel: () => {
        this.#inbox = [];
        if (!this.#remoteDone) this.reset("cancelled", "The receiver stopped reading");
      },
    }, { highWaterMark: 0 });
    return this.#body;
  }

  /** Body bytes received from the peer so far. */
  get bytesReceived(): number {
    return this.#bytesReceived;
  }

  /**
   * The peer's whole body when its END has already arrived and nothing of it was read yet (a small
   * body that came in one message): lets callers skip the ReadableStream.
   * @returns The bytes, or `undefined` when the body is still streaming or was partly read.
   */
  takeBufferedBody(): Uint8Array | undefined {
    if (!this.#inboxEnded || this.#failure || this.#bodyTouched) return undefined;
    this.#bodyTouched = true;
    const parts = this.#inbox;
    this.#inbox = [];
    const total = parts.reduce((n, p) => n + p.length, 0);
    this.#grant(total);
    if (parts.length === 1) return parts[0];
    const out = new Uint8Array(total);
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }

  /** The error the stream failed with, if any. */
  get failure(): StreamResetError | undefined {
    return this.#failure;
  }

  /**
   * Registers a callback run once if the stream is reset by the peer or the session closes.
   * @param callback Receives the reset error.
   */
  onReset(callback: (error: StreamResetError) => void): void {
    this.#onReset = callback;
  }

  /**
   * Runs `onExpire` in `ms` unless {@linkcode clearDeadline} runs first or the stream fails;
   * replaces an earlier deadline. Streams of a session with the same `ms` share one timer, so this
   * is cheaper than a `setTimeout` per stream.
   * @param ms Delay in milliseconds.
   * @param onExpire Called once when the deadline passes.
   */
  setDeadline(ms: number, onExpire: () => void): void {
    this.clearDeadline();
    const queue = this.#session._deadlines(ms);
    this.#deadline = { queue, entry: queue.add(onExpire) };
  }

  /** Cancels the pending deadline, if any. */
  clearDeadline(): void {
    const deadline = this.#deadline;
    if (!deadline) return;
    this.#deadline = undefined;
    deadline.queue.cancel(deadline.entry);
  }

  /**
   * Sends this side's head.
   * @param payload An encoded request or response head.
   * @throws {RangeError} When it exceeds {@linkcode MAX_HEAD_SIZE}: the peer would take it as a
   * protocol error and drop the whole tunnel, so nothing is sent and the caller answers this one
   * request with an error.
   */
  sendHead(payload: Uint8Array): void {
    if (payload.length > MAX_HEAD_SIZE) {
      throw new RangeError(
        `Cannot send a head of ${payload.length} bytes: the limit is ${MAX_HEAD_SIZE} bytes`,
      );
    }
    this.#session._enqueue({ type: FrameType.Head, streamId: this.id, payload });
  }

  /**
   * Sends a body in chunks of at most 64 KiB, waiting for credit and socket room, then END.
   * @param source The body.
   * @param options Size limit.
   * @returns The number of body bytes sent.
   * @throws {StreamResetError} When the stream is reset meanwhile or the body is too large (the
   * stream is then reset with `body_too_large`).
   */
  async sendBody(
    source: AsyncIterable<Uint8Array> | Iterable<Uint8Array> | null,
    options: SendBodyOptions = {},
  ): Promise<number> {
    const maxBytes = options.maxBytes ?? Infinity;
    let sent = 0;
    if (source) {
      for await (const chunk of source) {
        if (this.#failure) throw this.#failure;
        sent += chunk.length;
        if (sent > maxBytes) {
          const error = new StreamResetError(
            "body_too_large",
            `The body exceeds the limit of ${maxBytes} bytes`,
          );
          this.reset(error.code, error.message);
          throw error;
        }
        await this.#sendChunk(chunk);
      }
    }
    if (this.#failure) throw this.#failure;
    this.sendEnd();
    return sent;
  }

  /** Sends END without a body (or after one sent by other means). */
  sendEnd(): void {
    if (this.#localDone) return;
    this.#session._enqueue({ type: FrameType.End, streamId: this.id, payload: EMPTY });
    this.#localDone = true;
    this.#maybeRemove();
  }

  /**
   * Aborts the stream in both directions and tells the peer why.
   * @param code Why.
   * @param message Human-readable detail.
   */
  reset(code: ResetCode, message: string): void {
    if (this.#failure) return;
    if (!this.#localDone || !this.#remoteDone) {
      this.#session._enqueue({
        type: FrameType.Reset,
        streamId: this.id,
        payload: encodeReset({ code, message }),
      });
    }
    this._fail(new StreamResetError(code, message), false);
  }

  /** @internal Why the stream failed, if it did. */
  get _failure(): StreamResetError | undefined {
    return this.#failure;
  }

  async #sendChunk(chunk: Uint8Array): Promise<void> {
    let offset = 0;
    while (offset < chunk.length) {
      while (this.#sendCredit === 0) {
        await new Promise<void>((resolve) => (this.#creditWaiter = resolve));
        if (this.#failure) throw this.#failure;
      }
      await this.#session._waitForSocket(this);
      if (this.#failure) throw this.#failure;
      const size = Math.min(chunk.length - offset, MAX_CHUNK_SIZE, this.#sendCredit);
      this.#sendCredit -= size;
      this.#session._enqueue({
        type: FrameType.Data,
        streamId: this.id,
        payload: chunk.subarray(offset, offset + size),
      });
      offset += size;
    }
  }

  /** @internal Handles a frame of this stream. */
  _receive(frame: Frame): void {
    switch (frame.type) {
      case FrameType.Head:
        if (this.#headPayload) throw new ProtocolError(`Second HEAD on stream ${this.id}`);
        this.#headPayload = frame.payload;
        this.#head?.resolve(frame.payload);
        return;
      case FrameType.Data:
        this.#requireOpenBody("DATA");
        this.#receivedUngranted += frame.payload.length;
        this.#bytesReceived += frame.payload.length;
        if (this.#receivedUngranted > STREAM_WINDOW) {
          throw new ProtocolError(`Stream ${this.id} exceeded its credit window`);
        }
        this.#inbox.push(frame.payload);
        this.#deliver();
        return;
      case FrameType.End:
        this.#requireOpenBody("END");
        this.#inboxEnded = true;
        this.#remoteDone = true;
        this.#ended?.resolve();
        this.#deliver();
        this.#maybeRemove();
        return;
      case FrameType.Reset: {
        const info = decodeReset(frame.payload);
        this.#remoteDone = true;
        this.#localDone = true;
        this._fail(new StreamResetError(info.code, info.message));
        return;
      }
      case FrameType.Window: {
        // Check the length first: a DataView past the end of a short payload throws RangeError.
        if (frame.payload.length !== 4) {
          throw new ProtocolError(`Invalid WINDOW on stream ${this.id}`);
        }
        const grant = new DataView(frame.payload.buffer, frame.payload.byteOffset, 4).getUint32(0);
        if (grant === 0 || this.#sendCredit + grant > MAX_CREDIT) {
          throw new ProtocolError(`Invalid WINDOW on stream ${this.id}`);
        }
        this.#sendCredit += grant;
        this.#wakeSender();
        return;
      }
    }
  }

  #requireOpenBody(what: string): void {
    if (!this.#headPayload || this.#inboxEnded) {
      throw new ProtocolError(`${what} on stream ${this.id} outside of a body`);
    }
  }

  #deliver(): void {
    // After END, data already received is still delivered even if the stream fails later.
    if (!this.#pullPending || (this.#failure && !this.#inboxEnded)) return;
    const chunk = this.#inbox.shift();
    if (chunk) {
      this.#pullPending = false;
      this.#controller!.enqueue(chunk);
      this.#grant(chunk.length);
    } else if (this.#inboxEnded) {
      this.#pullPending = false;
      this.#controller!.close();
    }
  }

  #grant(consumed: number): void {
    this.#consumedUngranted += consumed;
    if (this.#consumedUngranted < WINDOW_UPDATE_THRESHOLD || this.#inboxEnded) return;
    const payload = new Uint8Array(4);
    new DataView(payload.buffer).setUint32(0, this.#consumedUngranted);
    this.#receivedUngranted -= this.#consumedUngranted;
    this.#consumedUngranted = 0;
    this.#session._enqueue({ type: FrameType.Window, streamId: this.id, payload });
  }

  #wakeSender(): void {
    const waiter = this.#creditWaiter;
    this.#creditWaiter = undefined;
    waiter?.();
  }

  #maybeRemove(): void {
    if (this.#localDone && this.#remoteDone) this.#session._remove(this.id);
  }

  /** @internal Fails both directions; `notify` runs the reset callback. */
  _fail(error: StreamResetError, notify = true): void {
    if (this.#failure) return;
    this.#failure = error;
    this.#localDone = true;
    this.#remoteDone = true;
    this.#session._remove(this.id);
    this.clearDeadline();
    this.#head?.reject(error);
    this.#ended?.reject(error);
    if (!this.#inboxEnded) {
      this.#inbox = [];
      try {
        this.#controller?.error(error);
      } catch {
        // Already closed or cancelled.
      }
    }
    this.#wakeSender();
    if (notify) this.#onReset?.(error);
  }
}
