/**
 * The README's metric tables (`deno task docs`), generated from the registries a real server and
 * client build, so they list exactly what `/metrics` serves: name, type, labels, help text,
 * prom-client's process metrics included.
 *
 * @module
 */
import type { Registry } from "prom-client";
import { createServerMetrics, SERVER_METRICS } from "../server/mod.ts";
import { createClientMetrics } from "../client/mod.ts";

/** Metric tables in the README: the marker `<!-- metrics:NAME -->` and how to build each. */
export const METRIC_TABLES: Readonly<Record<string, () => Promise<string>>> = {
  server: () => registryTable(createServerMetrics().registry, perChannelNote),
  client: () => registryTable(createClientMetrics().registry),
};

const PER_CHANNEL = new Set<string>(
  Object.values(SERVER_METRICS).filter((m) => "perChannel" in m && m.perChannel).map((m) => m.name),
);

function perChannelNote(name: string): string | undefined {
  return PER_CHANNEL.has(name) ? "`channel` with `--metrics-per-channel`" : undefined;
}

/**
 * Renders every metric of a registry as a Markdown table: `wow_*` first, in definition order.
 * @param registry The registry.
 * @param labelNote An extra note for a metric's labels column.
 * @returns The table (no trailing newline).
 */
export async function registryTable(
  registry: Registry,
  labelNote: (name: string) => string | undefined = () => undefined,
): Promise<string> {
  const rows = ["| metric | type | labels | meaning |", "|---|---|---|---|"];
  // Our own metrics first, in definition order; then prom-client's process metrics.
  const all = await registry.getMetricsAsJSON();
  const ours = (m: { name: string }) => m.name.startsWith("wow_");
  const metrics = [...all.filter(ours), ...all.filter((m) => !ours(m))];
  for (const { name, help, type } of metrics) {
    // prom-client keeps a metric's label names on the object, not in its JSON.
    const metric = registry.getSingleMetric(name) as unknown as { labelNames?: string[] };
    const labels = (metric.labelNames ?? []).map((label) => `\`${label}\``);
    const note = labelNote(name);
    if (note) labels.push(note);
    rows.push(
      `| \`${name}\` | ${type} | ${labels.join(", ")} | ${help.replaceAll("|", "\\|")} |`,
    );
  }
  return rows.join("\n");
}
