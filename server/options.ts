/**
 * Options of {@linkcode startServer} and their defaults (the Go original's where it had one).
 *
 * @module
 */

import type { OfflineMode } from "../protocol/wire.ts";

/** Options for `startServer`. */
export interface ServerOptions {
  /** HTTP port; 0 picks a free one. @default 8080 */
  port?: number;
  /** Address the HTTP (and gossip) listeners bind to. @default "0.0.0.0" */
  bindAddr?: string;
  /** Address advertised to peers and Traefik. @default auto-detected, see `detectAdvertiseAddress` */
  advertiseAddr?: string;
  /** Largest webhook body accepted, bytes. @default 32 MiB */
  maxBodySize?: number;
  /** How long a webhook may wait for the local app's response head, ms. @default 30000 */
  requestTimeout?: number;
  /** Issued channels that never get a client are removed after this many ms. @default 300000 */
  cleanupDuration?: number;
  /** A channel whose client left is kept this many ms (webhooks get 503). @default 24 h */
  channelTtl?: number;
  /** Key for channel secrets; random per start when unset. */
  channelKey?: string;
  /** Bearer tokens required for `/new` and `/ws/*`; empty = open. */
  authTokens?: string[];
  /** Bearer token required for `/traefik-config`, `/metrics` and `/internal/*`; unset = open. */
  adminToken?: string;
  /** `GET /new` allowed per client IP per minute; 0 disables. @default 10 */
  newRateLimit?: number;
  /** Most channels this replica keeps. @default 10000 */
  maxChannels?: number;
  /**
   * Most channels one client address may hold on this replica (issued by `GET /new` and not yet
   * expired); more get 429. 0 disables. @default 100
   */
  maxChannelsPerIp?: number;
  /**
   * Proxies (CIDR ranges or addresses) whose `X-Forwarded-For` names the client for the `/new`
   * limits; from any other peer the socket's address is the client. @default none
   */
  trustedProxies?: string[];
  /** Most webhooks in flight per channel; more get 429. @default 64 */
  maxInFlight?: number;
  /** Largest total size of a request's header names and values, bytes. @default 64 KiB */
  maxHeaderSize?: number;
  /** Most header fields per request. @default 100 */
  maxHeaderCount?: number;
  /** Gossip (memberlist) port, UDP and TCP; 0 picks a free one. @default 7946 */
  memberlistPort?: number;
  /** DNS name resolving to the replicas, re-resolved every `memberlistSyncDuration`. */
  peerDomain?: string;
  /** Static seed replicas, `host[:port]`. */
  join?: string[];
  /** Interval of peer-domain resolution, ms. @default 5000 */
  memberlistSyncDuration?: number;
  /** Shared gossip key (16, 24 or 32 bytes): encrypts gossip, authenticates replica calls. */
  gossipKey?: Uint8Array;
  /** DNS server `ip:port` for `peerDomain` instead of the system resolver (tests). */
  dnsServer?: string;
  /** Cluster node name. @default `HOSTNAME`, else `node-<8 hex>` */
  nodeName?: string;
  /**
   * Answer `408` and close a connection whose request head is not complete this many ms after
   * its first byte (slow-loris protection, built into the HTTP server `http1/server.ts`); 0
   * disables. @default 0
   */
  headerTimeout?: number;
  /**
   * With the head timeout on (`headerTimeout` > 0), close a kept-alive connection idle this many
   * ms between requests, or whose sender has not taken a byte of its answer for as long; WebSocket
   * tunnels are exempt (their pings keep their own liveness). Must exceed `requestTimeout`; 0
   * disables.
   * @default 60000
   */
  idleTimeout?: number;
  /**
   * Also serve `GET /metrics` on its own plain-HTTP listener `host:port` (`[v6]:port`, `:port`
   * for 127.0.0.1), without the admin token, for clusters that keep operator ports private;
   * unset or `off`: only on the main port.
   */
  metricsAddr?: string;
  /**
   * Add a `channel` label to `wow_webhooks_total` and the webhook byte counters: one series per
   * channel (removed when the channel is swept), so only for small servers.
   * @default false
   */
  metricsPerChannel?: boolean;
  /**
   * Store for webhooks whose client is away (README: When the client is away): `off`,
   * `memory:`, `sqlite:<path>`, `redis://…` or `rediss://…`. @default "off"
   */
  queue?: string;
  /** Offline modes clients may ask for; another is refused at attach (400). @default ["auto","queue","reject"] */
  offlineModes?: OfflineMode[];
  /** Status a queued webhook's sender gets. @default 202 */
  queueStatus?: 200 | 202;
  /** Queued webhooks older than this are dropped, ms. @default 72 h */
  queueMaxAge?: number;
  /** Bytes queued per channel (memory: also in total); the oldest are dropped past it. @default 256 MiB */
  queueMaxBytes?: number;
  /** Webhooks queued per channel; the oldest are dropped past it. @default 10000 */
  queueMaxCount?: number;
  /** Serve HTTPS/WSS with this PEM certificate chain and key. */
  tls?: { cert: string; key: string };
  /** Aborting stops the server like SIGTERM. */
  signal?: AbortSignal;
}

/** Defaults of {@linkcode ServerOptions}, one place. */
export const SERVER_DEFAULTS = {
  port: 8080,
  bindAddr: "0.0.0.0",
  /** 32 MiB: larger than any webhook GitHub (25 MB cap) or Stripe sends. */
  maxBodySize: 32 * 1024 * 1024,
  requestTimeout: 30_000,
  /** 5 m, as the Go original. */
  cleanupDuration: 5 * 60_000,
  /** 24 h: long enough for a laptop's night, short enough not to hoard ids. */
  channelTtl: 24 * 3_600_000,
  /** 10 a minute: a person restarting a client never hits it; a script hoarding ids does. */
  newRateLimit: 10,
  /** Each channel costs ~10 KiB idle; 10,000 bounds that to ~100 MiB. */
  maxChannels: 10_000,
  /**
   * A person needs one channel per running client; 100 leaves room for a team behind one NAT
   * while no single address can take more than 1% of `maxChannels`.
   */
  maxChannelsPerIp: 100,
  /** Webhook senders rarely have more than a few in flight; 64 stops one channel from hogging. */
  maxInFlight: 64,
  /** 64 KiB: GitHub/Stripe headers are a few KiB; Deno's own limit is larger. */
  maxHeaderSize: 64 * 1024,
  /** 100 header fields, as nginx and Go's net/http allow by default. */
  maxHeaderCount: 100,
  /** In-flight requests allowed to finish on shutdown. */
  shutdownGrace: 10_000,
  /** How long shutdown waits for clients to answer the close handshake, ms. */
  closeGrace: 2_000,
  /** Off, as before it was built in; proxies in front enforce their own header timeouts. */
  headerTimeout: 0,
  /** 60 s, as nginx's `keepalive_timeout` order of magnitude; twice the request timeout. */
  idleTimeout: 60_000,
  /** memberlist's default port. */
  memberlistPort: 7946,
  /** As the Go original. */
  memberlistSyncDuration: 5_000,
  /** A replica found holding a channel is remembered this long before asking again, ms. */
  ownerCacheTtl: 5_000,
  /** "No replica holds it" is remembered this long, so a burst of misses costs one lookup. */
  ownerMissCacheTtl: 1_000,
  /** `Retry-After` seconds sent for a detached channel's webhooks. */
  retryAfterSeconds: 30,
  /**
   * Off: with a queue a detached channel's webhooks get 202 instead of 503, which changes what
   * existing senders see and keeps their bodies in memory or on disk; operators opt in.
   */
  queue: "off",
  /** Every mode: the client chooses. */
  offlineModes: ["auto", "queue", "reject"] as OfflineMode[],
  /** 202 Accepted says "stored, not yet processed", which is what happened. */
  queueStatus: 202 as 200 | 202,
  /** 72 h: a long weekend away from the laptop. */
  queueMaxAge: 72 * 3_600_000,
  /** 256 MiB: 32 of the largest (8 MiB) webhooks, or ~250,000 typical 1 KiB ones. */
  queueMaxBytes: 256 * 1024 * 1024,
  /** 10,000: bounds a drain after a long absence to a few seconds. */
  queueMaxCount: 10_000,
  /** `Retry-After` seconds when a webhook cannot be stored (store full or failing). */
  queueRetryAfterSeconds: 60,
} as const;

/**
 * The rules between server options: TLS cannot be served by a cluster, whose replicas reach
 * each other over plain HTTP; with the head timeout on, the idle timeout must exceed the request
 * timeout. `startServer` and the CLI (before it
 * reads the certificate files, passing `tls: true` when `--tls-cert` is given) both call this.
 *
 * @param options The options, or what is known of them.
 * @throws {TypeError} When TLS is combined with `peerDomain` or `join`, or `idleTimeout` is not
 * longer than `requestTimeout` while the head timeout is on.
 */
export function assertServerOptions(
  options:
    & Pick<
      ServerOptions,
      "peerDomain" | "join" | "headerTimeout" | "idleTimeout" | "requestTimeout"
    >
    & { tls?: unknown },
): void {
  if (options.tls && (options.peerDomain || options.join?.length)) {
    throw new TypeError(
      "--tls-cert cannot be combined with --peer-domain or --join: terminate TLS at the proxy in front of a cluster",
    );
  }
  const idle = options.idleTimeout ?? SERVER_DEFAULTS.idleTimeout;
  const request = options.requestTimeout ?? SERVER_DEFAULTS.requestTimeout;
  if ((options.headerTimeout ?? SERVER_DEFAULTS.headerTimeout) > 0 && idle > 0 && idle <= request) {
    throw new TypeError(
      `Cannot use --idle-timeout ${idle} ms with --request-timeout ${request} ms: a webhook waiting for its answer would be cut; set --idle-timeout longer than --request-timeout (or 0: off)`,
    );
  }
}
