/**
 * The server's context: everything a handler may use, built once per server by
 * {@linkcode createContext} and passed to every handler beside the request.
 *
 * @module
 */
import { ChannelRegistry } from "./channels.ts";
import { ChannelSecrets } from "./secrets.ts";
import { TokenSet } from "./access.ts";
import { RateLimiter } from "./rate_limit.ts";
import { CidrSet } from "./cidr.ts";
import { OwnerLookup } from "./owners.ts";
import { channelKeyFromGossipKey, type Replicas } from "./replicas.ts";
import type { SocketSet } from "./tunnel.ts";
import { SERVER_DEFAULTS, type ServerOptions } from "./options.ts";
import { Http1Client } from "../http1/mod.ts";
import { createServerMetrics, type ServerMetrics } from "./metrics/mod.ts";
import type { QueueStore } from "./queue/mod.ts";

/**
 * The options with every default filled in.
 * @param options What the caller set.
 * @returns The resolved configuration.
 */
export function resolveConfig(options: ServerOptions) {
  return { ...SERVER_DEFAULTS, ...stripUndefined(options) };
}

/** The resolved configuration: {@linkcode ServerOptions} with every default filled in. */
export type ServerConfig = ReturnType<typeof resolveConfig>;

/** What every handler gets beside the request; see the module doc. */
export interface ServerContext {
  /** Limits, keys and flags, defaults filled in. */
  readonly config: ServerConfig;
  /** This replica's channels. */
  readonly channels: ChannelRegistry;
  /** Channel ids and secrets. */
  readonly secrets: ChannelSecrets;
  /** True when every replica signs with the same key (`--channel-key` or `--gossip-key`). */
  readonly sharedChannelKey: boolean;
  /** The cluster view. */
  readonly replicas: Replicas;
  /** Which replica holds a channel's client. */
  readonly owners: OwnerLookup;
  /** `--auth-token`s for `/new` and `/ws`. */
  readonly clientTokens: TokenSet;
  /** `--admin-token` for the operator endpoints. */
  readonly adminTokens: TokenSet;
  /** `/new` per client address. */
  readonly newLimiter: RateLimiter;
  /** `--trusted-proxy`: peers whose `X-Forwarded-For` names the client. */
  readonly trustedProxies: CidrSet;
  /** Keep-alive connections to the other replicas, for relays. */
  readonly relayHttp: Http1Client;
  /** Open tunnel sockets, closed on shutdown. */
  readonly sockets: SocketSet;
  /** `http` or `https`: how requests reach this server. */
  readonly proto: "http" | "https";
  /** This replica's advertised URL. */
  readonly serverUrl: string;
  /** When the server started (`performance.now()`). */
  readonly startedAt: number;
  /** True once shutdown began: webhooks, `/new` and `/ws` get 503. */
  draining: boolean;
  /** Webhooks being delivered or relayed (shutdown waits for them). */
  inFlight: number;
  /** This server's Prometheus metrics (`GET /metrics`), a registry of its own. */
  readonly metrics: ServerMetrics;
  /** The store of webhooks whose client is away (`--queue`); undefined when it is off. */
  readonly queue?: QueueStore;
}

/** Inputs of {@linkcode createContext}. */
export interface ContextOptions {
  /** The cluster view. */
  replicas: Replicas;
  /** This replica's advertised URL. */
  serverUrl: string;
  /** The server's options. @default {} */
  options?: ServerOptions;
  /** The options resolved, when the caller already has them. @default resolveConfig(options) */
  config?: ServerConfig;
  /** Keep-alive pool for relays. @default a new Http1Client */
  relayHttp?: Http1Client;
  /** Start time. @default performance.now() */
  startedAt?: number;
  /**
   * The server's metrics, when the caller made them first (the cluster node reports into them);
   * the context's scrape-time providers are set on them. @default new metrics
   */
  metrics?: ServerMetrics;
  /** The open `--queue` store. @default none */
  queue?: QueueStore;
}

/**
 * Builds a server's context.
 * @param init The cluster view, URL and options.
 * @returns The context.
 */
export function createContext(init: ContextOptions): ServerContext {
  const options = init.options ?? {};
  const config = init.config ?? resolveConfig(options);
  const channels = new ChannelRegistry({ maxChannels: config.maxChannels });
  return {
    config,
    channels,
    secrets: new ChannelSecrets(
      options.channelKey ?? (options.gossipKey && channelKeyFromGossipKey(options.gossipKey)),
    ),
    sharedChannelKey: Boolean(options.channelKey || options.gossipKey),
    replicas: init.replicas,
    owners: new OwnerLookup(init.replicas, {
      hitTtl: config.ownerCacheTtl,
      missTtl: config.ownerMissCacheTtl,
    }),
    clientTokens: new TokenSet(options.authTokens),
    adminTokens: new TokenSet(options.adminToken ? [options.adminToken] : []),
    newLimiter: new RateLimiter({ limit: config.newRateLimit }),
    trustedProxies: new CidrSet(options.trustedProxies),
    relayHttp: init.relayHttp ?? new Http1Client(),
    sockets: new Set(),
    proto: options.tls ? "https" : "http",
    serverUrl: init.serverUrl,
    startedAt: init.startedAt ?? performance.now(),
    draining: false,
    inFlight: 0,
    queue: init.queue,
    metrics: withProviders(init.metrics ?? createServerMetrics(), channels, init.replicas),
  };
}

/** Sets the scrape-time providers that read this server's channels and cluster view. */
function withProviders(
  metrics: ServerMetrics,
  channels: ChannelRegistry,
  replicas: Replicas,
): ServerMetrics {
  metrics.provide({
    channels: () => channels.stateCounts(),
    clusterMembers: () => memberCounts(replicas),
  });
  return metrics;
}

/** Cluster members (this replica included) by state, for `wow_cluster_members`. */
function memberCounts(replicas: Replicas): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const member of replicas.cluster.members()) {
    counts[member.state] = (counts[member.state] ?? 0) + 1;
  }
  return counts;
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<
    T
  >;
}
