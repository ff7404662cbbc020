/**
 * The queue store contract: what every store (`memory:`, `sqlite:`, `redis://`) offers, the
 * types it takes and returns, and the errors callers catch.
 *
 * @module
 */

/** One header as a `[name, value]` pair; a list of pairs keeps repeats and order. */
export type HeaderPair = [name: string, value: string];

/** The request line and headers of a stored webhook, exactly as received. */
export interface QueuedHead {
  /** HTTP method, e.g. `"POST"`. */
  method: string;
  /** Path and query after `/webhook/{id}`, e.g. `"/github?x=1"`. */
  target: string;
  /** Headers as received, repeats and order kept. */
  headers: HeaderPair[];
}

/** A webhook to store. */
export interface NewDelivery {
  /** Request line and headers. */
  head: QueuedHead;
  /**
   * The body: bytes, or a stream written to the store as it arrives (re-chunked to at most
   * {@linkcode QUEUE_CHUNK_SIZE} bytes), so a large body is never held in memory whole.
   */
  body: Uint8Array | ReadableStream<Uint8Array>;
  /**
   * Small string metadata kept with the delivery (remote address, provider, replica that
   * accepted it…). At most {@linkcode MAX_META_SIZE} bytes as JSON.
   * @default {{}}
   */
  meta?: Record<string, string>;
  /**
   * Stable delivery id (the client remembers acked ids to skip redeliveries). Generated with
   * `crypto.randomUUID()` when absent; must match {@linkcode ID_REGEX}.
   */
  id?: string;
}

/** A delivery handed out by {@linkcode QueueStore.lease}. */
export interface Delivery {
  /** Stable delivery id: the same on every redelivery. */
  id: string;
  /** Channel it was queued for. */
  channel: string;
  /** Request line and headers. */
  head: QueuedHead;
  /** Metadata given at enqueue. */
  meta: Record<string, string>;
  /** Body length in bytes; read the body with {@linkcode QueueStore.readBody}. */
  bodySize: number;
  /** When the store accepted it, ms since the epoch. */
  receivedAt: number;
  /** How many times it has been handed out, this time included (1 on the first lease). */
  attempts: number;
  /** The lease runs out at this time (ms since the epoch); unacked, it is handed out again. */
  leaseUntil: number;
}

/** What {@linkcode QueueStore.enqueue} returns once the delivery is durable in the store. */
export interface Enqueued {
  /** The delivery id (given or generated). */
  id: string;
  /** How many older deliveries of this channel retention dropped to make room for it. */
  dropped: number;
}

/** Size of a channel's queue. */
export interface Depth {
  /** Deliveries stored (leased ones included). */
  count: number;
  /** Bytes they account for: bodies plus encoded heads and metadata. */
  bytes: number;
}

/** Options for {@linkcode QueueStore.lease}. */
export interface LeaseOptions {
  /**
   * Who takes the lease (e.g. the replica and tunnel session). Deliveries leased by another
   * consumer and not yet expired block the channel: its order is never broken.
   */
  consumer: string;
  /** Most deliveries to hand out in one call (consecutive, oldest first). @default {1} */
  limit?: number;
  /** How long the lease lasts before an unacked delivery is handed out again, ms. @default {QUEUE_DEFAULTS.leaseMs} */
  leaseMs?: number;
}

/** Options for {@linkcode QueueStore.nack}. */
export interface NackOptions {
  /**
   * Wait at least this long before handing it out again, ms.
   * @default {backoff: retryBaseMs doubling per attempt up to retryMaxMs}
   */
  delayMs?: number;
}

/**
 * A durable per-channel FIFO of webhooks with leases (at-least-once delivery).
 *
 * - Order: a channel's deliveries are handed out oldest first; one that is leased by another
 *   consumer or waiting out a retry delay holds back every later one of its channel.
 * - Leases: {@linkcode lease} hands deliveries to a consumer until `leaseUntil`; {@linkcode ack}
 *   deletes one; {@linkcode nack} or an expired lease makes it available again (after a backoff
 *   for a nack), with `attempts` counting the hand-outs.
 * - Retention: per channel at most `maxCount` deliveries and `maxBytes` bytes, none older than
 *   `maxAgeMs`; the oldest are dropped to make room and counted ({@linkcode takeDropped}). A
 *   delivery that cannot fit even so, or a store over `maxTotalBytes`, fails with
 *   {@linkcode QueueFullError} (the server answers 503, never 202).
 */
export interface QueueStore extends AsyncDisposable {
  /** `"memory"`, `"sqlite"` or `"redis"`. */
  readonly kind: string;
  /**
   * Stores a webhook at the end of its channel's queue. Resolves once it is durable (for stores
   * that are); only then may the sender be told `202`.
   * @throws {QueueFullError} When it cannot be stored within the bounds.
   * @throws {RangeError|TypeError} For a bad channel, id, head or metadata.
   */
  enqueue(channel: string, delivery: NewDelivery): Promise<Enqueued>;
  /**
   * Leases the next deliveries of a channel, in order: up to `limit` consecutive ones after
   * those this consumer already holds. Empty when the queue is empty, blocked by a retry delay,
   * or held by another consumer.
   */
  lease(channel: string, options: LeaseOptions): Promise<Delivery[]>;
  /**
   * Reads a stored body in chunks of at most {@linkcode QUEUE_CHUNK_SIZE} bytes.
   * @throws {QueueStoreError} When the delivery is gone (acked, dropped) before the body is read.
   */
  readBody(channel: string, id: string): ReadableStream<Uint8Array>;
  /** Deletes a delivery for good. @returns false when it was not there (already acked or dropped). */
  ack(channel: string, id: string): Promise<boolean>;
  /**
   * Deletes several deliveries of a channel at once (a pipelined drain's acks): one transaction
   * or round trip instead of one per delivery.
   * @returns How many were there (the others were already acked or dropped).
   */
  ackMany(channel: string, ids: readonly string[]): Promise<number>;
  /**
   * Gives a leased delivery back for a retry after a delay; later deliveries of the channel held
   * by the same consumer are released with it, so none overtakes it.
   * @returns false when it was not there.
   */
  nack(channel: string, id: string, options?: NackOptions): Promise<boolean>;
  /** Releases every lease a consumer holds on a channel (clean detach), without a delay. @returns How many. */
  release(channel: string, consumer: string): Promise<number>;
  /** Count and bytes queued for a channel (after dropping expired ones). */
  depth(channel: string): Promise<Depth>;
  /**
   * When the store accepted a channel's oldest delivery (ms since the epoch), from the head of
   * its queue only (cheap: the `wow_queue_oldest_age_seconds` gauge asks at refresh time).
   * @returns undefined when the channel has none.
   */
  oldest(channel: string): Promise<number | undefined>;
  /** Returns how many deliveries retention dropped from a channel since the last call, and resets it. */
  takeDropped(channel: string): Promise<number>;
  /** Channels that have deliveries queued, sorted. */
  channels(): Promise<string[]>;
  /** Drops expired deliveries of every channel. @returns How many were dropped. */
  sweep(): Promise<number>;
  /** Reads a channel's settings (e.g. its offline mode), kept with its queue; null when none. */
  getSettings(channel: string): Promise<Record<string, string> | null>;
  /** Stores a channel's settings (replacing them); null deletes them. */
  setSettings(channel: string, settings: Record<string, string> | null): Promise<void>;
  /**
   * Resolves when something may have changed for a channel in this process (an enqueue, nack or
   * release), after `timeoutMs`, or when `signal` aborts. Drain loops wait on it between leases;
   * stores shared between processes also wake it on remote enqueues where they can.
   */
  wait(channel: string, options?: { timeoutMs?: number; signal?: AbortSignal }): Promise<void>;
  /** Closes the store; pending waits resolve. Idempotent. */
  close(): Promise<void>;
}

/** Thrown when a delivery cannot be stored within the store's bounds; the server answers 503. */
export class QueueFullError extends Error {
  /**
   * @param message What bound was hit.
   * @param options Error options (`cause`).
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "QueueFullError";
  }
}

/** Thrown when a store cannot be opened or fails (corrupt database, unreachable Redis…). */
export class QueueStoreError extends Error {
  /**
   * @param message What failed, naming the path or URL.
   * @param options Error options (`cause`).
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "QueueStoreError";
  }
}

/** Largest chunk a store writes or reads at once: one protocol DATA frame (64 KiB). */
export const QUEUE_CHUNK_SIZE = 64 * 1024;

/** Largest encoded head (method, target, headers), as the tunnel's MAX_HEAD_SIZE (128 KiB). */
export const MAX_QUEUED_HEAD_SIZE = 128 * 1024;

/** Largest metadata JSON: it is for a few short fields, not payloads. */
export const MAX_META_SIZE = 4 * 1024;

/** Channel names and delivery ids: short, URL- and key-safe (channel ids are UUIDs). */
export const ID_REGEX: RegExp = /^[A-Za-z0-9._~-]{1,128}$/;

/** Bounds and timings shared by every store. */
export interface QueueLimits {
  /** Deliveries older than this are dropped, ms. @default {72 h} */
  maxAgeMs: number;
  /** Bytes per channel (bodies, heads, metadata). @default {256 MiB} */
  maxBytes: number;
  /** Deliveries per channel. @default {10000} */
  maxCount: number;
  /** Bytes in the whole store; past it enqueue fails instead of dropping other channels' deliveries. @default {Infinity; memory: 256 MiB} */
  maxTotalBytes: number;
  /** Lease length when {@linkcode LeaseOptions.leaseMs} is not given, ms. @default {30000} */
  leaseMs: number;
  /** First retry delay after a nack, ms; doubles per attempt. @default {1000} */
  retryBaseMs: number;
  /** Longest retry delay, ms. @default {60000} */
  retryMaxMs: number;
}

/** Options every store takes. */
export interface QueueStoreOptions extends Partial<QueueLimits> {
  /** Clock, ms since the epoch (tests move time instead of sleeping). @default {Date.now} */
  now?: () => number;
}

/**
 * Defaults, each with its reason: the retention bounds are the issue's `--queue-max-age`,
 * `--queue-max-bytes` and `--queue-max-count` defaults; retries back off 1 s doubling to 60 s.
 */
export const QUEUE_DEFAULTS: Readonly<QueueLimits> = Object.freeze({
  /** 72 h: a long weekend away from the laptop. */
  maxAgeMs: 72 * 60 * 60 * 1000,
  /** 256 MiB: 32 of the largest (8 MiB) webhooks, or ~250,000 typical 1 KiB ones. */
  maxBytes: 256 * 1024 * 1024,
  /** 10,000: bounds a drain after a long absence to a few seconds. */
  maxCount: 10_000,
  /** Unbounded by default for disk/Redis stores (the memory store defaults to `maxBytes`). */
  maxTotalBytes: Number.POSITIVE_INFINITY,
  /** 30 s: longer than the client's default app timeout, so a slow app is not redelivered to. */
  leaseMs: 30_000,
  /** 1 s first retry delay. */
  retryBaseMs: 1_000,
  /** 60 s longest retry delay. */
  retryMaxMs: 60_000,
});
