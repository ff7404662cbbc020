/**
 * Durable per-channel queues of webhooks for when the client is away (issue #10, phase 1: the
 * stores, not yet wired into the server). One interface, {@linkcode QueueStore}, three stores
 * behind `--queue <url>`: `memory:` (default, lost on restart), `sqlite:<path>` (embedded,
 * survives restarts and SIGKILL) and `redis://…` / `rediss://…` (Redis Streams, shared by
 * replicas). The same contract tests (`_contract.ts`) run against all three.
 *
 * @example
 * ```ts
 * import { openQueue } from "./mod.ts";
 * await using queue = await openQueue("memory:");
 * const { id } = await queue.enqueue("ch", {
 *   head: { method: "POST", target: "/gh", headers: [["content-type", "application/json"]] },
 *   body: new TextEncoder().encode("{}"),
 * });
 * const [delivery] = await queue.lease("ch", { consumer: "replica-1:session-7" });
 * // …send it through the tunnel, wait for the client's ACK…
 * await queue.ack("ch", delivery.id);
 * ```
 *
 * ## Design note for the integrator (server wiring, tunnel additions)
 *
 * **Accepting** (`ANY /webhook/{id}` while the client is away, or when it reports the app
 * unreachable): stream the request into `enqueue(channel, {head, body: request.body, meta})`
 * and answer `202 {"queued": true, "delivery_id": id}` (or `--queue-status`) only after it
 * resolves. `QueueFullError` or `QueueStoreError` → `503` + `Retry-After`, never `202`.
 * `enqueue` returns how many older deliveries retention dropped: log them. Call `sweep()` every
 * minute or so to apply the age bound to channels nobody reads.
 *
 * **Settings**: `setSettings(channel, {offline: "auto"})` at attach; `getSettings(channel)` when
 * a webhook arrives for an absent client (another replica, or after a restart, still knows the
 * mode). No settings → the server's default mode.
 *
 * **Draining** (on attach, and whenever `wait(channel)` resolves while attached): consumer id
 * `<replica>:<session>`; `lease(channel, {consumer, limit: N})` gives the next N deliveries in
 * order (N ≈ 8 keeps the tunnel busy without a large replay on failure); send each as a request
 * stream whose body comes from `readBody(channel, id)` (64 KiB chunks, streamed, never whole in
 * memory); lease again as ACKs come in (deliveries this consumer already holds are skipped). On
 * detach: `release(channel, consumer)`. A dead replica's leases run out after `leaseMs` (30 s)
 * and another replica's lease walk takes them over, from the head, with `attempts` counting.
 * `wait()` is woken by this process's enqueues only: on a shared Redis pass a `timeoutMs`
 * (e.g. 1 s) so deliveries accepted by other replicas are picked up by polling.
 *
 * **Tunnel additions** (protocol/ is owned elsewhere; these are proposals, numbered after the
 * existing frame types 1-5):
 * - Upgrade request header `x-wow-offline: auto|queue|reject` (client's `--offline`). A mode
 *   the server's `--offline-modes` refuses → `400` before the upgrade with a one-line reason,
 *   which the client prints and exits on (no reconnect loop).
 * - HEAD flag `0x01 QUEUED` on a server → client request HEAD: its JSON payload gains two items,
 *   `[method, target, headers, deliveryId, attempt]`. The request bytes the app sees are
 *   unchanged (no header is injected).
 * - Frame type 6 `ACK`, client → server, on the delivery's stream id, payload JSON
 *   `[deliveryId, status]`: sent after the app answered with any status, after the id was written
 *   to the client's state file (recently acked ids; a redelivered id found there is skipped and
 *   ACKed again without calling the app). The response HEAD/DATA/END still flow as today so the
 *   server can log/record the answer. Server: `ack(channel, id)`.
 * - Frame type 7 `NACK`, client → server, payload JSON `[deliveryId, reason]`, reason
 *   `"unreachable"` (connection refused) or `"timeout"`. Server: `nack(channel, id)` (backoff 1 s
 *   doubling to 60 s; the later deliveries this consumer holds are released with it). The client
 *   handles a channel's QUEUED streams one at a time, in order; after a NACK it RESETs the later
 *   QUEUED streams it holds instead of delivering them, so nothing overtakes.
 * - RESET code `"app_unreachable"` on a live (non-queued) stream: the client could not connect to
 *   the app. In `auto`/`queue` mode the server stores the request instead of answering 502: it
 *   keeps the body bytes already sent on that stream (at most one credit window, 256 KiB, since
 *   the client grants no more credit without an app) and enqueues them followed by the rest of
 *   the sender's body.
 * - Frame type 8 `NOTICE`, server → client, connection-level (stream id 0, so the decoder's
 *   "stream id 0" check must allow it for this type only), payload JSON
 *   `{"dropped": n, "queued": m}`, sent once right after attach from `takeDropped(channel)` and
 *   `depth(channel)`; the client prints `Dropped N queued webhooks (retention)` when n > 0.
 *
 * @module
 */
import { openMemoryQueue } from "./memory.ts";
import { openRedisQueue } from "./redis.ts";
import { openSqliteQueue, type SqliteQueueOptions } from "./sqlite.ts";
import type { QueueStore } from "./types.ts";

export { openMemoryQueue } from "./memory.ts";
export { BODY_BATCH_BYTES, openSqliteQueue } from "./sqlite.ts";
export type { SqliteQueueOptions } from "./sqlite.ts";
export { openRedisQueue, WRITING_TTL_MS } from "./redis.ts";
export type { RedisQueueOptions } from "./redis.ts";
export {
  ID_REGEX,
  MAX_META_SIZE,
  MAX_QUEUED_HEAD_SIZE,
  QUEUE_CHUNK_SIZE,
  QUEUE_DEFAULTS,
  QueueFullError,
  QueueStoreError,
} from "./types.ts";
export type {
  Delivery,
  Depth,
  Enqueued,
  HeaderPair,
  LeaseOptions,
  NackOptions,
  NewDelivery,
  QueuedHead,
  QueueLimits,
  QueueStore,
  QueueStoreOptions,
} from "./types.ts";

/** Options for {@linkcode openQueue}: the bounds, plus each store's own options. */
export interface OpenQueueOptions extends SqliteQueueOptions {
  /** Redis key prefix. @default {"wow:q:"} */
  prefix?: string;
}

/**
 * Opens the store a `--queue` URL names: `memory:`, `sqlite:<path>`, `redis://…`, `rediss://…`.
 *
 * @param url The store URL.
 * @param options Retention bounds, timings and store options.
 * @returns The open store.
 * @throws {TypeError} For an unknown scheme or an empty path.
 * @throws {QueueStoreError} When the store cannot be opened (corrupt database, unreachable Redis).
 */
export async function openQueue(url: string, options: OpenQueueOptions = {}): Promise<QueueStore> {
  if (url === "memory:" || url === "memory") return openMemoryQueue(options);
  if (url.startsWith("sqlite:")) {
    const path = url.slice("sqlite:".length).replace(/^\/\/(?=\/)/, "");
    if (!path) throw new TypeError(`Invalid queue URL "${url}": expected sqlite:<path>`);
    return openSqliteQueue(path, options);
  }
  if (/^rediss?:\/\//.test(url)) return await openRedisQueue(url, options);
  throw new TypeError(
    `Invalid queue URL "${
      url.replace(/\/\/[^@/]*@/, "//***@")
    }": expected memory:, sqlite:<path> or redis://host:port`,
  );
}
