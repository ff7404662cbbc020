/**
 * The public server: issues channels, accepts tunnels and delivers webhooks through them. This
 * file starts and stops the parts (HTTP listener, cluster node, sweepers); what the
 * server answers is the route table in `routes.ts` over the context of `context.ts`.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import type { ChannelRegistry } from "./channels.ts";
import { detectAdvertiseAddress } from "./address.ts";
import { errorReply } from "./_http.ts";
import { StreamResetError } from "../protocol/mod.ts";
import { CLOSE_NORMAL } from "./tunnel.ts";
import { startCluster } from "../cluster/mod.ts";
import { clusterCredential, encodeMeta, Replicas } from "./replicas.ts";
import { assertServerOptions, SERVER_DEFAULTS, type ServerOptions } from "./options.ts";
import { createContext, resolveConfig, type ServerConfig, type ServerContext } from "./context.ts";
import { createApp } from "./routes.ts";
import type { Router } from "./router.ts";
import {
  Http1Client,
  type Http1Server,
  type Reply,
  serveHttp1,
  type ServeHttp1Options,
  type ServerAnswer,
  type ServerRequest,
} from "../http1/mod.ts";
import { clusterObserver, createServerMetrics } from "./metrics/mod.ts";
import { openConfiguredQueue, QUEUE_SWEEP_INTERVAL } from "./offline.ts";
import { provideQueueGauges } from "./queue_metrics.ts";

const log = getLogger(["wow", "server"]);

export { CHANNEL_SECRET_HEADER } from "../protocol/wire.ts";

/** Room for the request line on top of `--max-header-size` in a request head. */
const HEAD_LINE_SLACK = 16 * 1024;

/** How long a graceful leave may take to spread before the gossip sockets close, ms. */
const CLUSTER_LEAVE_TIMEOUT = 2_000;

/** How often shutdown re-checks for in-flight webhooks, ms. */
const SHUTDOWN_POLL_INTERVAL = 20;

/** Handle of a running server. */
export interface ServerHandle {
  /** The bound HTTP address. */
  addr: Deno.NetAddr;
  /** The URL peers and Traefik use: `http://<advertise-addr>:<port>`. */
  url: string;
  /** The channel registry (for tests and operators). */
  readonly channels: ChannelRegistry;
  /** The cluster view. */
  readonly replicas: Replicas;
  /** The bound `--metrics-addr` listener, if any. */
  metricsAddr?: Deno.NetAddr;
  /** Resolves when the server has stopped. */
  finished: Promise<void>;
  /** Stops accepting, lets in-flight webhooks finish (≤ 10 s), closes tunnels, stops. */
  shutdown(): Promise<void>;
}

/**
 * Starts the server.
 *
 * @param options Port, limits, keys; see {@linkcode ServerOptions}.
 * @returns The running server's handle.
 * @example
 * ```ts
 * const server = await startServer({ port: 0, bindAddr: "127.0.0.1" });
 * console.log(server.url);
 * await server.shutdown();
 * ```
 */
export async function startServer(options: ServerOptions = {}): Promise<ServerHandle> {
  const config = resolveConfig(options);
  assertServerOptions(options);
  // Opened first: a store that cannot be opened (a corrupt database) stops start-up.
  const queue = await openConfiguredQueue(
    config,
    Boolean(options.peerDomain || options.join?.length),
  );
  const proto = options.tls ? "https" : "http";
  const startedAt = performance.now();
  const relayHttp = new Http1Client();
  // The context needs the cluster node, whose gossip metadata carries this server's URL, which
  // needs the bound port: the listener starts first and answers 503 until the app exists.
  const started: { app?: Router<ServerContext> } = {};
  const handler = (request: ServerRequest): ServerAnswer | Promise<ServerAnswer> => {
    if (!started.app) return errorReply(503, "The server is starting; retry shortly");
    const invalid = refuseInvalidHost(request);
    if (invalid) return invalid;
    return started.app.handle(request);
  };
  const server = serveHttp1({
    hostname: config.bindAddr,
    port: config.port,
    tls: options.tls,
    ...listenerLimits(config),
    handler,
  });
  const addr = server.addr;
  const advertise = detectAdvertiseAddress({
    advertiseAddr: options.advertiseAddr,
    bindAddr: config.bindAddr,
  });
  const serverUrl = `${proto}://${
    advertise.includes(":") ? `[${advertise}]` : advertise
  }:${addr.port}`;

  const metrics = createServerMetrics({ perChannel: options.metricsPerChannel ?? false });
  let cluster;
  try {
    cluster = await startCluster({
      nodeName: options.nodeName,
      bindAddr: config.bindAddr,
      advertiseAddr: advertise,
      port: config.memberlistPort,
      meta: encodeMeta(serverUrl),
      gossipKey: options.gossipKey,
      join: options.join,
      peerDomain: options.peerDomain,
      dnsServer: options.dnsServer,
      syncInterval: config.memberlistSyncDuration,
      observer: clusterObserver(metrics),
    });
  } catch (error) {
    await server.shutdown();
    await queue?.close();
    const message = error instanceof Deno.errors.AddrInUse
      ? `the gossip port ${config.memberlistPort} is in use: pick another with --memberlist-port`
      : (error as Error).message;
    throw new Error(`Cannot start the cluster node: ${message}`, { cause: error });
  }
  const replicas = new Replicas(cluster, {
    selfUrl: serverUrl,
    httpPort: addr.port,
    // Without a gossip key, replicas that share --admin-token derive their credential from it, so
    // /internal/* and relays between them work (issue #13.2); with neither, /internal/* is open.
    credential: options.gossipKey
      ? clusterCredential(options.gossipKey)
      : options.adminToken
      ? clusterCredential(new TextEncoder().encode(options.adminToken))
      : undefined,
    standalone: !options.peerDomain && !(options.join?.length),
  });
  const ctx = createContext({
    replicas,
    serverUrl,
    options,
    config,
    relayHttp,
    startedAt,
    metrics,
    queue,
  });
  started.app = createApp(ctx);
  if (!options.gossipKey && !replicas.synced) {
    log.warn(
      "Clustering without --gossip-key: anyone who can reach the gossip port can join and is trusted by the replicas; keep port {port} on a private network or set --gossip-key",
      { port: config.memberlistPort },
    );
  }
  if (!ctx.sharedChannelKey && !replicas.synced) {
    log.warn(
      "No --channel-key or --gossip-key: channels die with this replica and peers verify each other's secrets over HTTP; set a shared key",
    );
  }

  let metricsServer: Http1Server | undefined;
  try {
    metricsServer = startMetricsListener(options.metricsAddr, ctx);
  } catch (error) {
    await server.shutdown();
    await replicas.cluster.leave(CLUSTER_LEAVE_TIMEOUT);
    await queue?.close();
    throw error;
  }

  const { channels, sockets } = ctx;
  const sweeper = setInterval(() => {
    const removed = channels.sweep(config.cleanupDuration, config.channelTtl);
    for (const id of removed) metrics.forgetChannel(id);
    if (removed.length > 0) log.debug("Removed {count} idle channels", { count: removed.length });
  }, Math.min(config.cleanupDuration, config.channelTtl));
  const queueSweeper = queue && setInterval(() => {
    queue.sweep().then((count) => {
      if (count === 0) return;
      log.warn("Retention dropped {count} expired queued webhooks", { count });
      ctx.metrics.queueDropped("max_age", count);
    }, (error) => {
      ctx.metrics.queueStoreError();
      log.warn("Sweeping the queue failed: {error}", { error: String(error) });
    });
  }, QUEUE_SWEEP_INTERVAL);
  const queueGauges = new AbortController();
  if (queue) provideQueueGauges(queue, ctx.metrics, queueGauges.signal);

  let stopping: Promise<void> | undefined;
  const stopped = Promise.withResolvers<void>();
  const shutdown = () =>
    stopping ??= (async () => {
      ctx.draining = true;
      clearInterval(sweeper);
      clearInterval(queueSweeper);
      queueGauges.abort();
      const deadline = Date.now() + SERVER_DEFAULTS.shutdownGrace;
      while (ctx.inFlight > 0 && Date.now() < deadline) {
        await sleep(SHUTDOWN_POLL_INTERVAL);
      }
      // Close tunnels ourselves with a normal code and wait for the close handshakes: Deno's
      // server.shutdown() would cut them with 1001.
      const closing = [...sockets].map((socket) => {
        socket.close(CLOSE_NORMAL, "Server shutting down");
        return socket.closed;
      });
      await withTimeout(Promise.all(closing), SERVER_DEFAULTS.closeGrace);
      // Whatever is still running fails now: open streams, relays, then the listener (bounded,
      // since a slow sender could keep a streaming response open indefinitely).
      for (const session of channels.sessions()) session.close();
      await relayHttp.close();
      await withTimeout(
        Promise.all([server.shutdown(), replicas.cluster.leave(CLUSTER_LEAVE_TIMEOUT)]),
        SERVER_DEFAULTS.closeGrace,
      );
      await metricsServer?.shutdown();
      await queue?.close();
      stopped.resolve();
    })();
  options.signal?.addEventListener("abort", () => shutdown(), { once: true });
  log.info("Listening on {proto}://{host}:{port}, advertised as {url}", {
    proto,
    host: addr.hostname,
    port: addr.port,
    url: serverUrl,
  });
  return {
    addr,
    url: serverUrl,
    channels,
    replicas,
    finished: Promise.race([server.finished, stopped.promise]),
    metricsAddr: metricsServer?.addr,
    shutdown,
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Waits for `promise` at most `ms`, leaving no timer behind. */
async function withTimeout(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([promise, new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The `--metrics-addr` listener: `GET /metrics` only, no token (its port is meant to be private).
 * @param addr `host:port`, `[v6]:port`, `:port`, or unset/`off` for none.
 * @param ctx The server's context.
 * @returns The listener, or undefined.
 */
function startMetricsListener(
  addr: string | undefined,
  ctx: ServerContext,
): Http1Server | undefined {
  if (!addr || addr.trim().toLowerCase() === "off") return undefined;
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\[\]]*)):(\d{1,5})$/.exec(addr);
  if (!match || Number(match[3]) > 65535) {
    throw new TypeError(`Cannot use --metrics-addr "${addr}": expected host:port or off`);
  }
  const hostname = match[1] || match[2] || "127.0.0.1";
  let listener;
  try {
    listener = serveHttp1({
      hostname,
      port: Number(match[3]),
      ...listenerLimits(ctx.config),
      handler: (request) => {
        const invalid = refuseInvalidHost(request);
        if (invalid) return invalid;
        const path = new URL(request.url).pathname;
        if (path !== "/metrics") return errorReply(404, `No route for ${request.method} ${path}`);
        if (request.method !== "GET") return errorReply(405, "Only GET /metrics is served here");
        return ctx.metrics.response();
      },
    });
  } catch (error) {
    throw new Error(`Cannot listen on --metrics-addr ${addr}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  log.info("Serving /metrics on http://{host}:{port}", {
    host: hostname,
    port: listener.addr.port,
  });
  return listener;
}

/**
 * What both listeners (the server's and `--metrics-addr`'s) share: the head and idle timeouts,
 * the head size limit, the 500 for a handler's error, and the log line of a refused connection.
 */
function listenerLimits(
  config: ServerConfig,
): Pick<
  ServeHttp1Options,
  "headerTimeout" | "idleTimeout" | "maxHeadSize" | "onError" | "onRefused"
> {
  return {
    headerTimeout: config.headerTimeout,
    // As documented for --idle-timeout: with the head timeout on.
    idleTimeout: config.headerTimeout > 0 ? config.idleTimeout : 0,
    maxHeadSize: config.maxHeaderSize + HEAD_LINE_SLACK,
    onError: (error) => {
      logServeError(error);
      return errorReply(500, "Internal server error");
    },
    onRefused: ({ peer, status, message }) =>
      log.warn("Refused a connection from {ip}: {status} {message}", {
        ip: peer,
        status,
        message: JSON.stringify(message).slice(1, -1),
      }),
  };
}

/**
 * A 400 for a request whose `Host` header (or absolute-form target, which stands for it) makes no
 * valid URL (`Host: [`, `Host: a:99999`, `Host: %zz`, `GET http://[/`), before any route parses
 * it; `undefined` for every other request. Such requests are a client's mistake or a probe, so
 * they are logged at debug only, escaped.
 */
function refuseInvalidHost(request: ServerRequest): Reply | undefined {
  // The Host alone decides only for an origin-form target (`/…`): an absolute one is the URL.
  const originForm = request.target.charCodeAt(0) === 0x2f;
  if ((originForm && isPlainHost(request.host)) || URL.canParse(request.url)) return undefined;
  log.debug("Refused a request whose Host header makes an invalid URL: {url}", {
    url: JSON.stringify(request.url),
  });
  return errorReply(
    400,
    "The Host header does not make a valid URL: send a host name or address, with a port up to 65535",
  );
}

/** A host name or dotted IPv4 address, and a port: the common `Host` values. */
const PLAIN_HOST = /^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::(\d{1,5}))?$/;
/** A last label the URL parser reads as a number (so the host as an IPv4 address). */
const NUMERIC_LABEL = /(?:^|\.)(?:0x[0-9a-f]*|\d+)(?::\d+)?$/i;
/** An IPv4 address the URL parser keeps as it is: four decimal octets, no leading zeros. */
const IPV4 =
  /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?::\d+)?$/;

/**
 * Whether `host` is valid in a URL as it is, without parsing one: a host name, or a plain
 * dotted IPv4 address, with a port up to 65535 (anything else is checked by parsing the URL).
 */
function isPlainHost(host: string | undefined): boolean {
  if (host === undefined) return false;
  const match = PLAIN_HOST.exec(host);
  if (match === null || (match[1] !== undefined && Number(match[1]) > 65535)) return false;
  return !NUMERIC_LABEL.test(host) || IPV4.test(host);
}

/**
 * Logs an error the HTTP server reports: a handler that threw, or an answer's body that failed
 * mid-way. The text may come from a peer (a tunnel client's RESET message), so
 * it is always escaped onto one line; an answer the client ended early is logged at warn, a
 * sender that went away at debug, and only anything else at error.
 */
function logServeError(error: unknown): void {
  const text = JSON.stringify(String(error));
  if (error instanceof StreamResetError) {
    log.warn("A webhook's answer ended early (the client reset it): {error}", { error: text });
  } else if (
    error instanceof Deno.errors.BrokenPipe || error instanceof Deno.errors.ConnectionReset ||
    error instanceof Deno.errors.Interrupted || error instanceof Deno.errors.BadResource ||
    /connection (closed|reset)/i.test(String(error))
  ) {
    log.debug("A sender went away while its answer was being sent: {error}", { error: text });
  } else {
    log.error("Unhandled error: {error}", { error: text });
  }
}
