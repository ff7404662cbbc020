/**
 * The queue's scrape-time gauges (`wow_queue_depth`, `wow_queue_stored_bytes`): store calls are
 * asynchronous and a scrape reads synchronously, so a snapshot is refreshed in the background
 * and the gauges report the latest one. `wow_queue_oldest_age_seconds` is not measured yet (the
 * store interface has no cheap "oldest" query) and reports 0.
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
  let snapshot: QueueSnapshot = { depth: 0, oldestAgeSeconds: 0, storedBytes: 0 };
  metrics.provide({ queue: () => snapshot });
  let running = false;
  const refresh = async () => {
    if (running || signal.aborted) return;
    running = true;
    try {
      let depth = 0;
      let storedBytes = 0;
      for (const channel of await queue.channels()) {
        const size = await queue.depth(channel);
        depth += size.count;
        storedBytes += size.bytes;
      }
      snapshot = { depth, oldestAgeSeconds: 0, storedBytes };
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
