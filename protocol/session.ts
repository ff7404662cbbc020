/**
 * A tunnel session multiplexes many HTTP exchanges ("streams") over one WebSocket. The server
 * opens streams; the client answers on them. Each direction of a stream is HEAD, DATA*, END (or
 * RESET), and DATA is flow-controlled by a per-stream credit window plus the socket's
 * `bufferedAmount`, so memory stays bounded whatever the peer does.
 *
 * @module
 */
import { setImmediate } from "node:timers";
import { type Frame, FRAME_HEADER_SIZE, FrameType, writeFrameHeader } from "./frame.ts";
import { forEachFrame } from "./frame.ts";
import { ProtocolError, StreamResetError } from "./errors.ts";
import { StreamTable } from "./_stream_table.ts";
import type { ResetCode } from "./wire.ts";
import {
  decodeReset,
  encodeReset,
  encodeResponseHead,
  type ResponseHead,
  responseHeadBound,
  writeResponseHead,
} from "./head.ts";
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
  /**
   * `send` copies the message before it returns (the client's own WebSocket does): the session
   * then builds every message in one reused buffer instead of a fresh one each.
   */
  readonly copiesOnSend?: boolean;
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
 * Smallest buffer outgoing frames are encoded into: a few small frames. A new buffer is at
 * least as large as the last tick's messages, and grows by doubling.
 */
const OUT_BUFFER_MIN_BYTES = 1024;
/**
 * A reused buffer grown beyond this for a burst is not kept once flushed: the usual tick's
 * frames take a few KiB, and an idle session should not pin a burst's megabyte.
 */
const OUT_BUFFER_KEEP_BYTES = 2 * MAX_BATCH_SIZE;

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
  /** Open streams by id (not a Map: see `_stream_table.ts`). */
  #streams = new StreamTable<TunnelStream>();
  #nextStreamId = 1;
  #lastPeerStreamId = 0;
  /**
   * The frames queued this tick, encoded at once (so a payload may be a view its owner reuses
   * as soon as the call returns): `#out[0, #outLength)`, sent as one message per batch.
   */
  #out: Uint8Array = EMPTY;
  #outLength = 0;
  /** Size of the next new `#out`: what the last flush sent. */
  #outHint = OUT_BUFFER_MIN_BYTES;
  /** Where each full batch ends (the last batch ends at `#outLength`). */
  #batchEnds: number[] = [];
  #batchStart = 0;
  /** Payload bytes queued (counted against {@linkcode SOCKET_HIGH_WATER}). */
  #queuedBytes = 0;
  #flushScheduled = false;
  #closedBy: StreamResetError | undefined;
  #drainPoll: Promise<void> | undefined;
  #fullSince: number | undefined;
  #stalled = false;
  #onStalled?: () => void;
  #stallTimeout: number;
  /** Deadline queues by delay, made with the first deadline (an idle session has none). */
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
    return this.#streams.size;
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
    this.#streams.set(id, stream);
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
    forEachFrame(message, this.#dispatch);
  }

  /**
   * Ends the session: every open stream fails with `reason`.
   * @param reason Why; defaults to `tunnel_closed`.
   */
  close(reason?: StreamResetError): void {
    if (this.#closedBy) return;
    this.#closedBy = reason ?? new StreamResetError("tunnel_closed", "The tunnel closed");
    const streams = this.#streams.values();
    this.#streams.clear();
    for (const stream of streams) stream._fail(this.#closedBy);
    this.#resetOut();
  }

  /**
   * Sends a queue frame (ACK, NACK or NOTICE) with the next flush.
   * @param type The frame type.
   * @param streamId The delivery's stream id (0 for NOTICE).
   * @param payload The encoded payload (`protocol/queued.ts`).
   */
  sendControl(type: FrameType, streamId: number, payload: Uint8Array): void {
    this._enqueue(type, streamId, payload);
  }

  #dispatch = (type: FrameType, streamId: number, payload: Uint8Array): void => {
    if (CONTROL_TYPES.has(type)) {
      if (!this.#onControl) {
        throw new ProtocolError(`Unexpected frame type ${type}: queueing was not negotiated`);
      }
      if ((type === FrameType.Notice) !== (streamId === 0)) {
        throw new ProtocolError(`Frame type ${type} on stream ${streamId}`);
      }
      this.#onControl({ type, streamId, payload });
      return;
    }
    if (streamId === 0) throw new ProtocolError("Frame on stream 0");
    let stream = this.#streams.get(streamId);
    if (!stream) {
      if (this.#role === "client" && type === FrameType.Head) {
        if (streamId <= this.#lastPeerStreamId || streamId % 2 === 0) {
          throw new ProtocolError(`Stream id ${streamId} is not a new odd id`);
        }
        this.#lastPeerStreamId = streamId;
        stream = new TunnelStream(this, streamId);
        this.#streams.set(streamId, stream);
        stream._receive(type, payload);
        this.#onStream?.(stream);
        return;
      }
      // Frames for a stream that was reset or finished on our side can race the reset: ignore.
      if (streamId < this.#nextStreamId || streamId <= this.#lastPeerStreamId) return;
      throw new ProtocolError(`Frame for unknown stream ${streamId}`);
    }
    stream._receive(type, payload);
  };

  /**
   * @internal Queues a frame and schedules a flush at the end of this tick. The payload is
   * copied at once.
   */
  _enqueue(type: FrameType, streamId: number, payload: Uint8Array): void {
    if (this.#closedBy) return;
    const at = this.#reserve(payload.length);
    writeFrameHeader(this.#out, at, type, streamId, payload.length);
    this.#out.set(payload, at + FRAME_HEADER_SIZE);
    this.#queued(payload.length);
  }

  /**
   * @internal Queues a HEAD frame with `head` written straight into the outgoing buffer
   * ({@linkcode writeResponseHead}).
   * @returns false (nothing queued) when the head needs the general encoder, or may be too large.
   */
  _enqueueResponseHead(streamId: number, head: ResponseHead): boolean {
    if (this.#closedBy) return true;
    const bound = responseHeadBound(head);
    if (bound > MAX_HEAD_SIZE) return false;
    const at = this.#outLength;
    this.#room(at + FRAME_HEADER_SIZE + bound);
    const start = at + FRAME_HEADER_SIZE;
    const end = writeResponseHead(head, this.#out, start);
    if (end < 0) return false;
    this.#startFrame(at, end - at);
    writeFrameHeader(this.#out, at, FrameType.Head, streamId, end - start);
    this.#outLength = end;
    this.#queued(end - start);
    return true;
  }

  /**
   * Makes room for a frame of `payloadBytes` at the end of `#out` and moves the end past it.
   * @returns Where the frame starts.
   */
  #reserve(payloadBytes: number): number {
    const size = FRAME_HEADER_SIZE + payloadBytes;
    if (this.#outLength + size > MAX_BATCH_SIZE && this.#outLength > 0 && this.#sendsEarly()) {
      // A full message: hand it over now rather than growing the buffer for the whole tick (a
      // burst of body chunks would otherwise need megabytes, copied at every doubling).
      this.#flush();
    }
    const at = this.#outLength;
    this.#startFrame(at, size);
    this.#room(at + size);
    this.#outLength = at + size;
    return at;
  }

  /** Whether a full message may be sent before the end of the tick: the socket is open and copies it. */
  #sendsEarly(): boolean {
    return this.#transport.copiesOnSend === true && this.#transport.readyState !== CONNECTING;
  }

  /**
   * Starts a new batch at `at` when a frame of `size` bytes there would overfill the current one.
   * Frame headers count too: thousands of empty frames must not exceed MAX_MESSAGE_SIZE.
   */
  #startFrame(at: number, size: number): void {
    if (at - this.#batchStart + size > MAX_BATCH_SIZE && at > this.#batchStart) {
      this.#batchEnds.push(at);
      this.#batchStart = at;
    }
  }

  /** Grows `#out` (keeping its bytes) to at least `length` bytes. */
  #room(length: number): void {
    if (length <= this.#out.length) return;
    let size = Math.max(2 * this.#out.length, this.#outHint);
    while (size < length) size *= 2;
    const out = new Uint8Array(size);
    out.set(this.#out.subarray(0, this.#outLength));
    this.#out = out;
  }

  #queued(payloadBytes: number): void {
    this.#queuedBytes += payloadBytes;
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(this.#flush);
    }
  }

  /**
   * Empties the queue. `keep`: the transport copied what was sent, so the buffer is reused
   * (unless a burst grew it); otherwise the transport owns the buffer now.
   */
  #resetOut(keep = true): void {
    this.#outLength = 0;
    if (this.#batchEnds.length > 0) this.#batchEnds = [];
    this.#batchStart = 0;
    this.#queuedBytes = 0;
    if (!keep || this.#out.length > OUT_BUFFER_KEEP_BYTES) this.#out = EMPTY;
  }

  /** Writes every queued frame now instead of at the end of the tick (before closing). */
  flush(): void {
    if (this.#outLength > 0) this.#flush();
  }

  #flush = (): void => {
    this.#flushScheduled = false;
    // Not open yet: keep the frames; the owner calls flush() from its open handler.
    if (this.#transport.readyState === CONNECTING || this.#outLength === 0) return;
    const out = this.#out;
    const length = this.#outLength;
    this.#outHint = Math.max(OUT_BUFFER_MIN_BYTES, Math.min(length, MAX_BATCH_SIZE));
    // Each message is a view of the buffer: a transport that copies lets us reuse it, any other
    // is handed it for good (a new one is made for the next tick's frames).
    let start = 0;
    for (const end of this.#batchEnds) {
      this.#send(out.subarray(start, end));
      start = end;
    }
    this.#send(out.subarray(start, length));
    this.#resetOut(this.#transport.copiesOnSend === true);
  };

  #send(message: Uint8Array): void {
    try {
      this.#transport.send(message);
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

  /** @internal Whether DATA may be queued now without waiting for the socket to drain. */
  _hasSocketRoom(): boolean {
    return !this.#socketFull();
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
    this.#streams.delete(id);
  }
}

function tooLargeHead(size: number): RangeError {
  return new RangeError(`Cannot send a head of ${size} bytes: the limit is ${MAX_HEAD_SIZE} bytes`);
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
  #head: Promise<Uint8Array> | undefined;
  /** Settles `#head` when it was made before the HEAD arrived. */
  #headWaiter: PromiseWithResolvers<Uint8Array> | undefined;
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
  #deadlineQueue: DeadlineQueue | undefined;
  #deadline: Deadline | undefined;
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
      if (this.#headPayload) {
        // The usual case (a stream is opened by its HEAD): one settled promise, nothing more.
        this.#head = Promise.resolve(this.#headPayload);
      } else {
        const waiter = this.#headWaiter = Promise.withResolvers();
        waiter.promise.catch(() => {});
        if (this.#failure) waiter.reject(this.#failure);
        this.#head = waiter.promise;
      }
    }
    return this.#head;
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
    this.#deadlineQueue = queue;
    this.#deadline = queue.add(onExpire);
  }

  /** Cancels the pending deadline, if any. */
  clearDeadline(): void {
    const deadline = this.#deadline;
    if (!deadline) return;
    this.#deadline = undefined;
    this.#deadlineQueue!.cancel(deadline);
  }

  /**
   * Sends this side's head.
   * @param payload An encoded request or response head, or a response head to encode (written
   *   straight into the outgoing message: the bytes of `encodeResponseHead(payload)`).
   * @throws {RangeError} When it exceeds {@linkcode MAX_HEAD_SIZE}: the peer would take it as a
   * protocol error and drop the whole tunnel, so nothing is sent and the caller answers this one
   * request with an error.
   */
  sendHead(payload: Uint8Array | ResponseHead): void {
    if (!(payload instanceof Uint8Array)) {
      if (this.#session._enqueueResponseHead(this.id, payload)) return;
      payload = encodeResponseHead(payload);
    }
    if (payload.length > MAX_HEAD_SIZE) throw tooLargeHead(payload.length);
    this.#session._enqueue(FrameType.Head, this.id, payload);
  }

  /**
   * Sends a body in chunks of at most 64 KiB, waiting for credit and socket room, then END. A
   * body of at most one chunk given as an array (or `null`) that needs no wait is queued, END
   * included, before this returns (the chunk is copied: it may be reused at once).
   * @param source The body.
   * @param options Size limit.
   * @returns The number of body bytes sent.
   * @throws {StreamResetError} When the stream is reset meanwhile or the body is too large (the
   * stream is then reset with `body_too_large`).
   */
  sendBody(
    source: AsyncIterable<Uint8Array> | Iterable<Uint8Array> | null,
    options: SendBodyOptions = {},
  ): Promise<number> {
    const maxBytes = options.maxBytes ?? Infinity;
    // A whole small body (the usual answer) goes out at once, END included, when it needs no
    // wait for credit or socket room: no async iteration, and the chunk is copied before this
    // returns, so it may be a view its owner reuses.
    if (source === null || (Array.isArray(source) && source.length <= 1)) {
      const chunk: Uint8Array | undefined = source?.[0];
      const size = chunk?.length ?? 0;
      if (
        !this.#failure && size <= maxBytes && size <= MAX_CHUNK_SIZE && size <= this.#sendCredit &&
        (size === 0 || this.#session._hasSocketRoom())
      ) {
        if (size > 0) {
          this.#sendCredit -= size;
          this.#session._enqueue(FrameType.Data, this.id, chunk!);
        }
        this.sendEnd();
        return Promise.resolve(size);
      }
    }
    // Chunks handed over in an array are copied before this returns either way.
    if (Array.isArray(source)) source = source.map((chunk: Uint8Array) => chunk.slice());
    return this.#sendBody(source, maxBytes);
  }

  async #sendBody(
    source: AsyncIterable<Uint8Array> | Iterable<Uint8Array> | null,
    maxBytes: number,
  ): Promise<number> {
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
    this.#session._enqueue(FrameType.End, this.id, EMPTY);
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
      this.#session._enqueue(FrameType.Reset, this.id, encodeReset({ code, message }));
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
      this.#session._enqueue(FrameType.Data, this.id, chunk.subarray(offset, offset + size));
      offset += size;
    }
  }

  /** @internal Handles a frame of this stream. */
  _receive(type: FrameType, payload: Uint8Array): void {
    switch (type) {
      case FrameType.Head:
        if (this.#headPayload) throw new ProtocolError(`Second HEAD on stream ${this.id}`);
        this.#headPayload = payload;
        this.#headWaiter?.resolve(payload);
        return;
      case FrameType.Data:
        this.#requireOpenBody("DATA");
        this.#receivedUngranted += payload.length;
        this.#bytesReceived += payload.length;
        if (this.#receivedUngranted > STREAM_WINDOW) {
          throw new ProtocolError(`Stream ${this.id} exceeded its credit window`);
        }
        this.#inbox.push(payload);
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
        const info = decodeReset(payload);
        this.#remoteDone = true;
        this.#localDone = true;
        this._fail(new StreamResetError(info.code, info.message));
        return;
      }
      case FrameType.Window: {
        // Check the length first: a DataView past the end of a short payload throws RangeError.
        if (payload.length !== 4) {
          throw new ProtocolError(`Invalid WINDOW on stream ${this.id}`);
        }
        const grant = new DataView(payload.buffer, payload.byteOffset, 4).getUint32(0);
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
    this.#session._enqueue(FrameType.Window, this.id, payload);
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
    this.#headWaiter?.reject(error);
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
