/**
 * The client's Prometheus metrics, served on the inspector's port (`GET /metrics`): deliveries by
 * outcome and status, the local app's latency, reconnects, tunnel state and queue drains. One
 * prom-client `Registry` per client (tests start many clients in one process).
 *
 * Process metrics are prom-client's defaults, created once per process and shared by every
 * client registry, minus those that report nothing true under Deno 2.9.6 (see
 * {@linkcode UNSUPPORTED_CLIENT_PROCESS_METRICS}; the server's `server/metrics/_process.ts` has
 * the same list and the measurements behind it: `server/` and `client/` never import each other).
 *
 * @example
 * ```ts
 * import { createClientMetrics } from "./metrics.ts";
 * const metrics = createClientMetrics();
 * metrics.tunnelUp(true);
 * metrics.delivered("answered", 200, 0.004);
 * metrics.delivered("target_unreachable", undefined, 0.001);
 * const response = await metrics.response();
 * ```
 *
 * @module
 */
import {
  collectDefaultMetrics,
  Counter,
  Gauge,
  Histogram,
  type Metric,
  Registry,
} from "prom-client";
import { RESET_CODES, type ResetCode } from "../protocol/mod.ts";

/**
 * How a delivery ended: `answered` (the app answered, whatever its status), `rejected` (the
 * signature check failed in `--verify-mode reject`: 401 without calling the app), or the reset
 * code the client sent instead (`target_unreachable`, `target_timeout`, `target_error`,
 * `cancelled`, …).
 */
export type DeliveryOutcome = "answered" | "rejected" | ResetCode;

/** Every {@linkcode DeliveryOutcome}. */
export const DELIVERY_OUTCOMES: readonly DeliveryOutcome[] = [
  "answered",
  "rejected",
  ...RESET_CODES,
];

/** What {@linkcode ClientMetrics.forwarded} reads of a forwarded delivery (`ForwardResult`). */
export interface ForwardedDelivery {
  /** The status sent back, or the reset code sent instead. */
  status: number | ResetCode;
  /** Seconds until the app's response head; absent when the app was not called or not reached. */
  appSeconds?: number;
}

/** The `code` label of a delivery the app did not answer. */
export const NO_STATUS = "none";

/**
 * Buckets for the local app's answer time, in seconds: from a sub-millisecond local answer to the
 * 30 s most senders wait before they give up.
 */
export const APP_DURATION_BUCKETS: readonly number[] = [
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
  5,
  10,
  30,
];

/** One client metric's definition (name, type, help, labels). */
export interface ClientMetricDefinition {
  /** Full metric name. */
  readonly name: string;
  /** Prometheus type. */
  readonly type: "counter" | "gauge" | "histogram";
  /** Help text. */
  readonly help: string;
  /** Label names. */
  readonly labelNames: readonly string[];
  /** Histogram buckets. */
  readonly buckets?: readonly number[];
}

/** Every metric the client exports (besides process metrics). */
export const CLIENT_METRICS = {
  deliveries: {
    name: "wow_client_deliveries_total",
    type: "counter",
    help:
      `Webhooks replayed against the local app, by outcome and the app's status code ("${NO_STATUS}" when it did not answer)`,
    labelNames: ["outcome", "code"],
  },
  appDuration: {
    name: "wow_client_app_duration_seconds",
    type: "histogram",
    help: "Time from handing a webhook to the local app until its response head arrived",
    labelNames: [],
    buckets: APP_DURATION_BUCKETS,
  },
  reconnects: {
    name: "wow_client_reconnects_total",
    type: "counter",
    help: "Tunnel connections opened after the first one",
    labelNames: [],
  },
  tunnelUp: {
    name: "wow_client_tunnel_up",
    type: "gauge",
    help: "1 while the tunnel to the server is open, 0 otherwise",
    labelNames: [],
  },
  queueDrained: {
    name: "wow_client_queue_drained_total",
    type: "counter",
    help: "Webhooks the server had queued while the client was away, delivered after it came back",
    labelNames: [],
  },
  queueDropped: {
    name: "wow_client_queue_dropped_total",
    type: "counter",
    help: "Queued webhooks the server reported dropped by its retention bounds",
    labelNames: [],
  },
} as const satisfies Record<string, ClientMetricDefinition>;

/** prom-client default metrics that report nothing true under Deno 2.9.6 (left out). */
export const UNSUPPORTED_CLIENT_PROCESS_METRICS: readonly string[] = [
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

let sharedProcessMetrics: Metric[] | undefined;

/** Registers the process-wide default metrics (created on first use) into `registry`. */
function registerProcessMetrics(registry: Registry): void {
  if (sharedProcessMetrics === undefined) {
    const own = new Registry();
    collectDefaultMetrics({ register: own });
    for (const name of UNSUPPORTED_CLIENT_PROCESS_METRICS) own.removeSingleMetric(name);
    sharedProcessMetrics = own.getMetricsAsArray() as unknown as Metric[];
  }
  for (const metric of sharedProcessMetrics) registry.registerMetric(metric);
}

/** Options for {@linkcode createClientMetrics}. */
export interface ClientMetricsOptions {
  /** Register prom-client's default process metrics. @default true */
  processMetrics?: boolean;
}

type Inc = { inc(value?: number): void };

/** A client's metrics; create with {@linkcode createClientMetrics}. */
export class ClientMetrics {
  /** The registry holding every metric of this client. */
  readonly registry: Registry;
  #deliveries: Counter<string>;
  #children = new Map<string, Inc>();
  #appDuration: Histogram<string>;
  #reconnects: Counter<string>;
  #tunnelUp: Gauge<string>;
  #queueDrained: Counter<string>;
  #queueDropped: Counter<string>;

  /**
   * Creates the registry and every metric; prefer {@linkcode createClientMetrics}.
   * @param options See {@linkcode ClientMetricsOptions}.
   */
  constructor(options: ClientMetricsOptions = {}) {
    this.registry = new Registry();
    if (options.processMetrics ?? true) registerProcessMetrics(this.registry);
    const config = (d: ClientMetricDefinition) => ({
      name: d.name,
      help: d.help,
      labelNames: [...d.labelNames],
      registers: [this.registry],
      ...(d.buckets ? { buckets: [...d.buckets] } : {}),
    });
    const m = CLIENT_METRICS;
    this.#deliveries = new Counter(config(m.deliveries));
    this.#appDuration = new Histogram(config(m.appDuration));
    this.#reconnects = new Counter(config(m.reconnects));
    this.#tunnelUp = new Gauge(config(m.tunnelUp));
    this.#queueDrained = new Counter(config(m.queueDrained));
    this.#queueDropped = new Counter(config(m.queueDropped));
  }

  /**
   * A delivery ended: `wow_client_deliveries_total{outcome,code}` and, when the app answered,
   * `wow_client_app_duration_seconds`.
   * @param outcome `"answered"` or the reset code sent instead.
   * @param status The app's status code, when it answered.
   * @param seconds From sending to the app to the end of its answer.
   */
  delivered(outcome: DeliveryOutcome, status: number | undefined, seconds: number): void {
    const code = status === undefined ? NO_STATUS : String(status);
    const key = outcome + " " + code;
    let child = this.#children.get(key);
    if (child === undefined) {
      child = this.#deliveries.labels(outcome, code);
      this.#children.set(key, child);
    }
    child.inc();
    if (outcome === "answered") this.#appDuration.observe(seconds);
  }

  /**
   * Records a forwarded delivery through {@linkcode delivered}: `answered` when the app answered,
   * `rejected` when a status was sent without calling the app, else the reset code.
   * @param result The forward's result.
   */
  forwarded(result: ForwardedDelivery): void {
    const { status, appSeconds } = result;
    if (typeof status !== "number") this.delivered(status, undefined, 0);
    else if (appSeconds === undefined) this.delivered("rejected", status, 0);
    else this.delivered("answered", status, appSeconds);
  }

  /** The tunnel reconnected after a drop: `wow_client_reconnects_total`. */
  reconnected(): void {
    this.#reconnects.inc();
  }

  /**
   * The tunnel opened or closed: `wow_client_tunnel_up` 1 or 0.
   * @param up True when open.
   */
  tunnelUp(up: boolean): void {
    this.#tunnelUp.set(up ? 1 : 0);
  }

  /**
   * Webhooks from the server's queue were delivered: `wow_client_queue_drained_total`.
   * @param count How many. @default 1
   */
  queueDrained(count = 1): void {
    this.#queueDrained.inc(count);
  }

  /**
   * The server reported queued webhooks dropped: `wow_client_queue_dropped_total`.
   * @param count How many.
   */
  queueDropped(count: number): void {
    this.#queueDropped.inc(count);
  }

  /**
   * Renders every metric in the Prometheus text format.
   * @returns The exposition text.
   */
  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  /**
   * A `GET /metrics` answer for the inspector's port.
   * @returns 200 with the exposition text.
   */
  async response(): Promise<Response> {
    const body = await this.registry.metrics();
    return new Response(body, {
      headers: { "content-type": this.registry.contentType, "cache-control": "no-store" },
    });
  }
}

/**
 * Creates one client's metrics in a registry of its own.
 * @param options See {@linkcode ClientMetricsOptions}.
 * @returns The metrics and their recording methods.
 */
export function createClientMetrics(options: ClientMetricsOptions = {}): ClientMetrics {
  return new ClientMetrics(options);
}
