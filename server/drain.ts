/**
 * Drains a channel's queue into its attached client, one delivery at a time in arrival order:
 * lease the oldest, send it as a stream whose HEAD carries the delivery id and attempt and whose
 * body streams from the store, then wait for the client's ACK (the app answered: delete it) or
 * NACK (the app was unreachable or timed out: retry after the store's backoff, 1 s doubling to
 * 60 s). While anything is queued the channel is marked `draining`, so new webhooks join the end
 * of the queue instead of overtaking it.
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

/**
 * How long a drain waits between leases while the queue is empty, ms: a local store wakes it on
 * enqueue (this is a safety net); a shared Redis store is polled, since another replica may queue.
 */
const IDLE_WAIT = { local: 30_000, shared: 1_000 } as const;

/** While a retry delay holds the queue back, the drain looks again this often, ms. */
const RETRY_POLL = 250;

/** Queued bodies up to this size are read whole before sending (one DATA frame). */
const SMALL_BODY = MAX_CHUNK_SIZE;

/** A store call that failed is retried after this long, ms. */
const STORE_ERROR_PAUSE = 1_000;

/** Drains one attached client's channel; see the module doc. */
export class ChannelDrain {
  readonly #ctx: ServerContext;
  readonly #queue: QueueStore;
  readonly #channel: Channel;
  readonly #consumer: string;
  readonly #pending = new Map<number, (verdict: Verdict) => void>();
  readonly #stop = new AbortController();
  #session: TunnelSession | undefined;
  #running: Promise<void> | undefined;

  /**
   * Creates the drain; {@linkcode start} runs it once the session is attached.
   * @param ctx The server's context (with a queue).
   * @param channel The channel.
   */
  constructor(ctx: ServerContext, channel: Channel) {
    this.#ctx = ctx;
    this.#queue = ctx.queue!;
    this.#channel = channel;
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
      const resolve = this.#pending.get(frame.streamId);
      if (resolve) resolve({ kind: "ack", status });
      // A late ACK (after the server gave up waiting): the app got it all the same.
      else this.#queue.ack(this.#channel.id, id).catch(() => {});
    } else if (frame.type === FrameType.Nack) {
      const { reason } = decodeNack(frame.payload);
      this.#pending.get(frame.streamId)?.({ kind: "nack", reason });
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
    for (const resolve of this.#pending.values()) resolve({ kind: "closed" });
    this.#pending.clear();
    await this.#running;
    await this.#queue.release(this.#channel.id, this.#consumer).catch(() => {});
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
        "Client of channel {channelId} is back: {count} queued webhooks to deliver, {dropped} dropped by retention",
        { channelId, count, dropped },
      );
    }
    const idle = this.#queue.kind === "redis" ? IDLE_WAIT.shared : IDLE_WAIT.local;
    const leaseMs = 2 * this.#ctx.config.requestTimeout;
    const lease = () =>
      this.#queue.lease(channelId, { consumer: this.#consumer, limit: 1, leaseMs })
        .then(([delivery]) => delivery);
    // The outcome of the previous delivery being written while the next one is out.
    let recording: Promise<void> = Promise.resolve();
    try {
      while (!signal.aborted) {
        let delivery: Delivery | undefined;
        try {
          delivery = await lease();
          if (!delivery) {
            const { count } = await this.#queue.depth(channelId);
            if (count === 0 && !this.#channel.enqueuing && this.#channel.draining) {
              this.#channel.draining = false;
              log.info("The queue of channel {channelId} is empty: webhooks pass through live", {
                channelId,
              });
            }
            await this.#queue.wait(channelId, {
              timeoutMs: count > 0 ? RETRY_POLL : idle,
              signal,
            });
            continue;
          }
        } catch (error) {
          if (signal.aborted) return;
          this.#storeFailed("The queue of channel {channelId} cannot be read: {error}", error);
          await this.#queue.wait(channelId, { timeoutMs: STORE_ERROR_PAUSE, signal });
          continue;
        }
        this.#channel.draining = true;
        // Deliveries go out one at a time; the next is leased (and the last outcome written)
        // while one is at the app, so store round trips stay off the drain's critical path.
        while (delivery && !signal.aborted) {
          if (delivery.attempts > 1) this.#ctx.metrics.queueRetried();
          const next = lease().catch(() => undefined);
          const verdict = await this.#deliver(delivery);
          if (verdict.kind === "closed") return;
          await recording;
          if (verdict.kind === "nack") {
            // The nack gives back the prefetched next one too: lease again after the backoff.
            await next;
            await this.#record(delivery, verdict);
            break;
          }
          recording = this.#record(delivery, verdict);
          delivery = await next;
        }
      }
    } finally {
      await recording;
    }
  }

  /** Writes a delivery's outcome to the store and logs it. */
  async #record(delivery: Delivery, verdict: Verdict): Promise<void> {
    const channelId = this.#channel.id;
    try {
      if (verdict.kind === "ack") {
        await this.#queue.ack(channelId, delivery.id);
        this.#ctx.metrics.queueDelivered();
        log.info(
          "Delivered queued webhook {deliveryId} of channel {channelId}: the app answered {status} (attempt {attempt})",
          {
            deliveryId: delivery.id,
            channelId,
            status: verdict.status,
            attempt: delivery.attempts,
          },
        );
      } else if (verdict.kind === "nack") {
        await this.#queue.nack(channelId, delivery.id);
        log.info(
          "Queued webhook {deliveryId} of channel {channelId} not delivered ({reason}, attempt {attempt}); retrying with backoff",
          {
            deliveryId: delivery.id,
            channelId,
            reason: verdict.reason,
            attempt: delivery.attempts,
          },
        );
      }
    } catch (error) {
      this.#storeFailed(
        `Cannot record the outcome of queued webhook ${delivery.id}: {error}`,
        error,
      );
    }
  }

  #storeFailed(message: string, error: unknown): void {
    this.#ctx.metrics.queueStoreError();
    log.warn(message, { channelId: this.#channel.id, error: String(error) });
  }

  /** Sends one delivery and waits for the client's verdict. */
  #deliver(delivery: Delivery): Promise<Verdict> {
    const session = this.#session!;
    let stream: TunnelStream;
    try {
      stream = session.openStream();
    } catch {
      return Promise.resolve({ kind: "closed" });
    }
    const { promise, resolve } = Promise.withResolvers<Verdict>();
    const settle = (verdict: Verdict) => {
      this.#pending.delete(stream.id);
      stream.clearDeadline();
      resolve(verdict);
    };
    this.#pending.set(stream.id, settle);
    const head = encodeRequestHead({
      ...delivery.head,
      delivery: { id: delivery.id, attempt: delivery.attempts },
    });
    const body = delivery.bodySize > 0 ? this.#queue.readBody(this.#channel.id, delivery.id) : null;
    if (body && delivery.bodySize <= SMALL_BODY) {
      // A small body is read whole first, so HEAD, DATA and END leave in one message and the
      // client hands the app the request in one write (as live small webhooks are).
      new Response(body).bytes().then((bytes) => {
        stream.sendHead(head);
        return stream.sendBody([bytes]);
      }).catch((error) => stream.reset("cancelled", `Cannot read the queued body: ${error}`));
    } else {
      stream.sendHead(head);
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
      if (!this.#pending.has(stream.id)) return;
      settle(
        session.closed ? { kind: "closed" } : { kind: "nack", reason: error.code },
      );
    });
    stream.setDeadline(this.#ctx.config.requestTimeout, () => {
      stream.reset("cancelled", "The server's request timeout expired");
      settle({ kind: "nack", reason: "timeout" });
    });
    return promise;
  }
}
