/**
 * The README performance table generator: rows carry the CPU figures, and only the marked section
 * of the README changes.
 */
import assert from "node:assert/strict";
import { renderTable, replaceTable } from "./readme_table.ts";

const cell = {
  size: 1024,
  concurrency: 64,
  direct: { rps: 20000, p50_us: 3000, p99_us: 9000 },
  tunnel: { rps: 5000, p50_us: 12000, p99_us: 30000 },
  ratio: 0.25,
  addedP50Ms: 9,
  cpu: { direct: { app: 19 }, tunnel: { server: 50, client: 40, app: 21 } },
};

Deno.test("renderTable: one row per cell with CPU µs and webhooks per server core", () => {
  const lines = renderTable([cell, { ...cell, size: 1 << 20, cpu: undefined }]).split("\n");
  assert.equal(lines.length, 4);
  assert.equal(
    lines[2],
    "| 1 KiB | 64 | 20000 | 5000 | 0.25 | 12.00 / 30.00 | 9.00 | 50 | 40 | 19 | 20000 |",
  );
  assert.match(lines[3], /^\| 1 MiB \| 64 \|.*\| – \| – \| – \| – \|$/);
});

Deno.test("replaceTable: replaces only the marked section, and names the markers when absent", () => {
  const readme = "a\n<!-- bench:table -->\nold\n<!-- /bench:table -->\nb\n";
  assert.equal(
    replaceTable(readme, "NEW"),
    "a\n<!-- bench:table -->\n\nNEW\n\n<!-- /bench:table -->\nb\n",
  );
  assert.throws(() => replaceTable("no markers", "NEW"), /bench:table/);
});
