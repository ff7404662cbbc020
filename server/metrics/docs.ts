/**
 * The set of series names a registry exposes (for checking dashboards and alert rules against
 * it). The README's metric tables come from the registries too: `cli/metrics_docs.ts`.
 *
 * @module
 */
import type { Registry } from "prom-client";

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
