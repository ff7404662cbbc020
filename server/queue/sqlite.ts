/**
 * `sqlite:<path>` queue store: one SQLite database (Deno's built-in `node:sqlite`) in WAL mode,
 * owned by one process at a time, surviving restarts and crashes (SIGKILL included).
 *
 * Schema: `messages` (one row per delivery, `seq` gives arrival order), `chunks` (bodies in
 * pieces of at most 64 KiB, keyed by delivery id), `channels` (byte and drop counters, settings).
 * A body is written in transactions of at most {@linkcode BODY_BATCH_BYTES} as it streams in;
 * its `messages` row is inserted last, in the same transaction as the last chunks, so a crash
 * mid-write leaves only orphan chunks, which the next open deletes. A delivery is visible exactly
 * when it is durable.
 *
 * @module
 */
import { DatabaseSync, type StatementSync } from "node:sqlite";
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

/** Chunks of a streaming body are buffered up to this many bytes and written in one transaction. */
export const BODY_BATCH_BYTES = 1024 * 1024;

/** Schema version stored in `PRAGMA user_version`. */
const SCHEMA_VERSION = 1;

/** Rows the lease walk reads per query. */
const WALK_BATCH = 256;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS messages (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  channel TEXT NOT NULL,
  id TEXT NOT NULL UNIQUE,
  head TEXT NOT NULL,
  meta TEXT NOT NULL,
  body_size INTEGER NOT NULL,
  size INTEGER NOT NULL,
  received_at INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  owner TEXT,
  lease_until INTEGER NOT NULL DEFAULT 0,
  not_before INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS messages_channel ON messages (channel, seq);
CREATE TABLE IF NOT EXISTS chunks (
  id TEXT NOT NULL,
  n INTEGER NOT NULL,
  data BLOB NOT NULL,
  PRIMARY KEY (id, n)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS channels (
  channel TEXT PRIMARY KEY,
  count INTEGER NOT NULL DEFAULT 0,
  bytes INTEGER NOT NULL DEFAULT 0,
  dropped INTEGER NOT NULL DEFAULT 0,
  settings TEXT
) WITHOUT ROWID;
`;

/** Options for {@linkcode openSqliteQueue}. */
export interface SqliteQueueOptions extends QueueStoreOptions {
  /**
   * `"full"` syncs the WAL on every commit (survives power loss); `"normal"` survives a crash of
   * the process (SIGKILL) but may lose the last commits on power loss, and is faster.
   * @default {"full"}
   */
  synchronous?: "full" | "normal";
}

interface Row {
  seq: number;
  id: string;
  head: string;
  meta: string;
  body_size: number;
  size: number;
  received_at: number;
  attempts: number;
  owner: string | null;
  lease_until: number;
  not_before: number;
}

/**
 * Opens (creating if needed) a SQLite queue database. The database is locked for this process
 * (`locking_mode=EXCLUSIVE`): a second server on the same file fails to open. Leases left by a
 * previous process are released on open, so its deliveries go out again at once.
 *
 * @example
 * ```ts
 * import { openSqliteQueue } from "./sqlite.ts";
 * const path = await Deno.makeTempFile({ suffix: ".db" });
 * await using queue = openSqliteQueue(path);
 * await queue.enqueue("ch", {
 *   head: { method: "POST", target: "/", headers: [] },
 *   body: new TextEncoder().encode("{}"),
 * });
 * ```
 *
 * @param path Database file path.
 * @param options Bounds, clock and sync mode.
 * @returns The store.
 * @throws {QueueStoreError} When the file cannot be opened, is not a queue database, is corrupt
 *   or is in use by another process; it is never reset.
 */
export function openSqliteQueue(path: string, options: SqliteQueueOptions = {}): QueueStore {
  return new SqliteQueue(path, options);
}

/** Runs `fn`, turning a throw into a rejected promise. */
function run<T>(fn: () => T): Promise<T> {
  return new Promise((resolve) => resolve(fn()));
}

class SqliteQueue implements QueueStore {
  readonly kind = "sqlite";
  #path: string;
  #o: Resolved;
  #db: DatabaseSync;
  #notifier = new Notifier();
  #writing = new Set<string>();
  #total = 0;
  #closed = false;
  #s: Record<string, StatementSync>;
  #syncFull: boolean;

  constructor(path: string, options: SqliteQueueOptions) {
    this.#path = path;
    this.#o = resolveOptions(options);
    this.#syncFull = options.synchronous !== "normal";
    let db: DatabaseSync | undefined;
    try {
      db = new DatabaseSync(path, { timeout: 0 });
      db.exec("PRAGMA locking_mode = EXCLUSIVE");
      const mode = db.prepare("PRAGMA journal_mode = WAL").get() as { journal_mode: string };
      if (mode.journal_mode !== "wal") throw new Error(`journal_mode is "${mode.journal_mode}"`);
      db.exec(`PRAGMA synchronous = ${options.synchronous === "normal" ? "NORMAL" : "FULL"}`);
      const version = (db.prepare("PRAGMA user_version").get() as { user_version: number })
        .user_version;
      const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all();
      if (version === 0 && tables.length > 0) {
        throw new Error("not a queue database (it has other tables)");
      }
      if (version > SCHEMA_VERSION) {
        throw new Error(`schema version ${version} is newer than this build's ${SCHEMA_VERSION}`);
      }
      const check = db.prepare("PRAGMA quick_check").get() as { quick_check: string };
      if (check.quick_check !== "ok") throw new Error(`integrity check: ${check.quick_check}`);
      db.exec("BEGIN IMMEDIATE");
      db.exec(SCHEMA);
      db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`);
      // Orphan chunks of bodies a crashed process was writing; stale leases of that process.
      db.exec("DELETE FROM chunks WHERE id NOT IN (SELECT id FROM messages)");
      db.exec("UPDATE messages SET owner = NULL, lease_until = 0 WHERE owner IS NOT NULL");
      db.exec("COMMIT");
      this.#total = (db.prepare("SELECT COALESCE(SUM(size), 0) AS t FROM messages").get() as {
        t: number;
      }).t;
    } catch (error) {
      try {
        db?.close();
      } catch { /* closing a half-open database */ }
      const detail = error instanceof Error ? error.message : String(error);
      const hint = /locked|busy/i.test(detail) ? " (is another server using it?)" : "";
      throw new QueueStoreError(`Cannot open queue database "${path}": ${detail}${hint}`, {
        cause: error,
      });
    }
    this.#db = db;
    const p = (sql: string) => db.prepare(sql);
    this.#s = {
      exists: p("SELECT 1 FROM messages WHERE id = ?"),
      chunk: p("INSERT INTO chunks (id, n, data) VALUES (?, ?, ?)"),
      dropChunks: p("DELETE FROM chunks WHERE id = ?"),
      insert: p(
        `INSERT INTO messages (channel, id, head, meta, body_size, size, received_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      ),
      oldest: p("SELECT seq, id, size, received_at FROM messages WHERE channel = ? ORDER BY seq"),
      head: p(
        "SELECT seq, id, size, received_at FROM messages WHERE channel = ? ORDER BY seq LIMIT 1",
      ),
      channelStats: p("SELECT count, bytes FROM channels WHERE channel = ?"),
      walk: p(
        `SELECT * FROM messages WHERE channel = ? AND seq > ? ORDER BY seq LIMIT ${WALK_BATCH}`,
      ),
      leaseRow: p(
        "UPDATE messages SET owner = ?, lease_until = ?, attempts = attempts + 1 WHERE seq = ?",
      ),
      byId: p("SELECT * FROM messages WHERE channel = ? AND id = ?"),
      sizeById: p("SELECT seq, size FROM messages WHERE channel = ? AND id = ?"),
      delete: p("DELETE FROM messages WHERE seq = ?"),
      addStats: p(
        `INSERT INTO channels (channel, count, bytes, dropped) VALUES (?, ?, ?, ?)
         ON CONFLICT (channel) DO UPDATE SET count = count + excluded.count,
           bytes = bytes + excluded.bytes, dropped = dropped + excluded.dropped`,
      ),
      gcChannel: p(
        `DELETE FROM channels WHERE channel = ? AND count = 0 AND dropped = 0
           AND settings IS NULL`,
      ),
      nack: p("UPDATE messages SET owner = NULL, lease_until = 0, not_before = ? WHERE seq = ?"),
      releaseAfter: p(
        `UPDATE messages SET owner = NULL, lease_until = 0
         WHERE channel = ? AND seq > ? AND owner = ?`,
      ),
      release: p(
        "UPDATE messages SET owner = NULL, lease_until = 0 WHERE channel = ? AND owner = ?",
      ),
      dropped: p("SELECT dropped FROM channels WHERE channel = ?"),
      resetDropped: p("UPDATE channels SET dropped = 0 WHERE channel = ?"),
      channels: p("SELECT channel FROM channels WHERE count > 0 ORDER BY channel"),
      settings: p("SELECT settings FROM channels WHERE channel = ?"),
      setSettings: p(
        `INSERT INTO channels (channel, settings) VALUES (?, ?)
         ON CONFLICT (channel) DO UPDATE SET settings = excluded.settings`,
      ),
      chunksOf: p("SELECT data FROM chunks WHERE id = ? AND n = ?"),
    };
  }

  #stats(channel: string): Depth {
    const row = this.#s.channelStats.get(channel) as Depth | undefined;
    return { count: row?.count ?? 0, bytes: row?.bytes ?? 0 };
  }

  #check(): void {
    if (this.#closed) throw new QueueStoreError(`Queue database "${this.#path}" is closed`);
  }

  /**
   * Runs `fn` in one write transaction. `relaxed` commits without syncing the WAL even under
   * `synchronous: "full"` (still safe against a crash of the process; the next durable commit
   * syncs it too): for leases, acks and nacks, whose loss on power failure only means a
   * redelivery, which the client detects. node:sqlite is synchronous, so every sync blocks the
   * server; syncing only enqueues (before the 202) keeps a drain at the tunnel's speed.
   */
  #tx<T>(fn: () => T, relaxed = false): T {
    const relax = relaxed && this.#syncFull;
    if (relax) this.#db.exec("PRAGMA synchronous = NORMAL");
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      const result = fn();
      this.#db.exec("COMMIT");
      return result;
    } catch (error) {
      this.#db.exec("ROLLBACK");
      throw error;
    } finally {
      if (relax) this.#db.exec("PRAGMA synchronous = FULL");
    }
  }

  /** {@linkcode #tx} with `relaxed`. */
  #relaxedTx<T>(fn: () => T): T {
    return this.#tx(fn, true);
  }

  #drop(channel: string, rows: { seq: number; id: string; size: number }[]): number {
    let bytes = 0;
    for (const row of rows) {
      this.#s.delete.run(row.seq);
      this.#s.dropChunks.run(row.id);
      bytes += row.size;
    }
    if (rows.length) this.#s.addStats.run(channel, -rows.length, -bytes, rows.length);
    this.#total -= bytes;
    return rows.length;
  }

  /** Drops a channel's deliveries older than maxAgeMs from its head (inside a transaction). */
  #expire(channel: string): number {
    const cutoff = this.#o.now() - this.#o.maxAgeMs;
    let dropped = 0;
    while (true) {
      const row = this.#s.head.get(channel) as Row | undefined;
      if (!row || row.received_at >= cutoff) return dropped;
      dropped += this.#drop(channel, [row]);
    }
  }

  #full(channel: string): QueueFullError {
    return new QueueFullError(
      `Queue full: channel "${channel}" or the store is at its bound (store ${this.#total} of ${this.#o.maxTotalBytes} bytes)`,
    );
  }

  async enqueue(channel: string, delivery: NewDelivery): Promise<Enqueued> {
    this.#check();
    checkId("channel", channel);
    const prepared = prepare(delivery);
    const { id } = prepared;
    if (this.#writing.has(id) || this.#s.exists.get(id)) {
      throw new TypeError(`Duplicate delivery id "${id}"`);
    }
    if (this.#total + prepared.overhead > this.#o.maxTotalBytes) throw this.#full(channel);
    this.#writing.add(id);
    let pending: [number, Uint8Array][] = [];
    let pendingBytes = 0;
    let wroteChunks = false;
    const flush = () => {
      if (pending.length === 0) return;
      const batch = pending;
      pending = [];
      pendingBytes = 0;
      wroteChunks = true;
      this.#tx(() => {
        for (const [n, data] of batch) this.#s.chunk.run(id, n, data);
      });
    };
    try {
      const bodySize = await writeChunks(
        delivery.body,
        this.#o.maxBytes - prepared.overhead,
        (chunk, n) => {
          pending.push([n, chunk]);
          pendingBytes += chunk.byteLength;
          if (pendingBytes >= BODY_BATCH_BYTES) {
            this.#check();
            flush();
          }
        },
      );
      this.#check();
      const size = bodySize + prepared.overhead;
      const dropped = this.#tx(() => {
        this.#expire(channel);
        const { count, bytes } = this.#stats(channel);
        const victims: { seq: number; id: string; size: number }[] = [];
        if (count + 1 > this.#o.maxCount || bytes + size > this.#o.maxBytes) {
          let c = count;
          let b = bytes;
          for (const row of this.#s.oldest.iterate(channel) as Iterable<Row>) {
            if (c + 1 <= this.#o.maxCount && b + size <= this.#o.maxBytes) break;
            victims.push(row);
            c--;
            b -= row.size;
          }
        }
        const freed = victims.reduce((sum, row) => sum + row.size, 0);
        if (this.#total - freed + size > this.#o.maxTotalBytes) throw this.#full(channel);
        for (const [n, data] of pending) this.#s.chunk.run(id, n, data);
        pending = [];
        const dropped = this.#drop(channel, victims);
        this.#s.insert.run(
          channel,
          id,
          prepared.headJson,
          prepared.metaJson,
          bodySize,
          size,
          this.#o.now(),
        );
        this.#s.addStats.run(channel, 1, size, 0);
        return dropped;
      });
      this.#total += size;
      this.#notifier.notify(channel);
      return { id, dropped };
    } catch (error) {
      if (wroteChunks && !this.#closed) {
        try {
          this.#s.dropChunks.run(id);
        } catch { /* the next open removes orphans */ }
      }
      throw error;
    } finally {
      this.#writing.delete(id);
    }
  }

  lease(channel: string, options: LeaseOptions): Promise<Delivery[]> {
    return run(() => {
      this.#check();
      checkId("channel", channel);
      const consumer = checkId("consumer", options.consumer);
      const limit = options.limit ?? 1;
      const leaseMs = options.leaseMs ?? this.#o.leaseMs;
      if (!(limit >= 1) || !(leaseMs > 0)) {
        throw new RangeError("Lease limit and leaseMs must be positive");
      }
      return this.#relaxedTx(() => {
        this.#expire(channel);
        const now = this.#o.now();
        const out: Delivery[] = [];
        let after = 0;
        walk: while (true) {
          const rows = this.#s.walk.all(channel, after) as unknown as Row[];
          for (const row of rows) {
            after = row.seq;
            if (row.owner !== null && row.lease_until > now) {
              if (row.owner === consumer) continue;
              break walk;
            }
            if (row.not_before > now) break walk;
            this.#s.leaseRow.run(consumer, now + leaseMs, row.seq);
            out.push({
              id: row.id,
              channel,
              head: decodeHead(row.head),
              meta: decodeMeta(row.meta),
              bodySize: row.body_size,
              receivedAt: row.received_at,
              attempts: row.attempts + 1,
              leaseUntil: now + leaseMs,
            });
            if (out.length >= limit) break walk;
          }
          if (rows.length < WALK_BATCH) break;
        }
        return out;
      });
    });
  }

  readBody(channel: string, id: string): ReadableStream<Uint8Array> {
    let n = 0;
    let size = -1;
    let read = 0;
    return new ReadableStream<Uint8Array>({
      pull: (controller) => {
        this.#check();
        if (size < 0) {
          const row = this.#s.byId.get(channel, id) as Row | undefined;
          if (!row) {
            throw new QueueStoreError(`Queued delivery "${id}" of channel "${channel}" is gone`);
          }
          size = row.body_size;
        }
        if (read >= size) return controller.close();
        const chunk = this.#s.chunksOf.get(id, n++) as { data: Uint8Array } | undefined;
        if (!chunk) {
          throw new QueueStoreError(`Queued delivery "${id}" of channel "${channel}" is gone`);
        }
        read += chunk.data.byteLength;
        controller.enqueue(chunk.data);
      },
    }, { highWaterMark: 0 });
  }

  ack(channel: string, id: string): Promise<boolean> {
    return this.ackMany(channel, [id]).then((n) => n === 1);
  }

  oldest(channel: string): Promise<number | undefined> {
    return run(() => {
      this.#check();
      // The (channel, seq) order is arrival order: the head row is the oldest.
      return (this.#s.head.get(channel) as Row | undefined)?.received_at;
    });
  }

  ackMany(channel: string, ids: readonly string[]): Promise<number> {
    return run(() => {
      this.#check();
      if (ids.length === 0) return 0;
      return this.#relaxedTx(() => {
        let count = 0;
        let bytes = 0;
        for (const id of ids) {
          const row = this.#s.sizeById.get(channel, id) as
            | { seq: number; size: number }
            | undefined;
          if (!row) continue;
          this.#s.delete.run(row.seq);
          this.#s.dropChunks.run(id);
          count++;
          bytes += row.size;
        }
        if (count === 0) return 0;
        this.#s.addStats.run(channel, -count, -bytes, 0);
        this.#total -= bytes;
        this.#s.gcChannel.run(channel);
        return count;
      });
    });
  }

  nack(channel: string, id: string, options: NackOptions = {}): Promise<boolean> {
    return run(() => {
      this.#check();
      const done = this.#relaxedTx(() => {
        const row = this.#s.byId.get(channel, id) as Row | undefined;
        if (!row) return false;
        const delay = options.delayMs ??
          backoff(row.attempts, this.#o.retryBaseMs, this.#o.retryMaxMs);
        this.#s.nack.run(this.#o.now() + delay, row.seq);
        if (row.owner !== null) this.#s.releaseAfter.run(channel, row.seq, row.owner);
        return true;
      });
      if (done) this.#notifier.notify(channel);
      return done;
    });
  }

  release(channel: string, consumer: string): Promise<number> {
    return run(() => {
      this.#check();
      const changes = Number(this.#s.release.run(channel, consumer).changes);
      if (changes) this.#notifier.notify(channel);
      return changes;
    });
  }

  depth(channel: string): Promise<Depth> {
    return run(() => {
      this.#check();
      return this.#relaxedTx(() => {
        this.#expire(channel);
        return this.#stats(channel);
      });
    });
  }

  takeDropped(channel: string): Promise<number> {
    return run(() => {
      this.#check();
      return this.#tx(() => {
        const row = this.#s.dropped.get(channel) as { dropped: number } | undefined;
        if (!row || row.dropped === 0) return 0;
        this.#s.resetDropped.run(channel);
        this.#s.gcChannel.run(channel);
        return row.dropped;
      });
    });
  }

  channels(): Promise<string[]> {
    return run(() => {
      this.#check();
      return (this.#s.channels.all() as { channel: string }[]).map((r) => r.channel);
    });
  }

  sweep(): Promise<number> {
    return run(() => {
      this.#check();
      return this.#tx(() => {
        let dropped = 0;
        for (const { channel } of this.#s.channels.all() as { channel: string }[]) {
          dropped += this.#expire(channel);
        }
        return dropped;
      });
    });
  }

  getSettings(channel: string): Promise<Record<string, string> | null> {
    return run(() => {
      this.#check();
      const row = this.#s.settings.get(channel) as { settings: string | null } | undefined;
      return row?.settings ? JSON.parse(row.settings) : null;
    });
  }

  setSettings(channel: string, settings: Record<string, string> | null): Promise<void> {
    return run(() => {
      this.#check();
      checkId("channel", channel);
      const json = encodeSettings(settings);
      this.#tx(() => {
        this.#s.setSettings.run(channel, json);
        this.#s.gcChannel.run(channel);
      });
    });
  }

  wait(channel: string, options?: { timeoutMs?: number; signal?: AbortSignal }): Promise<void> {
    return this.#notifier.wait(channel, options);
  }

  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#notifier.close();
      this.#db.close();
    }
    return Promise.resolve();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
