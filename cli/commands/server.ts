/**
 * `server`: runs the public server.
 *
 * @module
 */
import {
  assertServerOptions,
  readTokenFile,
  SERVER_DEFAULTS,
  type ServerOptions,
  startServer,
} from "../../server/mod.ts";
import type { FlagSpec } from "../flags.ts";
import { LOG_DEFAULTS, type LogOptions, setupLogging } from "../logging.ts";
import { defineSubcommand, runUntilSignal } from "../subcommand.ts";
import * as value from "../values.ts";
import { OFFLINE_MODES } from "../../protocol/wire.ts";
import { LOG_FLAGS } from "./_log_flags.ts";

/** What the `server` flags fill. */
export type ServerFlagOptions = ServerOptions & LogOptions;

/**
 * Flags of `server`. A new flag: one line here (+ the `ServerOptions` field with its
 * `@default`, and the value in `SERVER_DEFAULTS`); see `cli/flags.ts`.
 */
export const SERVER_FLAGS: FlagSpec<ServerFlagOptions>[] = [
  { key: "port", flags: "-p, --port <port>", description: "HTTP port", arg: value.port },
  {
    key: "bindAddr",
    flags: "--bind-addr <addr>",
    description: "address the HTTP and gossip listeners bind to",
    arg: value.address,
  },
  {
    key: "advertiseAddr",
    flags: "--advertise-addr <addr>",
    description: "address peers and Traefik use (default: POD_IP, else auto-detected)",
    arg: value.address,
  },
  {
    key: "peerDomain",
    flags: "--peer-domain <name>",
    description: "DNS name resolving to the cluster's replicas",
    arg: value.text,
  },
  {
    key: "join",
    flags: "--join <host[:port]>",
    description: "static seed replicas to join (repeatable, or comma-separated)",
    arg: value.list,
  },
  {
    key: "gossipKey",
    flags: "--gossip-key <base64>",
    description:
      "shared key (base64 of 16, 24 or 32 bytes): encrypts gossip, authenticates replicas",
    arg: value.gossipKey,
    secret: true,
  },
  {
    key: "nodeName",
    flags: "--node-name <name>",
    description: "cluster node name (default: HOSTNAME, else node-<random>)",
    arg: value.text,
  },
  {
    key: "dnsServer",
    flags: "--dns-server <ip:port>",
    description: "resolve --peer-domain with this DNS server instead of the system's (testing)",
    arg: value.text,
  },
  {
    key: "cleanupDuration",
    flags: "--cleanup-duration <duration>",
    description: "remove issued channels that never got a client after this long",
    arg: value.duration,
  },
  {
    key: "memberlistPort",
    flags: "--memberlist-port <port>",
    description: "gossip port (UDP and TCP)",
    arg: value.port,
  },
  {
    key: "memberlistSyncDuration",
    flags: "--memberlist-sync-duration <duration>",
    description: "how often --peer-domain is resolved and new peers joined",
    arg: value.duration,
  },
  {
    key: "maxBodySize",
    flags: "--max-body-size <size>",
    description: "largest webhook body accepted (larger: 413)",
    arg: value.size,
  },
  {
    key: "requestTimeout",
    flags: "--request-timeout <duration>",
    description: "how long a webhook waits for the local app's answer (then 504)",
    arg: value.duration,
  },
  {
    key: "channelTtl",
    flags: "--channel-ttl <duration>",
    description: "keep a channel whose client left this long (its webhooks get 503)",
    arg: value.duration,
  },
  {
    key: "channelKey",
    flags: "--channel-key <key>",
    description:
      "secret key for channel secrets; set it so channels survive restarts (default: random)",
    arg: value.text,
    secret: true,
  },
  {
    key: "authTokens",
    flags: "--auth-token <token>",
    description: "require this bearer token for /new and /ws/* (repeatable, or comma-separated)",
    arg: value.list,
    secret: true,
  },
  {
    key: "authTokens",
    flags: "--auth-token-file <path>",
    description: "read --auth-token values from a file, one per line",
    read: async (path, tokens) => [...(tokens ?? []), ...await readTokenFile(path)],
  },
  {
    key: "adminToken",
    flags: "--admin-token <token>",
    description: "require this bearer token for /traefik-config, /metrics and /internal/*",
    arg: value.text,
    secret: true,
  },
  {
    key: "metricsAddr",
    flags: "--metrics-addr <host:port>",
    description:
      "also serve /metrics on this listener, without the admin token (off: only on --port)",
    arg: value.inspectAddr,
  },
  {
    key: "metricsPerChannel",
    flags: "--metrics-per-channel",
    description:
      "add a channel label to the webhook counters (one series per channel: small servers only)",
  },
  {
    key: "newRateLimit",
    flags: "--new-rate-limit <count>",
    description: "GET /new allowed per client IP per minute (0: unlimited)",
    arg: value.count,
  },
  {
    key: "maxChannels",
    flags: "--max-channels <count>",
    description: "most channels this server keeps",
    arg: value.positiveInt,
  },
  {
    key: "maxChannelsPerIp",
    flags: "--max-channels-per-ip <count>",
    description: "most channels one client address may hold from GET /new (more: 429; 0: no cap)",
    arg: value.count,
  },
  {
    key: "trustedProxies",
    flags: "--trusted-proxy <cidr>",
    description:
      "proxy whose X-Forwarded-For names the client for the /new limits (repeatable, or comma-separated; default: none, the socket peer is the client)",
    arg: value.cidrList,
  },
  {
    key: "maxInFlight",
    flags: "--max-in-flight <count>",
    description: "most webhooks in flight per channel (more: 429)",
    arg: value.positiveInt,
  },
  {
    key: "maxHeaderSize",
    flags: "--max-header-size <size>",
    description: "largest total size of a request's headers (more: 431)",
    arg: value.size,
  },
  {
    key: "maxHeaderCount",
    flags: "--max-header-count <count>",
    description: "most header fields per request (more: 431)",
    arg: value.positiveInt,
  },
  {
    key: "headerTimeout",
    flags: "--header-timeout <duration>",
    description:
      "answer 408 and close connections whose request head is not complete this long after it began (slow-loris protection; 0: off)",
    arg: value.duration,
  },
  {
    key: "queue",
    flags: "--queue <url>",
    description:
      "store webhooks while the client is away: off, memory:, sqlite:<path>, redis://host:port",
    arg: value.queueUrl,
  },
  {
    key: "offlineModes",
    flags: "--offline-modes <modes>",
    description: "offline modes clients may choose (client --offline), comma-separated",
    arg: value.choiceList(OFFLINE_MODES),
  },
  {
    key: "queueStatus",
    flags: "--queue-status <status>",
    description: "status a queued webhook's sender gets (202, 200)",
    arg: value.numberChoice([202, 200] as const),
  },
  {
    key: "queueMaxAge",
    flags: "--queue-max-age <duration>",
    description: "drop queued webhooks older than this",
    arg: value.duration,
  },
  {
    key: "queueMaxBytes",
    flags: "--queue-max-bytes <size>",
    description: "bytes queued per channel (memory: also in total); the oldest go first",
    arg: value.size,
  },
  {
    key: "queueMaxCount",
    flags: "--queue-max-count <count>",
    description: "webhooks queued per channel; the oldest go first",
    arg: value.positiveInt,
  },
  {
    key: "idleTimeout",
    flags: "--idle-timeout <duration>",
    description:
      "with --header-timeout, close kept-alive connections idle this long, or not reading their answer (longer than --request-timeout; WebSocket tunnels exempt; 0: off)",
    arg: value.duration,
  },
  {
    key: "tls",
    flags: "--tls-cert <path>",
    description: "serve HTTPS/WSS with this PEM certificate chain",
    together: "--tls-key",
    // The key arrives from --tls-key next; `together` makes sure it does.
    read: async (path, tls) => ({ key: "", ...tls, cert: await Deno.readTextFile(path) }),
  },
  {
    key: "tls",
    flags: "--tls-key <path>",
    description: "PEM private key for --tls-cert",
    read: async (path, tls) => ({ cert: "", ...tls, key: await Deno.readTextFile(path) }),
  },
  ...LOG_FLAGS,
];

/** `server`. */
export const serverCommand = defineSubcommand<ServerFlagOptions>({
  name: "server",
  description: "run the public server",
  flags: SERVER_FLAGS,
  defaults: { ...SERVER_DEFAULTS, ...LOG_DEFAULTS },
  check(options, given) {
    assertServerOptions({ ...options, tls: given("--tls-cert") });
  },
  async run({ logLevel, logFormat, ...options }) {
    await setupLogging({ logLevel, logFormat });
    await runUntilSignal(await startServer(options));
  },
});
