/**
 * `memory:` queue store: per-channel FIFOs in this process, bounded in total by `maxTotalBytes`
 * (default: the per-channel `maxBytes`), lost on restart.
 *
 * @module
 */
import {
  backoff,
  checkId,
  decodeHead,
  decodeMeta,
  encodeSettings,
  Notifier,
  prepare,
  type Resolved,
  resolveOptions,
  writeChunks,
} from "./_common.ts";
import {
  type Delivery,
  type Depth,
  type Enqueued,
  type LeaseOptions,
  type NackOptions,
  type NewDelivery,
  QueueFullError,
  type QueueStore,
  QueueStoreError,
  type QueueStoreOptions,
} from "./types.ts";

/** Runs `fn`, turning a throw into a rejected promise. */
function run<T>(fn: () => T): Promise<T> {
  return new Promise((resolve) => resolve(fn()));
}

interface Entry {
  id: string;
  headJson: string;
  metaJson: string;
  chunks: Uint8Array[];
  bodySize: number;
  size: number;
  receivedAt: number;
  attempts: number;
  owner: string | null;
  leaseUntil: number;
  notBefore: number;
}

interface ChannelState {
  /** Insertion-ordered: iteration is arrival order. */
  entries: Map<string, Entry>;
  bytes: number;
  dropped: number;
  settings: Record<string, string> | null;
}

/**
 * Opens an in-memory store.
 *
 * @example
 * ```ts
 * import { openMemoryQueue } from "./memory.ts";
 * await using queue = openMemoryQueue({ maxCount: 100 });
 * const { id } = await queue.enqueue("ch", {
 *   head: { method: "POST", target: "/", headers: [] },
 *   body: new Uint8Array([1, 2, 3]),
 * });
 * const [delivery] = await queue.lease("ch", { consumer: "me" });
 * await queue.ack("ch", delivery.id);
 * ```
 *
 * @param options Bounds and clock.
 * @returns The store.
 */
export function openMemoryQueue(options: QueueStoreOptions = {}): QueueStore {
  return new MemoryQueue(options);
}

class MemoryQueue implements QueueStore {
  readonly kind = "memory";
  #o: Resolved;
  #channels = new Map<string, ChannelState>();
  #total = 0;
  /** Bytes of bodies still streaming in (held in memory, so they count toward the total). */
  #reserved = 0;
  #writing = new Set<string>();
  #notifier = new Notifier();
  #closed = false;

  constructor(options: QueueStoreOptions) {
    const perChannel = options.maxBytes ?? undefined;
    this.#o = resolveOptions(
      options,
      perChannel ? { maxTotalBytes: perChannel } : {
        maxTotalBytes: 256 * 1024 * 1024,
      },
    );
  }

  #check(): void {
    if (this.#closed) throw new QueueStoreError("Queue store is closed");
  }

  #state(channel: string, create: boolean): ChannelState | undefined {
    let state = this.#channels.get(channel);
    if (!state && create) {
      state = { entries: new Map(), bytes: 0, dropped: 0, settings: null };
      this.#channels.set(channel, state);
    }
    return state;
  }

  #gc(channel: string, state: ChannelState): void {
    if (state.entries.size === 0 && state.dropped === 0 && state.settings === null) {
      this.#channels.delete(channel);
    }
  }

  #remove(state: ChannelState, entry: Entry): void {
    state.entries.delete(entry.id);
    state.bytes -= entry.size;
    this.#total -= entry.size;
  }

  /** Drops deliveries older than maxAgeMs from the head of a channel. */
  #expire(state: ChannelState): number {
    const cutoff = this.#o.now() - this.#o.maxAgeMs;
    let dropped = 0;
    for (const entry of state.entries.values()) {
      if (entry.receivedAt >= cutoff) break;
      this.#remove(state, entry);
      dropped++;
    }
    state.dropped += dropped;
    return dropped;
  }

  async enqueue(channel: string, delivery: NewDelivery): Promise<Enqueued> {
    this.#check();
    checkId("channel", channel);
    const prepared = prepare(delivery);
    const { id } = prepared;
    if (this.#writing.has(id) || this.#channels.get(channel)?.entries.has(id)) {
      throw new TypeError(`Duplicate delivery id "${id}"`);
    }
    this.#writing.add(id);
    const chunks: Uint8Array[] = [];
    let reserved = 0;
    try {
      const own = this.#channels.get(channel)?.bytes ?? 0;
      if (this.#total - own + this.#reserved + prepared.overhead > this.#o.maxTotalBytes) {
        throw this.#full(channel);
      }
      const room = this.#o.maxBytes - prepared.overhead;
      const bodySize = await writeChunks(delivery.body, room, (chunk) => {
        // Room this channel's own oldest deliveries could make counts; the commit checks exactly.
        const own = this.#channels.get(channel)?.bytes ?? 0;
        if (this.#total - own + this.#reserved + chunk.byteLength > this.#o.maxTotalBytes) {
          throw this.#full(channel);
        }
        chunks.push(chunk);
        reserved += chunk.byteLength;
        this.#reserved += chunk.byteLength;
      });
      this.#check();
      const size = bodySize + prepared.overhead;
      const state = this.#state(channel, true)!;
      this.#expire(state);
      // Oldest first, drop until the new one fits the channel's bounds.
      const victims: Entry[] = [];
      let count = state.entries.size;
      let bytes = state.bytes;
      for (const entry of state.entries.values()) {
        if (count + 1 <= this.#o.maxCount && bytes + size <= this.#o.maxBytes) break;
        victims.push(entry);
        count--;
        bytes -= entry.size;
      }
      const freed = victims.reduce((sum, entry) => sum + entry.size, 0);
      this.#reserved -= reserved;
      reserved = 0;
      if (this.#total - freed + size > this.#o.maxTotalBytes) {
        this.#gc(channel, state);
        throw this.#full(channel);
      }
      for (const entry of victims) this.#remove(state, entry);
      state.dropped += victims.length;
      state.entries.set(id, {
        id,
        headJson: prepared.headJson,
        metaJson: prepared.metaJson,
        chunks,
        bodySize,
        size,
        receivedAt: this.#o.now(),
        attempts: 0,
        owner: null,
        leaseUntil: 0,
        notBefore: 0,
      });
      state.bytes += size;
      this.#total += size;
      this.#notifier.notify(channel);
      return { id, dropped: victims.length };
    } finally {
      this.#reserved -= reserved;
      this.#writing.delete(id);
    }
  }

  #full(channel: string): QueueFullError {
    return new QueueFullError(
      `Queue full: channel "${channel}" or the store is at its bound (store ${this.#total} of ${this.#o.maxTotalBytes} bytes)`,
    );
  }

  lease(channel: string, options: LeaseOptions): Promise<Delivery[]> {
    return run(() => this.#lease(channel, options));
  }

  #lease(channel: string, options: LeaseOptions): Delivery[] {
    this.#check();
    checkId("channel", channel);
    const consumer = checkId("consumer", options.consumer);
    const limit = options.limit ?? 1;
    const leaseMs = options.leaseMs ?? this.#o.leaseMs;
    if (!(limit >= 1) || !(leaseMs > 0)) {
      throw new RangeError("Lease limit and leaseMs must be positive");
    }
    const state = this.#state(channel, false);
    const out: Delivery[] = [];
    if (!state) return out;
    this.#expire(state);
    const now = this.#o.now();
    for (const entry of state.entries.values()) {
      if (entry.owner !== null && entry.leaseUntil > now) {
        if (entry.owner === consumer) continue;
        break;
      }
      if (entry.notBefore > now) break;
      entry.owner = consumer;
      entry.leaseUntil = now + leaseMs;
      entry.attempts++;
      out.push({
        id: entry.id,
        channel,
        head: decodeHead(entry.headJson),
        meta: decodeMeta(entry.metaJson),
        bodySize: entry.bodySize,
        receivedAt: entry.receivedAt,
        attempts: entry.attempts,
        leaseUntil: entry.leaseUntil,
      });
      if (out.length >= limit) break;
    }
    return out;
  }

  readBody(channel: string, id: string): ReadableStream<Uint8Array> {
    let chunks: Uint8Array[] | undefined;
    let index = 0;
    return new ReadableStream<Uint8Array>({
      pull: (controller) => {
        if (!chunks) {
          const entry = this.#channels.get(channel)?.entries.get(id);
          if (!entry) {
            throw new QueueStoreError(`Queued delivery "${id}" of channel "${channel}" is gone`);
          }
          chunks = entry.chunks;
        }
        if (index < chunks.length) controller.enqueue(chunks[index++].slice());
        else controller.close();
      },
    }, { highWaterMark: 0 });
  }

  ack(channel: string, id: string): Promise<boolean> {
    return this.ackMany(channel, [id]).then((n) => n === 1);
  }

  oldest(channel: string): Promise<number | undefined> {
    return run(() => {
      this.#check();
      // Entries are kept in arrival order: the first is the oldest.
      const first = this.#channels.get(channel)?.entries.values().next();
      return first && !first.done ? first.value.receivedAt : undefined;
    });
  }

  ackMany(channel: string, ids: readonly string[]): Promise<number> {
    return run(() => {
      this.#check();
      const state = this.#channels.get(channel);
      if (!state) return 0;
      let acked = 0;
      for (const id of ids) {
        const entry = state.entries.get(id);
        if (!entry) continue;
        this.#remove(state, entry);
        acked++;
      }
      this.#gc(channel, state);
      return acked;
    });
  }

  nack(channel: string, id: string, options: NackOptions = {}): Promise<boolean> {
    return run(() => {
      this.#check();
      const state = this.#channels.get(channel);
      const entry = state?.entries.get(id);
      if (!state || !entry) return false;
      const owner = entry.owner;
      const delay = options.delayMs ??
        backoff(entry.attempts, this.#o.retryBaseMs, this.#o.retryMaxMs);
      entry.owner = null;
      entry.leaseUntil = 0;
      entry.notBefore = this.#o.now() + delay;
      if (owner !== null) {
        let after = false;
        for (const other of state.entries.values()) {
          if (other === entry) after = true;
          else if (after && other.owner === owner) {
            other.owner = null;
            other.leaseUntil = 0;
          }
        }
      }
      this.#notifier.notify(channel);
      return true;
    });
  }

  release(channel: string, consumer: string): Promise<number> {
    return run(() => {
      this.#check();
      let released = 0;
      for (const entry of this.#channels.get(channel)?.entries.values() ?? []) {
        if (entry.owner === consumer) {
          entry.owner = null;
          entry.leaseUntil = 0;
          released++;
        }
      }
      if (released) this.#notifier.notify(channel);
      return released;
    });
  }

  depth(channel: string): Promise<Depth> {
    return run(() => {
      this.#check();
      const state = this.#channels.get(channel);
      if (!state) return { count: 0, bytes: 0 };
      this.#expire(state);
      return { count: state.entries.size, bytes: state.bytes };
    });
  }

  takeDropped(channel: string): Promise<number> {
    return run(() => {
      this.#check();
      const state = this.#channels.get(channel);
      if (!state) return 0;
      const dropped = state.dropped;
      state.dropped = 0;
      this.#gc(channel, state);
      return dropped;
    });
  }

  channels(): Promise<string[]> {
    return run(() => {
      this.#check();
      return [...this.#channels].filter(([, s]) => s.entries.size > 0).map(([c]) => c).sort();
    });
  }

  sweep(): Promise<number> {
    return run(() => {
      this.#check();
      let dropped = 0;
      for (const state of this.#channels.values()) dropped += this.#expire(state);
      return dropped;
    });
  }

  getSettings(channel: string): Promise<Record<string, string> | null> {
    return run(() => {
      this.#check();
      const settings = this.#channels.get(channel)?.settings;
      return settings ? { ...settings } : null;
    });
  }

  async setSettings(channel: string, settings: Record<string, string> | null): Promise<void> {
    this.#check();
    checkId("channel", channel);
    const json = encodeSettings(settings);
    const state = this.#state(channel, true)!;
    state.settings = json === null ? null : JSON.parse(json);
    this.#gc(channel, state);
    await Promise.resolve();
  }

  wait(channel: string, options?: { timeoutMs?: number; signal?: AbortSignal }): Promise<void> {
    return this.#notifier.wait(channel, options);
  }

  close(): Promise<void> {
    this.#closed = true;
    this.#notifier.close();
    return Promise.resolve();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
