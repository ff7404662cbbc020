/**
 * Queue store benchmark: enqueue and drain rates of each store (`memory:`, `sqlite:` with
 * `synchronous` FULL and NORMAL, `redis://` on a throwaway `redis-server`), plus RSS growth while
 * draining large bodies. Bounded: fixed counts, and every phase stops at {@linkcode PHASE_CAP_MS}.
 * Not part of `deno task bench` yet.
 *
 * Usage: `deno run -A bench/queue.ts [--count 10000] [--size 1024] [--json]`
 *
 * @module
 */
import { startRedis } from "../tests/_redis.ts";
import { openMemoryQueue, openRedisQueue, openSqliteQueue } from "../server/queue/mod.ts";
import type { QueueStore } from "../server/queue/mod.ts";

/** No phase runs longer than this, ms, whatever the store's speed. */
const PHASE_CAP_MS = 30_000;

/** Deliveries leased per call while draining (a tunnel would pipeline about this many). */
const LEASE_BATCH = 8;

/** Concurrent senders in the concurrent-enqueue phase. */
const SENDERS = 16;

function arg(name: string, fallback: number): number {
  const at = Deno.args.indexOf(`--${name}`);
  return at >= 0 ? Number(Deno.args[at + 1]) : fallback;
}

const COUNT = arg("count", 10_000);
const SIZE = arg("size", 1024);
const BIG_COUNT = arg("big-count", 200);
const BIG_SIZE = arg("big-size", 1024 * 1024);
const HEAD = {
  method: "POST",
  target: "/github",
  headers: [["content-type", "application/json"], ["x-github-event", "push"]] as [
    string,
    string,
  ][],
};

interface Result {
  store: string;
  enqueuePerSec: number;
  enqueueConcurrentPerSec: number;
  drainPerSec: number;
  bigDrainMiBPerSec: number;
  bigDrainRssGrowthMiB: number;
}

/** Runs `step(i)` for i in [0, n) sequentially, stopping at the cap; returns ops per second. */
async function rate(n: number, step: (i: number) => Promise<unknown>): Promise<number> {
  const start = performance.now();
  let done = 0;
  for (; done < n && performance.now() - start < PHASE_CAP_MS; done++) await step(done);
  return done / ((performance.now() - start) / 1000);
}

async function drain(store: QueueStore, channel: string, n: number): Promise<number> {
  const start = performance.now();
  let done = 0;
  while (done < n && performance.now() - start < PHASE_CAP_MS) {
    const batch = await store.lease(channel, { consumer: "bench", limit: LEASE_BATCH });
    if (batch.length === 0) break;
    for (const delivery of batch) {
      let bytes = 0;
      for await (const chunk of store.readBody(channel, delivery.id)) bytes += chunk.byteLength;
      if (bytes !== delivery.bodySize) throw new Error(`Short body for ${delivery.id}`);
      await store.ack(channel, delivery.id);
      done++;
    }
  }
  return done / ((performance.now() - start) / 1000);
}

async function measure(name: string, store: QueueStore): Promise<Result> {
  const body = crypto.getRandomValues(new Uint8Array(SIZE));
  const enqueuePerSec = await rate(COUNT, () => store.enqueue("seq", { head: HEAD, body }));
  const drainPerSec = await drain(store, "seq", COUNT);
  const perSender = Math.ceil(COUNT / SENDERS);
  const started = performance.now();
  const counts = await Promise.all(
    Array.from({ length: SENDERS }, async () => {
      let n = 0;
      for (; n < perSender && performance.now() - started < PHASE_CAP_MS; n++) {
        await store.enqueue("conc", { head: HEAD, body });
      }
      return n;
    }),
  );
  const enqueueConcurrentPerSec = counts.reduce((a, b) => a + b, 0) /
    ((performance.now() - started) / 1000);
  await drain(store, "conc", COUNT);

  // Large bodies: stored in 64 KiB chunks, streamed back; RSS should barely move while draining.
  const big = crypto.getRandomValues(new Uint8Array(Math.min(BIG_SIZE, 65536)));
  let stored = 0;
  for (let i = 0; i < BIG_COUNT; i++) {
    let left = BIG_SIZE;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (left <= 0) return controller.close();
        const piece = big.subarray(0, Math.min(left, big.byteLength));
        left -= piece.byteLength;
        controller.enqueue(piece);
      },
    });
    try {
      await store.enqueue("big", { head: HEAD, body: stream });
      stored++;
    } catch (error) {
      console.error(`${name}: big enqueue ${i} refused: ${(error as Error).message}`);
      break;
    }
  }
  const rssBefore = Deno.memoryUsage().rss;
  let rssPeak = rssBefore;
  const timer = setInterval(() => rssPeak = Math.max(rssPeak, Deno.memoryUsage().rss), 20);
  const drainedPerSec = await drain(store, "big", stored);
  clearInterval(timer);
  rssPeak = Math.max(rssPeak, Deno.memoryUsage().rss);
  return {
    store: name,
    enqueuePerSec: Math.round(enqueuePerSec),
    enqueueConcurrentPerSec: Math.round(enqueueConcurrentPerSec),
    drainPerSec: Math.round(drainPerSec),
    bigDrainMiBPerSec: Math.round((drainedPerSec * BIG_SIZE) / 1048576),
    bigDrainRssGrowthMiB: Math.round((rssPeak - rssBefore) / 1048576),
  };
}

const results: Result[] = [];
const dir = await Deno.makeTempDir({ prefix: "wow-bench-queue-" });
try {
  {
    // The memory store's total bound must hold the large-body phase.
    await using store = openMemoryQueue({ maxTotalBytes: (BIG_COUNT + 2) * (BIG_SIZE + 4096) });
    results.push(await measure("memory:", store));
  }
  for (const synchronous of ["full", "normal"] as const) {
    await using store = openSqliteQueue(`${dir}/${synchronous}.db`, { synchronous });
    results.push(await measure(`sqlite: (synchronous=${synchronous})`, store));
  }
  {
    await using redis = await startRedis();
    await using store = await openRedisQueue(redis.url);
    results.push(await measure("redis://", store));
  }
} finally {
  await Deno.remove(dir, { recursive: true });
}

if (Deno.args.includes("--json")) {
  console.log(JSON.stringify({ count: COUNT, size: SIZE, results }, null, 2));
} else {
  console.log(
    `${COUNT} × ${SIZE} B deliveries; drain = lease(${LEASE_BATCH}) + read body + ack; ` +
      `big = ${BIG_COUNT} × ${BIG_SIZE} B`,
  );
  console.table(results);
}
