import assert from "node:assert/strict";
import { METRIC_TABLES } from "./metrics_docs.ts";

Deno.test("METRIC_TABLES.server lists every metric once, wow_* first, with the per-channel note", async () => {
  const rows = (await METRIC_TABLES.server()).split("\n").slice(2);
  const names = rows.map((row) => row.split("|")[1].trim());
  assert.equal(new Set(names).size, names.length);
  assert.equal(names[0], "`wow_channels`");
  assert.ok(names.includes("`process_resident_memory_bytes`"));
  const firstProcess = names.findIndex((name) => !name.startsWith("`wow_"));
  assert.ok(names.slice(firstProcess).every((name) => !name.startsWith("`wow_")));
  assert.ok(rows.includes(
    "| `wow_webhooks_total` | counter | `route`, `code`, `channel` with `--metrics-per-channel` | Webhooks answered, by route (local tunnel or relay to the owning replica) and status code |",
  ));
});
