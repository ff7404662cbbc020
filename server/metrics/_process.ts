/**
 * prom-client's default process metrics, created once per process and registered into every
 * server registry.
 *
 * They describe the process, not one server: creating them per registry would start one
 * event-loop monitor and one GC observer per server (tests start many servers in one process)
 * that are never stopped. So they are created lazily, once, in a private registry, and each server
 * registry registers the same metric objects.
 *
 * What works under Deno 2.9.6 (checked by `server_metrics_test.ts`): `process_cpu_*_seconds_total`,
 * `process_start_time_seconds`, `process_resident_memory_bytes`, `process_virtual_memory_bytes`,
 * `process_heap_bytes`, `process_open_fds`, `process_max_fds`, `nodejs_heap_size_*_bytes`,
 * `nodejs_external_memory_bytes`, `nodejs_heap_space_size_*_bytes`, `nodejs_active_resources`, `nodejs_eventloop_lag_seconds`
 * (a `setImmediate` round trip measured at each scrape and reported at the next) and
 * `nodejs_version_info` (Deno's Node compatibility version).
 *
 * Left out because they report nothing true under Deno:
 * - `nodejs_eventloop_lag_{min,max,mean,stddev,p50,p90,p99}_seconds`: Deno's
 *   `perf_hooks.monitorEventLoopDelay` keeps sampling while JavaScript blocks the thread (a 300 ms
 *   busy loop showed max ≈ 0.03 ms);
 * - `nodejs_gc_duration_seconds`: Deno emits no `gc` performance entries, the histogram stays empty;
 * - `nodejs_active_handles*`, `nodejs_active_requests*`: always 0 (no libuv handles in Deno);
 * - `nodejs_active_resources_total`: a gauge named like a counter, which `promtool check metrics`
 *   rejects; `nodejs_active_resources{type}` (kept) carries the same counts.
 *
 * @module
 */
import { collectDefaultMetrics, type Metric, Registry } from "prom-client";

/** Default metrics that do not measure anything under Deno; see the module doc. */
export const UNSUPPORTED_PROCESS_METRICS: readonly string[] = [
  "nodejs_eventloop_lag_min_seconds",
  "nodejs_eventloop_lag_max_seconds",
  "nodejs_eventloop_lag_mean_seconds",
  "nodejs_eventloop_lag_stddev_seconds",
  "nodejs_eventloop_lag_p50_seconds",
  "nodejs_eventloop_lag_p90_seconds",
  "nodejs_eventloop_lag_p99_seconds",
  "nodejs_gc_duration_seconds",
  "nodejs_active_handles",
  "nodejs_active_handles_total",
  "nodejs_active_requests",
  "nodejs_active_requests_total",
  "nodejs_active_resources_total",
];

let shared: Metric[] | undefined;

/**
 * Registers the process-wide default metrics into `registry`.
 * @param registry A server's (or client's) registry.
 */
export function registerProcessMetrics(registry: Registry): void {
  if (shared === undefined) {
    const own = new Registry();
    collectDefaultMetrics({ register: own });
    for (const name of UNSUPPORTED_PROCESS_METRICS) own.removeSingleMetric(name);
    shared = own.getMetricsAsArray() as unknown as Metric[];
  }
  for (const metric of shared) registry.registerMetric(metric);
}
