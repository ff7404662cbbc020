/**
 * The queue's scrape-time gauges (`wow_queue_depth`, `wow_queue_stored_bytes`): store calls are
 * asynchronous and a scrape reads synchronously, so a snapshot is refreshed in the background
 * and the gauges report the latest one. `wow_queue_oldest_age_seconds` is the age, at scrape
 * time, of the oldest arrival the last refresh found (one head-of-queue read per channel).
 *
 * @module
 */
import type { QueueSnapshot, ServerMetrics } from "./metrics/mod.ts";
import type { QueueStore } from "./queue/mod.ts";

/** How often the snapshot is refreshed, ms: Prometheus scrapes every 15-60 s. */
export const QUEUE_GAUGE_INTERVAL = 10_000;

/**
 * Registers the queue gauges with `metrics` and keeps them fresh until `signal` aborts.
 * @param queue The store.
 * @param metrics The server's metrics.
 * @param signal Stops the refreshes.
 */
export function provideQueueGauges(
  queue: QueueStore,
  metrics: ServerMetrics,
  signal: AbortSignal,
): void {
  let snapshot = { depth: 0, storedBytes: 0, oldestAt: undefined as number | undefined };
  metrics.provide({
    queue: (): QueueSnapshot => ({
      depth: snapshot.depth,
      storedBytes: snapshot.storedBytes,
      oldestAgeSeconds: snapshot.oldestAt === undefined
        ? 0
        : Math.max(0, (Date.now() - snapshot.oldestAt) / 1000),
    }),
  });
  let running = false;
  const refresh = async () => {
    if (running || signal.aborted) return;
    running = true;
    try {
      let depth = 0;
      let storedBytes = 0;
      let oldestAt: number | undefined;
      for (const channel of await queue.channels()) {
        const size = await queue.depth(channel);
        depth += size.count;
        storedBytes += size.bytes;
        const at = size.count > 0 ? await queue.oldest(channel) : undefined;
        if (at !== undefined && (oldestAt === undefined || at < oldestAt)) oldestAt = at;
      }
      snapshot = { depth, storedBytes, oldestAt };
    } catch {
      if (!signal.aborted) metrics.queueStoreError();
    } finally {
      running = false;
    }
  };
  const timer = setInterval(refresh, QUEUE_GAUGE_INTERVAL);
  signal.addEventListener("abort", () => clearInterval(timer), { once: true });
  refresh();
}
