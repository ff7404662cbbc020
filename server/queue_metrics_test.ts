import assert from "node:assert/strict";
import { createServerMetrics } from "./metrics/mod.ts";
import { openMemoryQueue } from "./queue/mod.ts";
import { provideQueueGauges } from "./queue_metrics.ts";

const HEAD = { method: "POST", target: "/", headers: [] as [string, string][] };

function gauge(text: string, name: string): number {
  const match = new RegExp(`^${name} (\\S+)$`, "m").exec(text);
  assert.ok(match, `${name} is exposed`);
  return Number(match[1]);
}

Deno.test("provideQueueGauges: depth, bytes, and the oldest queued webhook's age over all channels", async () => {
  // The store's clock runs 90 s behind: what it accepts now looks 90 s old to the gauge.
  let lag = 90_000;
  const queue = await openMemoryQueue({ now: () => Date.now() - lag });
  const metrics = createServerMetrics({ processMetrics: false });
  const stop = new AbortController();
  try {
    provideQueueGauges(queue, metrics, stop.signal);
    assert.equal(gauge(await metrics.metrics(), "wow_queue_oldest_age_seconds"), 0, "empty");
    await queue.enqueue("b", { head: HEAD, body: new Uint8Array(10) });
    lag = 30_000;
    await queue.enqueue("a", { head: HEAD, body: new Uint8Array(10) });
    // A new subscriber starts a refresh at once; the next one comes from the interval.
    provideQueueGauges(queue, metrics, stop.signal);
    const deadline = Date.now() + 5_000;
    let text = "";
    while (Date.now() < deadline) {
      text = await metrics.metrics();
      if (gauge(text, "wow_queue_depth") === 2) break;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.equal(gauge(text, "wow_queue_depth"), 2);
    const age = gauge(text, "wow_queue_oldest_age_seconds");
    assert.ok(age >= 90 && age < 100, `the oldest (channel b) is ~90 s old, got ${age}`);
  } finally {
    stop.abort();
    await queue.close();
  }
});
