/**
 * One server's metrics: a prom-client `Registry` of its own, and small typed recording methods so
 * each call site is one line.
 *
 * @module
 */
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import {
  CHANNEL_STATES,
  type ChannelState,
  CLUSTER_MEMBER_STATES,
  type ClusterMemberState,
  DISCONNECT_REASONS,
  type DisconnectReason,
  type GossipDirection,
  type MetricDefinition,
  QUEUE_DROP_REASONS,
  type QueueDropReason,
  REFUSAL_REASONS,
  type RefusalReason,
  SERVER_METRICS,
  type WebhookRoute,
} from "./definitions.ts";
import { registerProcessMetrics } from "./_process.ts";
import { HistogramSeries, ValueSeries } from "./_series.ts";

/** What the queue reports at scrape time. */
export interface QueueSnapshot {
  /** Webhooks queued, all channels. */
  depth: number;
  /** Age of the oldest queued webhook in seconds, 0 when empty. */
  oldestAgeSeconds: number;
  /** Bytes held by the store. */
  storedBytes: number;
}

/**
 * Callbacks read at scrape time for the gauges that describe current state. Each may be set at
 * creation or later with {@linkcode ServerMetrics.provide}; an unset one reports 0.
 */
export interface MetricsProviders {
  /** Channels by state. */
  channels?: () => Partial<Record<ChannelState, number>>;
  /** Cluster members by state (this replica included). */
  clusterMembers?: () => Partial<Record<ClusterMemberState, number>>;
  /** Queue depth, oldest age and stored bytes. */
  queue?: () => QueueSnapshot;
}

/** Options for {@linkcode createServerMetrics}. */
export interface ServerMetricsOptions {
  /**
   * Add a `channel` label to the webhook counters (`--metrics-per-channel`); one series per
   * channel, so only for small servers.
   * @default false
   */
  perChannel?: boolean;
  /**
   * Register prom-client's default process metrics (shared by every registry of the process).
   * @default true
   */
  processMetrics?: boolean;
  /** Scrape-time callbacks; see {@linkcode MetricsProviders}. @default {} */
  providers?: MetricsProviders;
}

/** Result label of `wow_traefik_config_gathers_total`. */
export type GatherResult = "ok" | "not_synced";

type Inc = { inc(value?: number): void };
type Observe = { observe(value: number): void };

/**
 * A server's metrics; create with {@linkcode createServerMetrics}. Every recording method is
 * cheap (label children are cached) and never throws for valid arguments.
 */
export class ServerMetrics {
  /** The registry holding every metric of this server (and the shared process metrics). */
  readonly registry: Registry;
  /** Whether the webhook counters carry a `channel` label. */
  readonly perChannel: boolean;
  #providers: MetricsProviders;
  #children = new Map<string, Inc>();
  /** Without `perChannel`: the webhook counter series by route and code, made when first used. */
  #webhookSeries: Record<WebhookRoute, Map<number, ValueSeries>> = {
    local: new Map(),
    relay: new Map(),
  };
  #byteSeries: Record<"request" | "response", Record<WebhookRoute, ValueSeries>>;
  #channelKeys = new Map<string, string[]>();
  #webhooks: Counter<string>;
  #requestBytes: Counter<string>;
  #responseBytes: Counter<string>;
  #duration: Record<WebhookRoute, Observe>;
  #tunnelAdded: HistogramSeries;
  #inFlight: ValueSeries;
  #sessions: Counter<string>;
  #disconnects: Record<string, Inc> = {};
  #refusals: Record<string, Inc> = {};
  #probes: Record<"ok" | "failed", Inc>;
  #suspicions: Counter<string>;
  #refutations: Counter<string>;
  #deadVerdicts: Counter<string>;
  #gossipMessages: Record<GossipDirection, Inc>;
  #gossipBytes: Record<GossipDirection, Inc>;
  #badPackets: Counter<string>;
  #relays: ValueSeries;
  #relaysReceived: Counter<string>;
  #relayFailures: Counter<string>;
  #gathers: Record<GatherResult, Inc>;
  #gatherDuration: Histogram<string>;
  #queueEnqueued: Counter<string>;
  #queueDelivered: Counter<string>;
  #queueRetried: Counter<string>;
  #queueDropped: Record<string, Inc> = {};
  #queueStoreErrors: Counter<string>;

  /**
   * Creates the registry and every metric; prefer {@linkcode createServerMetrics}.
   * @param options See {@linkcode ServerMetricsOptions}.
   */
  constructor(options: ServerMetricsOptions = {}) {
    this.registry = new Registry();
    this.perChannel = options.perChannel ?? false;
    this.#providers = { ...options.providers };
    if (options.processMetrics ?? true) registerProcessMetrics(this.registry);
    const m = SERVER_METRICS;
    const providers = () => this.#providers;

    new Gauge({
      ...this.#config(m.channels),
      collect() {
        const counts = providers().channels?.() ?? {};
        for (const state of CHANNEL_STATES) this.set({ state }, counts[state] ?? 0);
      },
    });
    this.#sessions = new Counter(this.#config(m.tunnelSessions));
    const disconnects = new Counter(this.#config(m.tunnelDisconnects));
    for (const reason of DISCONNECT_REASONS) {
      this.#disconnects[reason] = disconnects.labels(reason);
      disconnects.labels(reason).inc(0);
    }
    this.#webhooks = new Counter(this.#config(m.webhooks));
    const duration = new Histogram(this.#config(m.webhookDuration));
    this.#duration = {
      local: new HistogramSeries(duration, { route: "local" }),
      relay: new HistogramSeries(duration, { route: "relay" }),
    };
    this.#tunnelAdded = new HistogramSeries(new Histogram(this.#config(m.tunnelAdded)), {});
    this.#requestBytes = new Counter(this.#config(m.requestBytes));
    this.#responseBytes = new Counter(this.#config(m.responseBytes));
    const bytes = (metric: Counter<string>) => ({
      local: new ValueSeries(metric, { route: "local" }),
      relay: new ValueSeries(metric, { route: "relay" }),
    });
    this.#byteSeries = {
      request: bytes(this.#requestBytes),
      response: bytes(this.#responseBytes),
    };
    this.#inFlight = new ValueSeries(new Gauge(this.#config(m.inFlight)), {});
    const refusals = new Counter(this.#config(m.refusals));
    for (const reason of REFUSAL_REASONS) {
      this.#refusals[reason] = refusals.labels(reason);
      refusals.labels(reason).inc(0);
    }

    new Gauge({
      ...this.#config(m.clusterMembers),
      collect() {
        const counts = providers().clusterMembers?.() ?? {};
        for (const state of CLUSTER_MEMBER_STATES) this.set({ state }, counts[state] ?? 0);
      },
    });
    const probes = new Counter(this.#config(m.clusterProbes));
    this.#probes = { ok: probes.labels("ok"), failed: probes.labels("failed") };
    this.#probes.ok.inc(0);
    this.#probes.failed.inc(0);
    this.#suspicions = new Counter(this.#config(m.clusterSuspicions));
    this.#refutations = new Counter(this.#config(m.clusterRefutations));
    this.#deadVerdicts = new Counter(this.#config(m.clusterDeadVerdicts));
    const gossipMessages = new Counter(this.#config(m.gossipMessages));
    const gossipBytes = new Counter(this.#config(m.gossipBytes));
    this.#gossipMessages = { in: gossipMessages.labels("in"), out: gossipMessages.labels("out") };
    this.#gossipBytes = { in: gossipBytes.labels("in"), out: gossipBytes.labels("out") };
    for (const child of [this.#gossipMessages, this.#gossipBytes]) {
      child.in.inc(0);
      child.out.inc(0);
    }
    this.#badPackets = new Counter(this.#config(m.badPackets));
    this.#relays = new ValueSeries(new Counter(this.#config(m.relays)), {});
    this.#relaysReceived = new Counter(this.#config(m.relaysReceived));
    this.#relayFailures = new Counter(this.#config(m.relayFailures));
    const gathers = new Counter(this.#config(m.traefikGathers));
    this.#gathers = { ok: gathers.labels("ok"), not_synced: gathers.labels("not_synced") };
    this.#gathers.ok.inc(0);
    this.#gathers.not_synced.inc(0);
    this.#gatherDuration = new Histogram(this.#config(m.traefikGatherDuration));

    new Gauge({
      ...this.#config(m.queueDepth),
      collect() {
        this.set(providers().queue?.().depth ?? 0);
      },
    });
    new Gauge({
      ...this.#config(m.queueOldestAge),
      collect() {
        this.set(providers().queue?.().oldestAgeSeconds ?? 0);
      },
    });
    new Gauge({
      ...this.#config(m.queueStoredBytes),
      collect() {
        this.set(providers().queue?.().storedBytes ?? 0);
      },
    });
    this.#queueEnqueued = new Counter(this.#config(m.queueEnqueued));
    this.#queueDelivered = new Counter(this.#config(m.queueDelivered));
    this.#queueRetried = new Counter(this.#config(m.queueRetried));
    const dropped = new Counter(this.#config(m.queueDropped));
    for (const reason of QUEUE_DROP_REASONS) {
      this.#queueDropped[reason] = dropped.labels(reason);
      dropped.labels(reason).inc(0);
    }
    this.#queueStoreErrors = new Counter(this.#config(m.queueStoreErrors));
  }

  /** The prom-client configuration for one definition, registered in this registry only. */
  #config(definition: MetricDefinition) {
    const labelNames = definition.perChannel && this.perChannel
      ? [...definition.labelNames, "channel"]
      : [...definition.labelNames];
    return {
      name: definition.name,
      help: definition.help,
      labelNames,
      registers: [this.registry],
      ...(definition.buckets ? { buckets: [...definition.buckets] } : {}),
    };
  }

  /**
   * Sets (or replaces) scrape-time callbacks.
   * @param providers The callbacks to set; the others stay.
   */
  provide(providers: MetricsProviders): void {
    Object.assign(this.#providers, providers);
  }

  /** A tunnel session was accepted: `wow_tunnel_sessions_total`. */
  tunnelOpened(): void {
    this.#sessions.inc();
  }

  /**
   * A tunnel session ended: `wow_tunnel_disconnects_total{reason}`.
   * @param reason Why; see {@linkcode DisconnectReason}.
   */
  tunnelClosed(reason: DisconnectReason): void {
    this.#disconnects[reason].inc();
  }

  /** A webhook's delivery started: `wow_in_flight` + 1 (match with one `webhookDone`). */
  webhookStarted(): void {
    this.#inFlight.inc();
  }

  /**
   * A webhook was answered (locally or through a relay): `wow_in_flight` − 1,
   * `wow_webhooks_total{route,code}`, `wow_webhook_duration_seconds{route}`,
   * `wow_webhook_request_bytes_total{route}`, `wow_webhook_response_bytes_total{route}`, and for
   * `route` `"relay"` also `wow_cluster_relays_total`. Count each webhook once, on the replica the
   * sender reached; the owning replica of a relayed webhook calls {@linkcode relayReceived}.
   * @param route `"local"` (own tunnel) or `"relay"` (forwarded to the owning replica).
   * @param code The status code the sender got.
   * @param seconds From arrival to the end of the answer.
   * @param requestBytes Request body bytes received.
   * @param responseBytes Response body bytes sent.
   * @param channel The channel id; a label only with `perChannel`.
   */
  webhookDone(
    route: WebhookRoute,
    code: number,
    seconds: number,
    requestBytes: number,
    responseBytes: number,
    channel?: string,
  ): void {
    this.#inFlight.dec();
    this.#duration[route].observe(seconds);
    if (route === "relay") this.#relays.inc();
    if (this.perChannel) {
      const ch = channel ?? "";
      this.#child(this.#webhooks, route, String(code), ch).inc();
      if (requestBytes > 0) this.#child(this.#requestBytes, route, undefined, ch).inc(requestBytes);
      if (responseBytes > 0) {
        this.#child(this.#responseBytes, route, undefined, ch).inc(responseBytes);
      }
      return;
    }
    const byCode = this.#webhookSeries[route];
    let series = byCode.get(code);
    if (series === undefined) {
      series = new ValueSeries(this.#webhooks, { route, code: String(code) });
      byCode.set(code, series);
    }
    series.inc();
    if (requestBytes > 0) this.#byteSeries.request[route].inc(requestBytes);
    if (responseBytes > 0) this.#byteSeries.response[route].inc(responseBytes);
  }

  /**
   * A webhook another replica relayed here was answered: `wow_in_flight` − 1 only. The replica
   * the sender reached counts it (`wow_webhooks_total{route="relay"}`), so sums over replicas
   * count every webhook once; this one counted `wow_cluster_relays_received_total`.
   */
  relayedWebhookDone(): void {
    this.#inFlight.dec();
  }

  /**
   * The server's own time on a webhook its tunnel's client answered: `wow_tunnel_added_seconds`.
   * @param seconds From arrival until the request head was queued on the tunnel, plus from the
   * client's response head until the response was ready (`DeliveryOutcome.addedSeconds`).
   */
  tunnelAdded(seconds: number): void {
    this.#tunnelAdded.observe(Math.max(0, seconds));
  }

  /**
   * A request was refused before delivery: `wow_refusals_total{reason}`.
   * @param reason See {@linkcode RefusalReason}.
   */
  refused(reason: RefusalReason): void {
    this.#refusals[reason].inc();
  }

  /**
   * A failure-detector probe finished: `wow_cluster_probes_total{result}`.
   * @param ok True when the member acknowledged (directly or indirectly).
   */
  probed(ok: boolean): void {
    this.#probes[ok ? "ok" : "failed"].inc();
  }

  /** This replica marked a member suspect: `wow_cluster_suspicions_total`. */
  suspected(): void {
    this.#suspicions.inc();
  }

  /** This replica refuted a suspicion of itself: `wow_cluster_refutations_total`. */
  refuted(): void {
    this.#refutations.inc();
  }

  /** This replica declared a member dead: `wow_cluster_dead_verdicts_total`. */
  declaredDead(): void {
    this.#deadVerdicts.inc();
  }

  /**
   * Gossip traffic: `wow_cluster_gossip_messages_total{direction}` + 1 and
   * `wow_cluster_gossip_bytes_total{direction}` + `bytes`.
   * @param direction `"in"` or `"out"`.
   * @param bytes Size of the packet or stream.
   */
  gossip(direction: GossipDirection, bytes: number): void {
    this.#gossipMessages[direction].inc();
    this.#gossipBytes[direction].inc(bytes);
  }

  /**
   * One gossip message (UDP packet or TCP stream message): `wow_cluster_gossip_messages_total`.
   * @param direction `"in"` or `"out"`.
   */
  gossipMessage(direction: GossipDirection): void {
    this.#gossipMessages[direction].inc();
  }

  /**
   * Gossip bytes: `wow_cluster_gossip_bytes_total{direction}` + `bytes`.
   * @param direction `"in"` or `"out"`.
   * @param bytes How many.
   */
  gossipBytes(direction: GossipDirection, bytes: number): void {
    this.#gossipBytes[direction].inc(bytes);
  }

  /** A gossip packet was dropped as undecodable: `wow_cluster_bad_packets_total`. */
  badPacket(): void {
    this.#badPackets.inc();
  }

  /** A relay failed before the owner answered: `wow_cluster_relay_failures_total`. */
  relayFailed(): void {
    this.#relayFailures.inc();
  }

  /** This replica delivered a webhook relayed to it: `wow_cluster_relays_received_total`. */
  relayReceived(): void {
    this.#relaysReceived.inc();
  }

  /**
   * A `/traefik-config` answer was built: `wow_traefik_config_gathers_total{result}` and
   * `wow_traefik_config_gather_duration_seconds` (the latter only for `"ok"`).
   * @param result `"ok"` or `"not_synced"` (503 before the first cluster sync).
   * @param seconds Time to gather and render.
   */
  traefikGathered(result: GatherResult, seconds: number): void {
    this.#gathers[result].inc();
    if (result === "ok") this.#gatherDuration.observe(seconds);
  }

  /**
   * Webhooks queued: `wow_queue_enqueued_total`.
   * @param count How many. @default 1
   */
  queueEnqueued(count = 1): void {
    this.#queueEnqueued.inc(count);
  }

  /**
   * Queued webhooks acknowledged by the client: `wow_queue_delivered_total`.
   * @param count How many. @default 1
   */
  queueDelivered(count = 1): void {
    this.#queueDelivered.inc(count);
  }

  /**
   * Redeliveries of queued webhooks: `wow_queue_retried_total`.
   * @param count How many. @default 1
   */
  queueRetried(count = 1): void {
    this.#queueRetried.inc(count);
  }

  /**
   * Queued webhooks dropped by a retention bound: `wow_queue_dropped_total{reason}`.
   * @param reason Which bound.
   * @param count How many. @default 1
   */
  queueDropped(reason: QueueDropReason, count = 1): void {
    this.#queueDropped[reason].inc(count);
  }

  /** A queue store operation failed: `wow_queue_store_errors_total`. */
  queueStoreError(): void {
    this.#queueStoreErrors.inc();
  }

  /**
   * Removes a channel's series (only with `perChannel`); call when a channel is swept so series
   * do not pile up.
   * @param channel The channel id.
   */
  forgetChannel(channel: string): void {
    const keys = this.#channelKeys.get(channel);
    if (keys === undefined) return;
    this.#channelKeys.delete(channel);
    for (const key of keys) {
      this.#children.delete(key);
      const [name, ...values] = key.split("\0");
      for (const metric of [this.#webhooks, this.#requestBytes, this.#responseBytes]) {
        // deno-lint-ignore no-explicit-any
        if ((metric as any).name === name) metric.remove(...values);
      }
    }
  }

  /** The Prometheus text exposition content type. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /**
   * Renders every metric in the Prometheus text format (runs the scrape-time callbacks).
   * @returns The exposition text.
   */
  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  /**
   * A `GET /metrics` answer (authentication is the route's job).
   * @returns 200 with the exposition text.
   */
  async response(): Promise<Response> {
    const body = await this.registry.metrics();
    return new Response(body, {
      headers: { "content-type": this.registry.contentType, "cache-control": "no-store" },
    });
  }

  #child(metric: Counter<string>, route: string, code?: string, channel?: string): Inc {
    // deno-lint-ignore no-explicit-any
    const name: string = (metric as any).name;
    const values = code === undefined ? [route] : [route, code];
    if (channel !== undefined) values.push(channel);
    const key = name + "\0" + values.join("\0");
    let child = this.#children.get(key);
    if (child === undefined) {
      child = metric.labels(...values);
      this.#children.set(key, child);
      if (channel !== undefined) {
        const keys = this.#channelKeys.get(channel) ?? [];
        keys.push(key);
        this.#channelKeys.set(channel, keys);
      }
    }
    return child;
  }
}

/**
 * Creates one server's metrics, in a registry of its own (no module-global registry: tests start
 * many servers in one process).
 * @param options See {@linkcode ServerMetricsOptions}.
 * @returns The metrics and their recording methods.
 * @example
 * ```ts
 * import { createServerMetrics } from "./mod.ts";
 * const metrics = createServerMetrics({ providers: { channels: () => ({ attached: 1 }) } });
 * metrics.webhookStarted();
 * metrics.webhookDone("local", 200, 0.012, 1024, 2);
 * metrics.refused("rate_limited");
 * const text = await metrics.metrics();
 * ```
 */
export function createServerMetrics(options: ServerMetricsOptions = {}): ServerMetrics {
  return new ServerMetrics(options);
}
