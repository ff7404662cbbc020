/**
 * The server's Prometheus metrics: every definition in one table, one prom-client `Registry` per
 * server (no module-global registry), typed one-line recording methods, scrape-time gauges fed by
 * provider callbacks, and prom-client's default process metrics where Deno supports them.
 *
 * @example
 * ```ts
 * import { createServerMetrics } from "./mod.ts";
 * const metrics = createServerMetrics({ perChannel: false });
 * metrics.provide({ channels: () => ({ attached: 3, detached: 1, issued: 0 }) });
 * metrics.tunnelOpened();
 * metrics.webhookStarted();
 * metrics.webhookDone("local", 200, 0.004, 1024, 2);
 * metrics.tunnelAdded(0.0004);
 * metrics.refused("unknown_channel");
 * const response = await metrics.response(); // GET /metrics
 * ```
 *
 * @module
 */
export { createServerMetrics, ServerMetrics } from "./server_metrics.ts";
export { clusterObserver } from "./cluster_observer.ts";
export type {
  GatherResult,
  MetricsProviders,
  QueueSnapshot,
  ServerMetricsOptions,
} from "./server_metrics.ts";
export {
  CHANNEL_STATES,
  CLUSTER_MEMBER_STATES,
  DISCONNECT_REASONS,
  GATHER_DURATION_BUCKETS,
  QUEUE_DROP_REASONS,
  REFUSAL_REASONS,
  SERVER_METRICS,
  TUNNEL_ADDED_BUCKETS,
  WEBHOOK_DURATION_BUCKETS,
} from "./definitions.ts";
export type {
  ChannelState,
  ClusterMemberState,
  DisconnectReason,
  GossipDirection,
  MetricDefinition,
  MetricType,
  QueueDropReason,
  RefusalReason,
  WebhookRoute,
} from "./definitions.ts";
export { exposedNames } from "./docs.ts";
export { UNSUPPORTED_PROCESS_METRICS } from "./_process.ts";
