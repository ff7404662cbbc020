/**
 * Every metric the server exports: name, type, help text, labels and histogram buckets, as data.
 *
 * {@linkcode createServerMetrics} builds its registry from this table, the README's metric table
 * is generated from the registry built from it (`cli/metrics_docs.ts`), and tests check the alert rules and the
 * Grafana dashboard against it, so a renamed metric fails a test instead of a dashboard.
 *
 * Names follow Prometheus conventions: `wow_` prefix, base units (seconds, bytes), `_total` on
 * counters. Label values are closed sets (the types below), so cardinality stays bounded; the one
 * open-ended label, `channel`, exists only with `--metrics-per-channel`.
 *
 * @module
 */

/** A metric's Prometheus type. */
export type MetricType = "counter" | "gauge" | "histogram";

/** One metric's definition. */
export interface MetricDefinition {
  /** Full metric name, e.g. `wow_webhooks_total`. */
  readonly name: string;
  /** Prometheus type. */
  readonly type: MetricType;
  /** Help text (one line, no trailing period). */
  readonly help: string;
  /** Label names, in order. */
  readonly labelNames: readonly string[];
  /** Histogram bucket upper bounds in the metric's unit (histograms only). */
  readonly buckets?: readonly number[];
  /** True when `--metrics-per-channel` adds a `channel` label to this metric. */
  readonly perChannel?: boolean;
}

/** Where a webhook went: through this replica's own tunnel, or relayed to the owning replica. */
export type WebhookRoute = "local" | "relay";

/** Why the server refused a request (the `reason` label of `wow_refusals_total`). */
export type RefusalReason =
  | "auth_token"
  | "channel_secret"
  | "rate_limited"
  | "too_large"
  | "header_limit"
  | "in_flight_limit"
  | "unknown_channel"
  | "draining";

/** Every {@linkcode RefusalReason}, pre-created at 0 so `rate()` and alerts see them from start. */
export const REFUSAL_REASONS: readonly RefusalReason[] = [
  "auth_token",
  "channel_secret",
  "rate_limited",
  "too_large",
  "header_limit",
  "in_flight_limit",
  "unknown_channel",
  "draining",
];

/**
 * Why a tunnel session ended (the `reason` label of `wow_tunnel_disconnects_total`):
 * `client_closed` the client closed or its connection dropped; `protocol_error` it sent something
 * the protocol forbids; `idle_timeout` it stopped answering pings; `ids_exhausted` the session ran
 * out of stream ids and was closed to reconnect; `taken_over` a newer client attached to the
 * channel (here or on another replica); `shutdown` the server is draining.
 */
export type DisconnectReason =
  | "client_closed"
  | "protocol_error"
  | "idle_timeout"
  | "ids_exhausted"
  | "taken_over"
  | "shutdown";

/** Every {@linkcode DisconnectReason}. */
export const DISCONNECT_REASONS: readonly DisconnectReason[] = [
  "client_closed",
  "protocol_error",
  "idle_timeout",
  "ids_exhausted",
  "taken_over",
  "shutdown",
];

/** A channel's state (the `state` label of `wow_channels`); see `server/channels.ts`. */
export type ChannelState = "attached" | "detached" | "issued";

/** Every {@linkcode ChannelState}. */
export const CHANNEL_STATES: readonly ChannelState[] = ["attached", "detached", "issued"];

/** A cluster member's state as this replica sees it (`cluster/types.ts` `MemberState`). */
export type ClusterMemberState = "alive" | "suspect" | "dead" | "left";

/** Every {@linkcode ClusterMemberState}. */
export const CLUSTER_MEMBER_STATES: readonly ClusterMemberState[] = [
  "alive",
  "suspect",
  "dead",
  "left",
];

/** Direction of gossip traffic. */
export type GossipDirection = "in" | "out";

/** Why a queued webhook was dropped: one of the retention bounds of the queue (issue 10). */
export type QueueDropReason = "max_age" | "max_bytes" | "max_count";

/** Every {@linkcode QueueDropReason}. */
export const QUEUE_DROP_REASONS: readonly QueueDropReason[] = ["max_age", "max_bytes", "max_count"];

/**
 * Buckets for what a webhook sender waits, in seconds: from a sub-millisecond local answer to the
 * 30 s most providers wait before they give up (GitHub 10 s, Stripe 20 s, Shopify 5 s).
 */
export const WEBHOOK_DURATION_BUCKETS: readonly number[] = [
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
];

/**
 * Buckets for the server's own time on a tunnelled webhook, in seconds (`wow_tunnel_added_seconds`):
 * tens of microseconds on an idle replica, milliseconds when its event loop is busy.
 *
 * Protocol v1's response head carries no app time, so the server cannot tell the link to the
 * client and the client's work apart from the app's answer; it measures the part it can see.
 */
export const TUNNEL_ADDED_BUCKETS: readonly number[] = [
  0.0001,
  0.00025,
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
];

/** Buckets for a `/traefik-config` gather (asks every replica for its channels), in seconds. */
export const GATHER_DURATION_BUCKETS: readonly number[] = [
  0.001,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
];

/** The server's metrics (process metrics come from prom-client, see `_process.ts`). */
export const SERVER_METRICS = {
  channels: {
    name: "wow_channels",
    type: "gauge",
    help:
      "Channels on this replica by state (issued: no client yet; attached; detached: client left)",
    labelNames: ["state"],
  },
  tunnelSessions: {
    name: "wow_tunnel_sessions_total",
    type: "counter",
    help: "Tunnel sessions (client WebSockets) accepted",
    labelNames: [],
  },
  tunnelDisconnects: {
    name: "wow_tunnel_disconnects_total",
    type: "counter",
    help: "Tunnel sessions ended, by reason",
    labelNames: ["reason"],
  },
  webhooks: {
    name: "wow_webhooks_total",
    type: "counter",
    help:
      "Webhooks answered, by route (local tunnel or relay to the owning replica) and status code",
    labelNames: ["route", "code"],
    perChannel: true,
  },
  webhookDuration: {
    name: "wow_webhook_duration_seconds",
    type: "histogram",
    help: "Time from a webhook's arrival to the end of its answer, as the sender sees it",
    labelNames: ["route"],
    buckets: WEBHOOK_DURATION_BUCKETS,
  },
  tunnelAdded: {
    name: "wow_tunnel_added_seconds",
    type: "histogram",
    help:
      "Server time of a webhook answered through this replica's tunnel, beyond the wait for the client: arrival to request head queued, plus response head to response ready",
    labelNames: [],
    buckets: TUNNEL_ADDED_BUCKETS,
  },
  requestBytes: {
    name: "wow_webhook_request_bytes_total",
    type: "counter",
    help: "Webhook request body bytes received from senders",
    labelNames: ["route"],
    perChannel: true,
  },
  responseBytes: {
    name: "wow_webhook_response_bytes_total",
    type: "counter",
    help: "Webhook response body bytes sent back to senders",
    labelNames: ["route"],
    perChannel: true,
  },
  inFlight: {
    name: "wow_in_flight",
    type: "gauge",
    help: "Webhooks being delivered right now",
    labelNames: [],
  },
  refusals: {
    name: "wow_refusals_total",
    type: "counter",
    help: "Requests refused before delivery, by reason",
    labelNames: ["reason"],
  },
  clusterMembers: {
    name: "wow_cluster_members",
    type: "gauge",
    help: "Cluster members by state, as this replica sees them (itself included)",
    labelNames: ["state"],
  },
  clusterProbes: {
    name: "wow_cluster_probes_total",
    type: "counter",
    help: "Failure-detector probes sent, by result (ok: acknowledged directly or indirectly)",
    labelNames: ["result"],
  },
  clusterSuspicions: {
    name: "wow_cluster_suspicions_total",
    type: "counter",
    help: "Members this replica marked suspect",
    labelNames: [],
  },
  clusterRefutations: {
    name: "wow_cluster_refutations_total",
    type: "counter",
    help: "Suspicions of this replica that it refuted",
    labelNames: [],
  },
  clusterDeadVerdicts: {
    name: "wow_cluster_dead_verdicts_total",
    type: "counter",
    help: "Members declared dead by this replica",
    labelNames: [],
  },
  gossipMessages: {
    name: "wow_cluster_gossip_messages_total",
    type: "counter",
    help: "Gossip messages (UDP packets and TCP push-pull streams), by direction",
    labelNames: ["direction"],
  },
  gossipBytes: {
    name: "wow_cluster_gossip_bytes_total",
    type: "counter",
    help: "Gossip bytes, by direction",
    labelNames: ["direction"],
  },
  badPackets: {
    name: "wow_cluster_bad_packets_total",
    type: "counter",
    help: "Gossip packets dropped because they did not decode, authenticate or carry our label",
    labelNames: [],
  },
  relays: {
    name: "wow_cluster_relays_total",
    type: "counter",
    help: "Webhooks relayed to the replica that holds their channel",
    labelNames: [],
  },
  relaysReceived: {
    name: "wow_cluster_relays_received_total",
    type: "counter",
    help: "Webhooks other replicas relayed to this one and it delivered through its tunnel",
    labelNames: [],
  },
  relayFailures: {
    name: "wow_cluster_relay_failures_total",
    type: "counter",
    help: "Relays that failed before the owning replica answered",
    labelNames: [],
  },
  traefikGathers: {
    name: "wow_traefik_config_gathers_total",
    type: "counter",
    help: "/traefik-config answers built, by result (ok, or not_synced: 503 before the first sync)",
    labelNames: ["result"],
  },
  traefikGatherDuration: {
    name: "wow_traefik_config_gather_duration_seconds",
    type: "histogram",
    help: "Time to build a /traefik-config answer",
    labelNames: [],
    buckets: GATHER_DURATION_BUCKETS,
  },
  queueDepth: {
    name: "wow_queue_depth",
    type: "gauge",
    help: "Webhooks queued for absent clients, all channels",
    labelNames: [],
  },
  queueOldestAge: {
    name: "wow_queue_oldest_age_seconds",
    type: "gauge",
    help: "Age of the oldest queued webhook (0 when the queue is empty)",
    labelNames: [],
  },
  queueStoredBytes: {
    name: "wow_queue_stored_bytes",
    type: "gauge",
    help: "Bytes held by the queue store",
    labelNames: [],
  },
  queueEnqueued: {
    name: "wow_queue_enqueued_total",
    type: "counter",
    help: "Webhooks queued",
    labelNames: [],
  },
  queueDelivered: {
    name: "wow_queue_delivered_total",
    type: "counter",
    help: "Queued webhooks delivered and acknowledged by the client",
    labelNames: [],
  },
  queueRetried: {
    name: "wow_queue_retried_total",
    type: "counter",
    help: "Delivery attempts of queued webhooks after the first",
    labelNames: [],
  },
  queueDropped: {
    name: "wow_queue_dropped_total",
    type: "counter",
    help: "Queued webhooks dropped by a retention bound, by reason",
    labelNames: ["reason"],
  },
  queueStoreErrors: {
    name: "wow_queue_store_errors_total",
    type: "counter",
    help: "Queue store operations that failed",
    labelNames: [],
  },
} as const satisfies Record<string, MetricDefinition>;
