/**
 * `deploy/grafana/dashboard.json`: every PromQL expression in it (panel targets and template
 * variables) names only series that a real server or client exports, checked against real
 * scrapes (the `# TYPE` lines, so a histogram's `_bucket`/`_sum`/`_count` count even before its
 * first sample), and `promtool` parses each expression. A renamed metric fails here, not on an
 * operator's dashboard.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { REPO_ROOT } from "../deploy/compile.ts";
import { startApp, startClientProc, startServerProc } from "./_harness.ts";
import { PROMTOOL, scrape } from "./_metrics.ts";

const DASHBOARD = join(REPO_ROOT, "deploy", "grafana", "dashboard.json");
/** Series Prometheus itself adds to every target (not in any scrape). */
const PROMETHEUS_SERIES = new Set(["up"]);
/** PromQL words that look like names but are keywords. */
const KEYWORDS = new Set([
  "by",
  "without",
  "on",
  "ignoring",
  "group_left",
  "group_right",
  "and",
  "or",
  "unless",
  "offset",
  "bool",
  "inf",
  "nan",
]);

/** Every PromQL expression of the dashboard: panel targets (rows nest panels) and variables. */
function expressionsOf(dashboard: Record<string, unknown>): string[] {
  const found: string[] = [];
  const walk = (value: unknown, key = ""): void => {
    if (Array.isArray(value)) return value.forEach((item) => walk(item, key));
    if (value === null || typeof value !== "object") {
      if (key === "expr" && typeof value === "string") found.push(value);
      return;
    }
    for (const [k, v] of Object.entries(value)) walk(v, k);
  };
  walk(dashboard.panels);
  const variables = (dashboard.templating as { list: { type: string; query: unknown }[] }).list;
  for (const variable of variables) {
    if (variable.type !== "query") continue;
    const query = variable.query as string | { query: string };
    const text = typeof query === "string" ? query : query.query;
    // label_values(series, label): the series is PromQL.
    const series = /^label_values\((.*),\s*\w+\)$/.exec(text)?.[1];
    if (series) found.push(series);
  }
  return found;
}

/**
 * The series names an expression selects: identifiers left once strings, label matchers,
 * grouping clauses, ranges, function calls and keywords are taken out.
 */
function seriesNamesOf(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, " ")
    .replace(/\[[^\]]*\]/g, " ")
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, " ");
  const names: string[] = [];
  for (const match of stripped.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*(\s*\()?/g)) {
    if (match[1] || KEYWORDS.has(match[0].toLowerCase())) continue;
    // A duration suffix or exponent glued to a number (`5m`, `1e3`) is not a name.
    const before = stripped[match.index! - 1];
    if (before !== undefined && /[0-9.$]/.test(before)) continue;
    names.push(match[0]);
  }
  return names;
}

/** Series names a scrape defines: each `# TYPE` family, with the suffixes of its type. */
function definedNames(scrapeText: string): Set<string> {
  const names = new Set<string>();
  for (const [, name, type] of scrapeText.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    names.add(name);
    if (type === "histogram") {
      for (const s of ["_bucket", "_sum", "_count"]) names.add(name + s);
    }
    if (type === "summary") { for (const s of ["_sum", "_count"]) names.add(name + s); }
  }
  return names;
}

Deno.test("seriesNamesOf finds series names, not functions, labels, durations or keywords", () => {
  assert.deepEqual(
    seriesNamesOf(
      'sum by (code) (rate(wow_webhooks_total{job=~"$job", code=~"5.."}[$__rate_interval])) / ' +
        "on (job) group_left () sum(up) > bool 0.5 offset 5m",
    ),
    ["wow_webhooks_total", "up"],
  );
  assert.deepEqual(
    seriesNamesOf("histogram_quantile(0.99, sum by (le) (rate(x_bucket[5m])))"),
    ["x_bucket"],
  );
});

Deno.test("deploy/grafana/dashboard.json names only series a real server or client exports", async () => {
  const dashboard = JSON.parse(await Deno.readTextFile(DASHBOARD));
  assert.equal(typeof dashboard.uid, "string");
  assert.equal(typeof dashboard.title, "string");
  const ids = new Set<number>();
  const walkPanels = (panels: { id: number; panels?: unknown[] }[]) => {
    for (const panel of panels) {
      assert.ok(!ids.has(panel.id), `panel id ${panel.id} is used twice`);
      ids.add(panel.id);
      walkPanels((panel.panels ?? []) as { id: number }[]);
    }
  };
  walkPanels(dashboard.panels);

  await using app = startApp(() => new Response("ok"));
  await using server = await startServerProc(["--log-level", "WARN"]);
  await using client = await startClientProc(server.url, app.url, [
    "--inspect-addr",
    "127.0.0.177:0",
  ]);
  const inspector = (await client.waitFor(/^Inspector: (\S+)$/, { stream: "stdout" }))[1];
  const defined = new Set([
    ...definedNames(await (await scrape(server.url)).text()),
    ...definedNames(await (await scrape(inspector)).text()),
    ...PROMETHEUS_SERIES,
  ]);
  assert.ok(defined.has("wow_webhooks_total") && defined.has("wow_client_deliveries_total"));

  const expressions = expressionsOf(dashboard);
  assert.ok(expressions.length >= 20, `only ${expressions.length} expressions found`);
  const named = new Set<string>();
  for (const expr of expressions) {
    const names = seriesNamesOf(expr);
    assert.ok(names.length > 0, `no series in ${expr}`);
    for (const name of names) named.add(name);
  }
  const unknown = [...named].filter((name) => !defined.has(name)).sort();
  assert.deepEqual(unknown, [], "the dashboard names series nothing exports");
});

Deno.test("promtool parses every PromQL expression of the dashboard", async () => {
  const dashboard = JSON.parse(await Deno.readTextFile(DASHBOARD));
  // Grafana's variables, as Grafana would substitute them.
  const expressions = expressionsOf(dashboard).map((expr) =>
    expr.replaceAll("$__rate_interval", "1m").replaceAll(/\$\w+/g, ".+")
  );
  const dir = await Deno.makeTempDir({ prefix: "wow-dashboard-" });
  try {
    // `promtool check rules` parses each rule's expression: one recording rule per expression.
    const rules = {
      groups: [{
        name: "dashboard",
        rules: expressions.map((expr, i) => ({ record: `dashboard:expr${i}`, expr })),
      }],
    };
    const file = join(dir, "dashboard_rules.yml");
    await Deno.writeTextFile(file, JSON.stringify(rules));
    const out = await new Deno.Command(PROMTOOL, { args: ["check", "rules", file] }).output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, text);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
