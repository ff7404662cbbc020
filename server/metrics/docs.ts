/**
 * The metric table for the README, and the set of series names a registry exposes (for checking
 * dashboards and alert rules against it).
 *
 * @module
 */
import type { Registry } from "prom-client";
import { type MetricDefinition, SERVER_METRICS } from "./definitions.ts";

/**
 * Renders metric definitions as a Markdown table: name, type, labels, help.
 * @param definitions The metrics to list. @default every server metric
 * @param options `perChannel: true` lists the `channel` label where `--metrics-per-channel` adds it.
 * @returns The table, one line per metric, ending with a newline.
 * @example
 * ```ts
 * import { metricsMarkdownTable } from "./docs.ts";
 * console.log(metricsMarkdownTable());
 * ```
 */
export function metricsMarkdownTable(
  definitions: Iterable<MetricDefinition> = Object.values(SERVER_METRICS),
  options: { perChannel?: boolean } = {},
): string {
  const lines = ["| Metric | Type | Labels | Meaning |", "|---|---|---|---|"];
  for (const d of definitions) {
    const labels = [...d.labelNames];
    if (d.perChannel) labels.push(options.perChannel ? "channel" : "(channel)");
    const labelText = labels.length ? labels.map((l) => `\`${l}\``).join(", ") : "";
    lines.push(`| \`${d.name}\` | ${d.type} | ${labelText} | ${d.help.replaceAll("|", "\\|")} |`);
  }
  return lines.join("\n") + "\n";
}

/**
 * The series names a registry can expose: each metric's name, plus `_bucket`, `_sum` and `_count`
 * for histograms (and summaries, plus no suffix for their quantiles).
 * @param registry The registry.
 * @returns The names.
 */
export async function exposedNames(registry: Registry): Promise<Set<string>> {
  const names = new Set<string>();
  for (const metric of await registry.getMetricsAsJSON()) {
    names.add(metric.name);
    const type = String(metric.type);
    if (type === "histogram") {
      for (const suffix of ["_bucket", "_sum", "_count"]) names.add(metric.name + suffix);
    } else if (type === "summary") {
      for (const suffix of ["_sum", "_count"]) names.add(metric.name + suffix);
    }
  }
  return names;
}
