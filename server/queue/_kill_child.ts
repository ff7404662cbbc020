/**
 * Child process for the SIGKILL tests: enqueues deliveries `k-0`, `k-1`, … with bodies from
 * {@linkcode bodyFor}, printing `start <id>` before and `committed <id>` after each, until killed.
 *
 * Usage: `deno run -A _kill_child.ts sqlite <path>` or `… redis <url> <prefix>`; with `lease`
 * first (`… lease sqlite <path>`) it leases 3 deliveries of channel `consumed` as consumer
 * `doomed`, prints `leased <ids>` and hangs.
 *
 * @module
 */
import { bodyFor, openKillTarget } from "./_kill.ts";

const encoder = new TextEncoder();
const say = (line: string) => Deno.stdout.writeSync(encoder.encode(line + "\n"));
if (Deno.args[0] === "lease") {
  // Consumer mode: lease, report, and hang until killed (a replica dying mid-delivery).
  const store = await openKillTarget(Deno.args.slice(1));
  const leased = await store.lease("consumed", { consumer: "doomed", limit: 3, leaseMs: 1_500 });
  say(`leased ${leased.map((d) => d.id).join(",")}`);
  await new Promise(() => {});
}
const store = await openKillTarget(Deno.args);
for (let i = 0;; i++) {
  const id = `k-${i}`;
  const body = bodyFor(i);
  say(`start ${id} ${body.byteLength}`);
  let at = 0;
  // Streamed in 16 KiB pieces, each a macrotask apart, so a kill can land mid-body.
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (at >= body.byteLength) return controller.close();
      await new Promise((resolve) => setTimeout(resolve, 0));
      controller.enqueue(body.slice(at, at + 16384));
      at += 16384;
      say(`piece ${id} ${at}`);
    },
  });
  await store.enqueue("killed", {
    id,
    head: { method: "POST", target: `/k/${i}`, headers: [["x-i", String(i)]] },
    body: stream,
  });
  say(`committed ${id}`);
}
