/**
 * Drains a channel's queue into its attached client in arrival order. A client that negotiated
 * a window (`X-Wow-Queue-Window`) gets up to that many deliveries unanswered at once (leased
 * together, acks written in batches); it delivers them to the app one after another and ACKs
 * each; an older client gets window 1 (one at a time). Each delivery is a stream whose HEAD
 * carries the delivery id, attempt and, behind an unanswered one, the `chained` mark, and whose
 * body streams from the store. An ACK (the app answered) deletes it; a NACK, reset or timeout
 * (the app was unreachable or too slow) gives it back with the store's backoff (1 s doubling to
 * 60 s), and with it every later one of the window: the client skips those (chained behind a
 * failure) and the next window starts again from the first unacked one, so the app sees the
 * queue in order. While anything is queued the channel is marked `draining`, so new webhooks
 * join the end of the queue instead of overtaking it.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import type { Channel } from "./channels.ts";
import type { ServerContext } from "./context.ts";
import {
  decodeAck,
  decodeNack,
  decodeResponseHead,
  encodeNotice,
  encodeRequestHead,
  type Frame,
  FrameType,
  MAX_CHUNK_SIZE,
  type TunnelSession,
  type TunnelStream,
} from "../protocol/mod.ts";
import type { Delivery, QueueStore } from "./queue/mod.ts";

const log = getLogger(["wow", "server", "queue"]);

/** How the client answered one queued delivery. */
type Verdict =
  | { kind: "ack"; status: number }
  | { kind: "nack"; reason: string }
  | { kind: "closed" };

/** A delivery sent and not yet answered. */
interface InFlight {
  delivery: Delivery;
  stream: TunnelStream;
  /** Starts its deadline: once every delivery sent before it is answered. */
  arm(): void;
}

/**
 * How long a drain waits between leases while the queue is empty, ms: a local store wakes it on
 * enqueue (this is a safety net); a shared Redis store is polled, since another replica may queue.
 */
const IDLE_WAIT = { local: 30_000, shared: 1_000 } as const;

/** While a retry delay holds the queue back, the drain looks again this often, ms. */
const RETRY_POLL = 250;

/** Queued bodies up to this size are read whole before sending (one DATA frame). */
const SMALL_BODY = MAX_CHUNK_SIZE;

/**
 * Acks are written this long after the first of a batch, ms, so those arriving meanwhile share
 * one store transaction or round trip (the window keeps the drain going while they wait).
 */
const ACK_BATCH_DELAY = 5;

/** A store call that failed is retried after this long, ms. */
const STORE_ERROR_PAUSE = 1_000;

/** Drains one attached client's channel; see the module doc. */
export class ChannelDrain {
  readonly #ctx: ServerContext;
  readonly #queue: QueueStore;
  readonly #channel: Channel;
  readonly #consumer: string;
  readonly #window: number;
  /** Sent and unanswered, in the order sent. */
  readonly #inFlight: InFlight[] = [];
  readonly #stop = new AbortController();
  /** Acked ids not yet written to the store, with what the log line says. */
  #acks: { id: string; status: number; attempt: number }[] = [];
  #flushing: Promise<void> | undefined;
  /** Deliveries that failed: the drain gives them back (and stops sending) before going on. */
  #failed: { delivery: Delivery; reason: string }[] = [];
  /** Resolves the drain loop's wait for the next verdict. */
  #wake: (() => void) | undefined;
  #closed = false;
  #session: TunnelSession | undefined;
  #running: Promise<void> | undefined;

  /**
   * Creates the drain; {@linkcode start} runs it once the session is attached.
   * @param ctx The server's context (with a queue).
   * @param channel The channel.
   * @param window Most deliveries sent unanswered at once (1 for clients that did not negotiate).
   */
  constructor(ctx: ServerContext, channel: Channel, window = 1) {
    this.#ctx = ctx;
    this.#queue = ctx.queue!;
    this.#channel = channel;
    this.#window = Math.max(1, Math.floor(window));
    // The store allows `A-Z a-z 0-9 . _ ~ - : @ [ ]`: the replica's host:port and a session tag.
    this.#consumer = `${new URL(ctx.serverUrl).host}@${crypto.randomUUID().slice(0, 8)}`;
  }

  /**
   * Handles an ACK or NACK from the client (the session's `onControl`).
   * @param frame The frame.
   */
  control(frame: Frame): void {
    if (frame.type === FrameType.Ack) {
      const { id, status } = decodeAck(frame.payload);
      const entry = this.#find(frame.streamId);
      // A late ACK (after the server gave up waiting): the app got it all the same.
      if (!entry) this.#ack(id, status, 0);
      else this.#settle(entry, { kind: "ack", status });
    } else if (frame.type === FrameType.Nack) {
      const { reason } = decodeNack(frame.payload);
      const entry = this.#find(frame.streamId);
      if (entry) this.#settle(entry, { kind: "nack", reason });
    }
  }

  /**
   * Tells the client what happened while it was away (NOTICE) and starts draining.
   * @param session The client's session, attached.
   */
  start(session: TunnelSession): void {
    this.#session = session;
    this.#channel.draining = true;
    this.#running = this.#run().catch((error) => {
      log.error("Draining the queue of channel {channelId} failed: {error}", {
        channelId: this.#channel.id,
        error: String(error),
      });
    });
  }

  /** Stops (the client left): its leases go back to the queue at once. */
  async stop(): Promise<void> {
    this.#stop.abort();
    this.#closed = true;
    for (const entry of this.#inFlight) entry.stream.clearDeadline();
    this.#inFlight.length = 0;
    this.#wake?.();
    await this.#running;
    await this.#flushAcks();
    await this.#queue.release(this.#channel.id, this.#consumer).catch(() => {});
  }

  #find(streamId: number): InFlight | undefined {
    return this.#inFlight.find((entry) => entry.stream.id === streamId);
  }

  /**
   * Applies a verdict: an ACK leaves the window (its write is batched); a failure takes the
   * delivery and every later one out of the window (the client skips those, chained behind it)
   * and makes the drain give it back before sending more.
   */
  #settle(entry: InFlight, verdict: Verdict): void {
    const at = this.#inFlight.indexOf(entry);
    if (at < 0) return;
    if (verdict.kind === "closed") {
      this.#closed = true;
      this.#wake?.();
      return;
    }
    const removed = verdict.kind === "ack"
      ? this.#inFlight.splice(at, 1)
      : this.#inFlight.splice(at);
    for (const gone of removed) gone.stream.clearDeadline();
    if (verdict.kind === "ack") {
      this.#ack(entry.delivery.id, verdict.status, entry.delivery.attempts);
    } else {
      this.#failed.push({ delivery: entry.delivery, reason: verdict.reason });
    }
    if (at === 0) this.#inFlight[0]?.arm();
    this.#wake?.();
  }

  /** Queues an ack for the next batched write. */
  #ack(id: string, status: number, attempt: number): void {
    this.#acks.push({ id, status, attempt });
    this.#flushing ??= this.#writeAcks();
  }

  /** Waits until every ack so far is written. */
  async #flushAcks(): Promise<void> {
    while (this.#flushing) await this.#flushing;
  }

  /**
   * Writes acks in batches (one store call each) until none is left, then clears `#flushing`
   * in the same step as it finds none, so an ack arriving later starts a new write.
   */
  async #writeAcks(): Promise<void> {
    const channelId = this.#channel.id;
    await new Promise((resolve) => setTimeout(resolve, ACK_BATCH_DELAY));
    while (this.#acks.length > 0) {
      const batch = this.#acks;
      this.#acks = [];
      try {
        await this.#queue.ackMany(channelId, batch.map((a) => a.id));
      } catch (error) {
        this.#storeFailed("Cannot record the acks of {count} queued webhooks: {error}", error, {
          count: batch.length,
        });
        continue;
      }
      for (const { id, status, attempt } of batch) {
        this.#ctx.metrics.queueDelivered();
        log.info(
          "Delivered queued webhook {deliveryId} of channel {channelId}: the app answered {status} (attempt {attempt})",
          { deliveryId: id, channelId, status, attempt: attempt || "late" },
        );
      }
    }
    this.#flushing = undefined;
  }

  /** Resolves at the next verdict (or when the drain stops). */
  #nextVerdict(): Promise<void> {
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#wake = () => {
      this.#wake = undefined;
      resolve();
    };
    return promise;
  }

  async #run(): Promise<void> {
    const channelId = this.#channel.id;
    const signal = this.#stop.signal;
    // Depth first: it drops expired deliveries, which the dropped count then includes. A store
    // that fails here does not stop the drain (it retries below); the notice says 0 then.
    let count = 0;
    let dropped = 0;
    try {
      count = (await this.#queue.depth(channelId)).count;
      dropped = await this.#queue.takeDropped(channelId);
    } catch (error) {
      this.#storeFailed("The queue of channel {channelId} cannot be read: {error}", error);
    }
    this.#session!.sendControl(FrameType.Notice, 0, encodeNotice({ dropped, queued: count }));
    if (dropped > 0 || count > 0) {
      log.info(
        "Client of channel {channelId} is back: {count} queued webhooks to deliver ({window} at a time), {dropped} dropped by retention",
        { channelId, count, dropped, window: this.#window },
      );
    }
    const idle = this.#queue.kind === "redis" ? IDLE_WAIT.shared : IDLE_WAIT.local;
    const leaseMs = 2 * this.#ctx.config.requestTimeout;
    // Leases come in batches of at least a quarter window, so store calls stay few.
    const refill = Math.ceil(this.#window / 4);
    while (!signal.aborted && !this.#closed) {
      if (this.#failed.length > 0) {
        const failed = this.#failed;
        this.#failed = [];
        for (const failure of failed) await this.#giveBack(failure);
        continue;
      }
      const room = this.#window - this.#inFlight.length;
      if (this.#inFlight.length > 0 && room < refill) {
        await this.#nextVerdict();
        continue;
      }
      let leased: Delivery[];
      try {
        leased = await this.#queue.lease(channelId, {
          consumer: this.#consumer,
          limit: room,
          leaseMs,
        });
      } catch (error) {
        if (signal.aborted) break;
        this.#storeFailed("The queue of channel {channelId} cannot be read: {error}", error);
        await this.#queue.wait(channelId, { timeoutMs: STORE_ERROR_PAUSE, signal });
        continue;
      }
      if (signal.aborted || this.#closed) break;
      // A failure meanwhile: these are given back with it (they come after it in the queue).
      if (this.#failed.length > 0) continue;
      // A lease of ours that ran out (a slow window) is renewed by the lease; not sent again.
      const sent = new Set(this.#inFlight.map((entry) => entry.delivery.id));
      const fresh = leased.filter((delivery) => !sent.has(delivery.id));
      if (fresh.length > 0) {
        this.#channel.draining = true;
        await this.#send(fresh);
        continue;
      }
      if (this.#inFlight.length > 0) {
        await this.#nextVerdict();
        continue;
      }
      try {
        await this.#idle(idle, signal);
      } catch (error) {
        if (signal.aborted) break;
        this.#storeFailed("The queue of channel {channelId} cannot be read: {error}", error);
        await this.#queue.wait(channelId, { timeoutMs: STORE_ERROR_PAUSE, signal });
      }
    }
    await this.#flushAcks();
  }

  /** Nothing to send and nothing out: passthrough resumes once the queue is empty. */
  async #idle(idle: number, signal: AbortSignal): Promise<void> {
    const channelId = this.#channel.id;
    await this.#flushAcks();
    const { count } = await this.#queue.depth(channelId);
    if (count === 0 && !this.#channel.enqueuing && this.#channel.draining) {
      this.#channel.draining = false;
      log.info("The queue of channel {channelId} is empty: webhooks pass through live", {
        channelId,
      });
    }
    await this.#queue.wait(channelId, { timeoutMs: count > 0 ? RETRY_POLL : idle, signal });
  }

  /** Gives a failed delivery back for a retry; the store releases the later ones with it. */
  async #giveBack({ delivery, reason }: { delivery: Delivery; reason: string }): Promise<void> {
    const channelId = this.#channel.id;
    await this.#flushAcks();
    try {
      await this.#queue.nack(channelId, delivery.id);
      log.info(
        "Queued webhook {deliveryId} of channel {channelId} not delivered ({reason}, attempt {attempt}); retrying with backoff",
        { deliveryId: delivery.id, channelId, reason, attempt: delivery.attempts },
      );
    } catch (error) {
      this.#storeFailed(
        `Cannot record the outcome of queued webhook ${delivery.id}: {error}`,
        error,
      );
      // Still leased to us, it would be skipped by our next lease and the ones behind it sent
      // first: give back every lease instead, so the next lease starts from it again.
      await this.#queue.release(channelId, this.#consumer).catch(() => {});
    }
  }

  #storeFailed(message: string, error: unknown, extra: Record<string, unknown> = {}): void {
    this.#ctx.metrics.queueStoreError();
    log.warn(message, { channelId: this.#channel.id, error: String(error), ...extra });
  }

  /**
   * Sends deliveries in order: small bodies are read concurrently, but each HEAD leaves only
   * after the one before it, since the client delivers in the order streams open.
   */
  async #send(deliveries: Delivery[]): Promise<void> {
    const channelId = this.#channel.id;
    const small = deliveries.map((delivery) =>
      delivery.bodySize > 0 && delivery.bodySize <= SMALL_BODY
        ? new Response(this.#queue.readBody(channelId, delivery.id)).bytes()
        : undefined
    );
    for (const reading of small) reading?.catch(() => {});
    for (const [i, delivery] of deliveries.entries()) {
      if (this.#closed || this.#failed.length > 0) return;
      let bytes: Uint8Array | undefined;
      let readError: unknown;
      try {
        bytes = await small[i];
      } catch (error) {
        readError = error;
      }
      if (this.#closed || this.#failed.length > 0) return;
      if (delivery.attempts > 1) this.#ctx.metrics.queueRetried();
      this.#open(delivery, bytes, readError);
    }
  }

  /** Opens one delivery's stream and sends it (see {@linkcode #send}). */
  #open(delivery: Delivery, bytes: Uint8Array | undefined, readError: unknown): void {
    const session = this.#session!;
    let stream: TunnelStream;
    try {
      stream = session.openStream();
    } catch {
      this.#closed = true;
      this.#wake?.();
      return;
    }
    const chained = this.#inFlight.length > 0;
    const timeout = this.#ctx.config.requestTimeout;
    const entry: InFlight = {
      delivery,
      stream,
      arm: () =>
        stream.setDeadline(timeout, () => {
          stream.reset("cancelled", "The server's request timeout expired");
          this.#settle(entry, { kind: "nack", reason: "timeout" });
        }),
    };
    this.#inFlight.push(entry);
    const head = encodeRequestHead({
      ...delivery.head,
      delivery: { id: delivery.id, attempt: delivery.attempts, ...(chained ? { chained } : {}) },
    });
    if (readError !== undefined) {
      stream.sendHead(head);
      stream.reset("cancelled", `Cannot read the queued body: ${readError}`);
    } else if (bytes) {
      // A small body read whole: HEAD, DATA and END leave in one message and the client hands
      // the app the request in one write (as live small webhooks are).
      stream.sendHead(head);
      stream.sendBody([bytes]).catch(() => {});
    } else {
      stream.sendHead(head);
      const body = delivery.bodySize > 0
        ? this.#queue.readBody(this.#channel.id, delivery.id)
        : null;
      stream.sendBody(body).catch(() => {});
    }
    // The answer goes nowhere (the sender had its 202 long ago) but is read, so the client's
    // credit keeps flowing; its status is logged with the ACK.
    stream.head.then((head) => {
      decodeResponseHead(head);
      return stream.body.pipeTo(new WritableStream());
    }).catch(() => {});
    stream.onReset((error) => {
      // A reset without an ACK or NACK before it: the app was not reached or the tunnel closed.
      if (!this.#inFlight.includes(entry)) return;
      this.#settle(
        entry,
        session.closed ? { kind: "closed" } : { kind: "nack", reason: error.code },
      );
    });
    if (!chained) entry.arm();
  }
}
