/**
 * `redis://` and `rediss://` queue store: one Redis Stream per channel, shared by every replica,
 * through the pinned `redis` package (node-redis). Enqueue, lease, ack and retention run as Lua
 * scripts (see `_redis_scripts.ts`), so they are atomic across replicas.
 *
 * Why streams without consumer groups: a group hands new entries (`>`) to a consumer while older
 * ones are still pending with a dead one, which breaks per-channel order. The stream is the
 * ordered log (XADD, XRANGE, XDEL), and a small hash per channel holds lease state, so the lease
 * walk can stop at the first delivery another consumer holds.
 *
 * Bodies are Redis strings written with APPEND in 64 KiB chunks as they stream in, with a TTL of
 * {@linkcode WRITING_TTL_MS} until the entry is committed (then PERSIST), so a writer that dies
 * mid-body leaves nothing behind for long. Reads use GETRANGE, 64 KiB at a time.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { createClient, RESP_TYPES } from "redis";
import {
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
import * as scripts from "./_redis_scripts.ts";
import {
  type Delivery,
  type Depth,
  type Enqueued,
  type LeaseOptions,
  type NackOptions,
  type NewDelivery,
  QUEUE_CHUNK_SIZE,
  QueueFullError,
  type QueueStore,
  QueueStoreError,
  type QueueStoreOptions,
} from "./types.ts";

/** A body still being written expires after this long (1 h) unless its entry is committed. */
export const WRITING_TTL_MS = 60 * 60 * 1000;

/** Most stream entries one lease or nack walk looks at: bounds a script's run time. */
const SCAN_CAP = 20_000;

/** How long opening waits for Redis before failing, ms. */
const CONNECT_TIMEOUT = 5_000;

/** Options for {@linkcode openRedisQueue}. */
export interface RedisQueueOptions extends QueueStoreOptions {
  /** Prefix of every key, so several deployments (or tests) share one Redis. @default {"wow:q:"} */
  prefix?: string;
}

type Reply = Buffer | string | number | null | Reply[];

/** `redis://user:pass@host` with the password hidden, for messages. */
function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.href;
  } catch {
    return url.replace(/\/\/[^@/]*@/, "//***@");
  }
}

async function sha1(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-1", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

const text = (reply: Reply): string =>
  reply instanceof Uint8Array ? new TextDecoder().decode(reply) : String(reply);

/**
 * Connects to Redis and returns a store on it.
 *
 * @example
 * ```ts ignore
 * import { openRedisQueue } from "./redis.ts";
 * await using queue = await openRedisQueue("redis://127.0.0.1:6379/0");
 * console.log(await queue.depth("ch"));
 * ```
 *
 * @param url `redis://[user:pass@]host:port[/db]` or `rediss://…`.
 * @param options Bounds, clock and key prefix.
 * @returns The store, connected.
 * @throws {QueueStoreError} When Redis cannot be reached (the message names the URL, password
 *   hidden).
 */
export async function openRedisQueue(
  url: string,
  options: RedisQueueOptions = {},
): Promise<QueueStore> {
  const where = redact(url);
  if (!/^rediss?:\/\//.test(url)) throw new TypeError(`Invalid Redis URL "${where}"`);
  const prefix = options.prefix ?? "wow:q:";
  if (!/^[A-Za-z0-9:._-]{0,64}$/.test(prefix)) {
    throw new TypeError(`Invalid Redis key prefix "${prefix}"`);
  }
  let lastError: unknown;
  let connected = false;
  const client = createClient({
    url,
    // Fail commands at once while disconnected (the server answers 503) instead of queueing
    // them without bound.
    disableOfflineQueue: true,
    socket: {
      connectTimeout: CONNECT_TIMEOUT,
      // The first connect fails at once (start-up names the URL); later drops are retried.
      reconnectStrategy: (retries: number, cause: Error) =>
        connected ? Math.min(100 * 2 ** retries, 2_000) : cause,
    },
  }).withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer });
  client.on("error", (error: unknown) => lastError = error);
  try {
    await Promise.race([
      client.connect(),
      new Promise((_, reject) =>
        setTimeout(
          () => reject(lastError ?? new Error("connect timeout")),
          CONNECT_TIMEOUT,
        )
      ),
    ]);
    await client.sendCommand(["PING"]);
    connected = true;
  } catch (error) {
    client.destroy();
    throw new QueueStoreError(
      `Cannot open Redis queue "${where}": ${error instanceof Error ? error.message : error}`,
      { cause: error },
    );
  }
  const shas = new Map<string, string>();
  for (const script of Object.values(scripts)) shas.set(script, await sha1(script));
  return new RedisQueue(client as unknown as Client, where, prefix, shas, options);
}

interface Client {
  sendCommand(args: (string | Buffer)[]): Promise<unknown>;
  close(): Promise<void>;
  destroy(): void;
}

class RedisQueue implements QueueStore {
  readonly kind = "redis";
  #client: Client;
  #where: string;
  #prefix: string;
  #shas: Map<string, string>;
  #o: Resolved;
  #notifier = new Notifier();
  #writing = new Set<string>();
  #closed = false;

  constructor(
    client: Client,
    where: string,
    prefix: string,
    shas: Map<string, string>,
    options: RedisQueueOptions,
  ) {
    this.#client = client;
    this.#where = where;
    this.#prefix = prefix;
    this.#shas = shas;
    this.#o = resolveOptions(options);
  }

  #keys(channel: string): string[] {
    checkId("channel", channel);
    const base = `${this.#prefix}{${channel}}:`;
    return [
      base + "s",
      base + "ids",
      base + "st",
      base + "m",
      this.#prefix + "channels",
      this.#prefix + "total",
    ];
  }

  #bodyPrefix(channel: string): string {
    return `${this.#prefix}{${channel}}:b:`;
  }

  /** Maps Redis failures to the store's errors. */
  #fail(error: unknown, channel: string): never {
    const message = error instanceof Error ? error.message : String(error);
    if (/^FULL/.test(message)) {
      throw new QueueFullError(`Queue full: channel "${channel}" ${message.slice(5)}`, {
        cause: error,
      });
    }
    if (/^OOM/.test(message)) {
      throw new QueueFullError(`Queue full: Redis "${this.#where}" is out of memory`, {
        cause: error,
      });
    }
    if (/^DUPLICATE/.test(message)) throw new TypeError(`Duplicate delivery id in "${channel}"`);
    if (error instanceof QueueStoreError || error instanceof QueueFullError) throw error;
    throw new QueueStoreError(`Redis queue "${this.#where}" failed: ${message}`, { cause: error });
  }

  async #command(args: (string | Buffer)[]): Promise<Reply> {
    if (this.#closed) throw new QueueStoreError(`Redis queue "${this.#where}" is closed`);
    return await this.#client.sendCommand(args) as Reply;
  }

  async #script(
    script: string,
    channel: string,
    args: (string | number | Buffer)[],
  ): Promise<Reply> {
    const keys = this.#keys(channel);
    const argv = [this.#bodyPrefix(channel), channel, ...args].map((a) =>
      typeof a === "number" ? String(a) : a
    );
    try {
      try {
        return await this.#command(["EVALSHA", this.#shas.get(script)!, "6", ...keys, ...argv]);
      } catch (error) {
        if (!(error instanceof Error) || !/^NOSCRIPT/.test(error.message)) throw error;
        return await this.#command(["EVAL", script, "6", ...keys, ...argv]);
      }
    } catch (error) {
      this.#fail(error, channel);
    }
  }

  async enqueue(channel: string, delivery: NewDelivery): Promise<Enqueued> {
    checkId("channel", channel);
    const prepared = prepare(delivery);
    const { id } = prepared;
    if (this.#writing.has(id)) throw new TypeError(`Duplicate delivery id "${id}"`);
    const bodyKey = this.#bodyPrefix(channel) + id;
    let created = false;
    this.#writing.add(id);
    try {
      if (Number.isFinite(this.#o.maxTotalBytes)) {
        const total = Number(text(await this.#command(["GET", this.#prefix + "total"]) ?? "0"));
        if (total + prepared.overhead > this.#o.maxTotalBytes) {
          throw new QueueFullError(
            `Queue full: the store holds ${total} of ${this.#o.maxTotalBytes} bytes`,
          );
        }
      }
      const bodySize = await writeChunks(
        delivery.body,
        this.#o.maxBytes - prepared.overhead,
        async (chunk, n) => {
          const data = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
          if (n === 0) {
            const ok = await this.#command([
              "SET",
              bodyKey,
              data,
              "NX",
              "PX",
              String(WRITING_TTL_MS),
            ]).catch((error) => this.#fail(error, channel));
            if (ok === null) throw new TypeError(`Duplicate delivery id "${id}"`);
            created = true;
          } else {
            try {
              await this.#command([
                "EVALSHA",
                this.#shas.get(scripts.APPEND)!,
                "1",
                bodyKey,
                data,
              ]).catch((error) => {
                if (error instanceof Error && /^NOSCRIPT/.test(error.message)) {
                  return this.#command(["EVAL", scripts.APPEND, "1", bodyKey, data]);
                }
                throw error;
              });
            } catch (error) {
              this.#fail(error, channel);
            }
          }
        },
      );
      const reply = await this.#script(scripts.ENQUEUE, channel, [
        id,
        prepared.headJson,
        prepared.metaJson,
        bodySize,
        bodySize + prepared.overhead,
        this.#o.now(),
        this.#o.maxAgeMs,
        this.#o.maxBytes,
        this.#o.maxCount,
        Number.isFinite(this.#o.maxTotalBytes) ? this.#o.maxTotalBytes : -1,
      ]) as Reply[];
      created = false;
      this.#notifier.notify(channel);
      return { id, dropped: Number(reply[1]) };
    } catch (error) {
      if (error instanceof QueueStoreError && /BODY_LOST/.test(error.message)) {
        throw new QueueStoreError(
          `Redis queue "${this.#where}" lost the body of "${id}" while writing it`,
          { cause: error },
        );
      }
      throw error;
    } finally {
      this.#writing.delete(id);
      if (created && !this.#closed) await this.#command(["DEL", bodyKey]).catch(() => {});
    }
  }

  async lease(channel: string, options: LeaseOptions): Promise<Delivery[]> {
    checkId("channel", channel);
    const consumer = checkId("consumer", options.consumer);
    const limit = options.limit ?? 1;
    const leaseMs = options.leaseMs ?? this.#o.leaseMs;
    if (!(limit >= 1) || !(leaseMs > 0)) {
      throw new RangeError("Lease limit and leaseMs must be positive");
    }
    const rows = await this.#script(scripts.LEASE, channel, [
      consumer,
      limit,
      this.#o.now(),
      leaseMs,
      this.#o.maxAgeMs,
      SCAN_CAP,
    ]) as Reply[][];
    return rows.map((row) => ({
      id: text(row[0]),
      channel,
      head: decodeHead(row[1] as Buffer),
      meta: decodeMeta(row[2] as Buffer),
      bodySize: Number(text(row[3])),
      receivedAt: Number(text(row[4])),
      attempts: Number(text(row[5])),
      leaseUntil: Number(text(row[6])),
    }));
  }

  readBody(channel: string, id: string): ReadableStream<Uint8Array> {
    checkId("delivery id", id);
    let size = -1;
    let at = 0;
    const key = this.#bodyPrefix(channel) + id;
    const gone = () =>
      new QueueStoreError(`Queued delivery "${id}" of channel "${channel}" is gone`);
    return new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        if (size < 0) {
          size = Number(await this.#script(scripts.BODY_SIZE, channel, [id]));
          if (size < 0) throw gone();
        }
        if (at >= size) return controller.close();
        const end = Math.min(at + QUEUE_CHUNK_SIZE, size) - 1;
        const chunk = await this.#command(["GETRANGE", key, String(at), String(end)]) as Buffer;
        if (!(chunk instanceof Uint8Array) || chunk.byteLength !== end - at + 1) throw gone();
        at = end + 1;
        controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
      },
    }, { highWaterMark: 0 });
  }

  async ack(channel: string, id: string): Promise<boolean> {
    return await this.ackMany(channel, [id]) === 1;
  }

  async oldest(channel: string): Promise<number | undefined> {
    const [stream] = this.#keys(channel);
    let reply: Reply;
    try {
      reply = await this.#command(["XRANGE", stream, "-", "+", "COUNT", "1"]);
    } catch (error) {
      this.#fail(error, channel);
    }
    const entry = (reply as Reply[][])[0];
    if (!entry) return undefined;
    const fields = entry[1] as unknown as Reply[];
    for (let i = 0; i + 1 < fields.length; i += 2) {
      if (text(fields[i]) === "t") return Number(text(fields[i + 1]));
    }
    return undefined;
  }

  async ackMany(channel: string, ids: readonly string[]): Promise<number> {
    for (const id of ids) checkId("delivery id", id);
    if (ids.length === 0) return 0;
    return Number(await this.#script(scripts.ACK, channel, [...ids]));
  }

  async nack(channel: string, id: string, options: NackOptions = {}): Promise<boolean> {
    checkId("delivery id", id);
    const done = Number(
      await this.#script(scripts.NACK, channel, [
        id,
        this.#o.now(),
        options.delayMs ?? -1,
        this.#o.retryBaseMs,
        this.#o.retryMaxMs,
        SCAN_CAP,
      ]),
    ) === 1;
    if (done) this.#notifier.notify(channel);
    return done;
  }

  async release(channel: string, consumer: string): Promise<number> {
    const released = Number(await this.#script(scripts.RELEASE, channel, [consumer]));
    if (released) this.#notifier.notify(channel);
    return released;
  }

  async #expire(channel: string): Promise<[number, number, number]> {
    const reply = await this.#script(scripts.EXPIRE, channel, [this.#o.now(), this.#o.maxAgeMs]);
    return (reply as Reply[]).map(Number) as [number, number, number];
  }

  async depth(channel: string): Promise<Depth> {
    const [, count, bytes] = await this.#expire(channel);
    return { count, bytes };
  }

  async takeDropped(channel: string): Promise<number> {
    return Number(await this.#script(scripts.TAKE_DROPPED, channel, []));
  }

  async channels(): Promise<string[]> {
    const members = await this.#command(["SMEMBERS", this.#prefix + "channels"]) as Reply[];
    return members.map(text).sort();
  }

  async sweep(): Promise<number> {
    let dropped = 0;
    for (const channel of await this.channels()) dropped += (await this.#expire(channel))[0];
    return dropped;
  }

  async getSettings(channel: string): Promise<Record<string, string> | null> {
    const reply = await this.#command(["HGET", this.#keys(channel)[3], "settings"]);
    return reply === null ? null : JSON.parse(text(reply));
  }

  async setSettings(channel: string, settings: Record<string, string> | null): Promise<void> {
    checkId("channel", channel);
    const json = encodeSettings(settings);
    await this.#script(scripts.SET_SETTINGS, channel, json === null ? [] : [json]);
  }

  wait(channel: string, options?: { timeoutMs?: number; signal?: AbortSignal }): Promise<void> {
    return this.#notifier.wait(channel, options);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#notifier.close();
    await this.#client.close().catch(() => this.#client.destroy());
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
