/**
 * The alert rules in `deploy/prometheus/`: `promtool check rules` accepts them, `promtool test
 * rules` runs their unit tests (alerts_test.yml), and every `wow_*` series they name is a metric
 * the server defines (server/metrics/definitions.ts), so no rule watches a series that never exists.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { REPO_ROOT } from "../deploy/compile.ts";
import { SERVER_METRICS } from "../server/metrics/definitions.ts";

const PROMETHEUS_DIR = join(REPO_ROOT, "deploy", "prometheus");
const ALERTS = join(PROMETHEUS_DIR, "alerts.yml");

async function promtool(...args: string[]): Promise<{ code: number; text: string }> {
  const out = await new Deno.Command("promtool", { args, cwd: PROMETHEUS_DIR }).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { code: out.code, text: decode(out.stdout) + decode(out.stderr) };
}

/** The metric family a series name belongs to (histogram series carry a suffix). */
function familyOf(series: string): string {
  return series.replace(/_(bucket|sum|count)$/, "");
}

Deno.test("promtool check rules accepts deploy/prometheus/alerts.yml", async () => {
  const { code, text } = await promtool("check", "rules", ALERTS);
  assert.equal(code, 0, text);
  assert.match(text, /SUCCESS: \d+ rules found/);
});

Deno.test("promtool test rules: the alert unit tests in alerts_test.yml pass", async () => {
  const { code, text } = await promtool("test", "rules", "alerts_test.yml");
  assert.equal(code, 0, text);
  assert.match(text, /SUCCESS/);
});

Deno.test("every wow_* series the alert rules name is a metric the server defines", async () => {
  const defined = new Set<string>(Object.values(SERVER_METRICS).map((metric) => metric.name));
  const rules = await Deno.readTextFile(ALERTS);
  const named = new Set([...rules.matchAll(/\bwow_[a-z0-9_]+/g)].map((m) => familyOf(m[0])));
  assert.ok(named.size >= 4, `expected the rules to name wow_* series, found ${[...named]}`);
  const unknown = [...named].filter((name) => !defined.has(name));
  assert.deepEqual(unknown, [], `alerts.yml names series the server does not define`);
});
