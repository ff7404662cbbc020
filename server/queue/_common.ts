/**
 * Helpers every store shares: input checks, head encoding, body re-chunking, backoff, limits and
 * the in-process wake-up used by {@linkcode QueueStore.wait}.
 *
 * @module
 */
import {
  type HeaderPair,
  ID_REGEX,
  MAX_META_SIZE,
  MAX_QUEUED_HEAD_SIZE,
  type NewDelivery,
  QUEUE_CHUNK_SIZE,
  QUEUE_DEFAULTS,
  type QueuedHead,
  QueueFullError,
  type QueueLimits,
  type QueueStoreOptions,
} from "./types.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Resolved limits plus the clock. */
export interface Resolved extends QueueLimits {
  now: () => number;
}

/**
 * Fills in defaults and checks every bound is a positive number.
 * @throws {RangeError} On a bound that is not a positive number.
 */
export function resolveOptions(
  options: QueueStoreOptions,
  overrides: Partial<QueueLimits> = {},
): Resolved {
  const limits: QueueLimits = { ...QUEUE_DEFAULTS, ...overrides };
  for (const key of Object.keys(QUEUE_DEFAULTS) as (keyof QueueLimits)[]) {
    const value = options[key];
    if (value !== undefined) limits[key] = value;
    if (!(limits[key] > 0) || Number.isNaN(limits[key])) {
      throw new RangeError(`Queue option "${key}" must be a positive number: got "${limits[key]}"`);
    }
  }
  return { ...limits, now: options.now ?? Date.now };
}

/** Consumer ids may also hold a replica address (`10.0.0.1:7946:session-3`, `[::1]:80:s`). */
const CONSUMER_REGEX = /^[A-Za-z0-9._~:@\[\]-]{1,128}$/;

/**
 * Checks a channel name, delivery id or consumer id.
 * @throws {TypeError} When it does not match {@linkcode ID_REGEX}.
 */
export function checkId(kind: "channel" | "delivery id" | "consumer", value: unknown): string {
  const regex = kind === "consumer" ? CONSUMER_REGEX : ID_REGEX;
  if (typeof value !== "string" || !regex.test(value)) {
    const allowed = kind === "consumer" ? "A-Z a-z 0-9 . _ ~ - : @ [ ]" : "A-Z a-z 0-9 . _ ~ -";
    throw new TypeError(
      `Invalid ${kind} "${String(value).slice(0, 40)}": expected 1-128 of ${allowed}`,
    );
  }
  return value;
}

/** A checked delivery ready to store: head and metadata encoded, id decided. */
export interface Prepared {
  id: string;
  headJson: string;
  metaJson: string;
  /** Bytes the head and metadata account for. */
  overhead: number;
}

/**
 * Checks and encodes a delivery's head, metadata and id.
 * @throws {TypeError|RangeError} For malformed or oversized parts.
 */
export function prepare(delivery: NewDelivery): Prepared {
  const head = delivery.head as QueuedHead | undefined;
  if (!head || typeof head.method !== "string" || typeof head.target !== "string") {
    throw new TypeError("Invalid queued head: expected a method and a target");
  }
  if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,32}$/.test(head.method)) {
    throw new TypeError(`Invalid queued head: bad method "${head.method.slice(0, 40)}"`);
  }
  if (!Array.isArray(head.headers)) throw new TypeError("Invalid queued head: headers not a list");
  for (const pair of head.headers as unknown[]) {
    if (
      !Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== "string" ||
      typeof pair[1] !== "string"
    ) {
      throw new TypeError("Invalid queued head: each header must be a [name, value] pair");
    }
  }
  const headJson = JSON.stringify([head.method, head.target, head.headers]);
  const headBytes = encoder.encode(headJson).byteLength;
  if (headBytes > MAX_QUEUED_HEAD_SIZE) {
    throw new RangeError(
      `Queued head too large: ${headBytes} bytes, limit ${MAX_QUEUED_HEAD_SIZE}`,
    );
  }
  const meta = delivery.meta ?? {};
  if (typeof meta !== "object" || meta === null || Array.isArray(meta)) {
    throw new TypeError("Invalid queued metadata: expected an object of strings");
  }
  for (const value of Object.values(meta)) {
    if (typeof value !== "string") {
      throw new TypeError("Invalid queued metadata: expected an object of strings");
    }
  }
  const metaJson = JSON.stringify(meta);
  const metaBytes = encoder.encode(metaJson).byteLength;
  if (metaBytes > MAX_META_SIZE) {
    throw new RangeError(`Queued metadata too large: ${metaBytes} bytes, limit ${MAX_META_SIZE}`);
  }
  const id = delivery.id === undefined ? crypto.randomUUID() : checkId("delivery id", delivery.id);
  return { id, headJson, metaJson, overhead: headBytes + metaBytes };
}

/** Decodes a head stored by {@linkcode prepare}. */
export function decodeHead(headJson: string | Uint8Array): QueuedHead {
  const text = typeof headJson === "string" ? headJson : decoder.decode(headJson);
  const [method, target, headers] = JSON.parse(text) as [string, string, HeaderPair[]];
  return { method, target, headers };
}

/** Decodes metadata stored by {@linkcode prepare}. */
export function decodeMeta(metaJson: string | Uint8Array): Record<string, string> {
  return JSON.parse(typeof metaJson === "string" ? metaJson : decoder.decode(metaJson));
}

/**
 * Feeds a body to `sink` in chunks of exactly {@linkcode QUEUE_CHUNK_SIZE} bytes (the last one
 * shorter; none for an empty body), stopping with {@linkcode QueueFullError} as soon as more than
 * `maxSize` bytes arrived, before writing them. Tiny incoming chunks are coalesced, so a sender
 * trickling one byte at a time costs one stored chunk per 64 KiB, not one per byte.
 *
 * @returns The body length.
 */
export async function writeChunks(
  body: Uint8Array | ReadableStream<Uint8Array>,
  maxSize: number,
  sink: (chunk: Uint8Array, index: number) => void | Promise<void>,
): Promise<number> {
  const tooLarge = (size: number) =>
    new QueueFullError(`Webhook body too large to queue: over ${maxSize} bytes (got ${size}+)`);
  if (body instanceof Uint8Array) {
    if (body.byteLength > maxSize) throw tooLarge(body.byteLength);
    let index = 0;
    for (let at = 0; at < body.byteLength; at += QUEUE_CHUNK_SIZE) {
      await sink(body.slice(at, at + QUEUE_CHUNK_SIZE), index++);
    }
    return body.byteLength;
  }
  if (!(body instanceof ReadableStream)) {
    throw new TypeError("Invalid queued body: expected a Uint8Array or a ReadableStream");
  }
  const reader = body.getReader();
  const buffer = new Uint8Array(QUEUE_CHUNK_SIZE);
  let filled = 0;
  let total = 0;
  let index = 0;
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      if (!(value instanceof Uint8Array)) {
        throw new TypeError("Invalid queued body: stream yielded a non-Uint8Array chunk");
      }
      total += value.byteLength;
      if (total > maxSize) throw tooLarge(total);
      let at = 0;
      while (at < value.byteLength) {
        const take = Math.min(QUEUE_CHUNK_SIZE - filled, value.byteLength - at);
        buffer.set(value.subarray(at, at + take), filled);
        filled += take;
        at += take;
        if (filled === QUEUE_CHUNK_SIZE) {
          await sink(buffer.slice(), index++);
          filled = 0;
        }
      }
    }
    if (filled > 0) await sink(buffer.slice(0, filled), index++);
    return total;
  } catch (error) {
    await reader.cancel(error).catch(() => {});
    throw error;
  } finally {
    reader.releaseLock();
  }
}

/** Retry delay after the `attempts`-th hand-out failed: base doubling per attempt, capped. */
export function backoff(attempts: number, baseMs: number, maxMs: number): number {
  const exponent = Math.min(Math.max(attempts - 1, 0), 30);
  return Math.min(maxMs, baseMs * 2 ** exponent);
}

/** In-process wake-ups per channel, behind {@linkcode QueueStore.wait}. */
export class Notifier {
  #waiters = new Map<string, Set<() => void>>();
  #closed = false;

  /** Wakes every waiter of `channel`. */
  notify(channel: string): void {
    const set = this.#waiters.get(channel);
    if (!set) return;
    this.#waiters.delete(channel);
    for (const wake of set) wake();
  }

  /** Wakes every waiter and refuses new waits. */
  close(): void {
    this.#closed = true;
    for (const channel of [...this.#waiters.keys()]) this.notify(channel);
  }

  /** Resolves on {@linkcode notify}, after `timeoutMs` (default 1 s), or on abort. */
  wait(channel: string, options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<void> {
    if (this.#closed || options.signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      let set = this.#waiters.get(channel);
      if (!set) this.#waiters.set(channel, set = new Set());
      const done = () => {
        clearTimeout(timer);
        options.signal?.removeEventListener("abort", done);
        this.#waiters.get(channel)?.delete(done);
        if (this.#waiters.get(channel)?.size === 0) this.#waiters.delete(channel);
        resolve();
      };
      const timer = setTimeout(done, options.timeoutMs ?? 1_000);
      options.signal?.addEventListener("abort", done, { once: true });
      set.add(done);
    });
  }
}

/**
 * Checks channel settings: an object of strings, at most {@linkcode MAX_META_SIZE} bytes as JSON.
 * @returns The JSON text, or null for null.
 * @throws {TypeError|RangeError} For anything else.
 */
export function encodeSettings(settings: Record<string, string> | null): string | null {
  if (settings === null) return null;
  if (typeof settings !== "object" || Array.isArray(settings)) {
    throw new TypeError("Invalid channel settings: expected an object of strings");
  }
  for (const value of Object.values(settings)) {
    if (typeof value !== "string") {
      throw new TypeError("Invalid channel settings: expected an object of strings");
    }
  }
  const json = JSON.stringify(settings);
  if (encoder.encode(json).byteLength > MAX_META_SIZE) {
    throw new RangeError(`Channel settings too large: limit ${MAX_META_SIZE} bytes`);
  }
  return json;
}
