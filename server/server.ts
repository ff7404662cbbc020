/**
 * The public server: issues channels, accepts tunnels and delivers webhooks through them.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { type Channel, ChannelRegistry } from "./channels.ts";
import { ChannelSecrets } from "./secrets.ts";
import { detectAdvertiseAddress } from "./address.ts";
import { type ErrorReason, errorResponse, jsonResponse } from "./_http.ts";
import { deliverWebhook, forwardedHeaders } from "./deliver.ts";
import { acceptTunnel, checkProtocolVersion, CLOSE_NORMAL, type SocketSet } from "./tunnel.ts";
import { startCluster } from "../cluster/mod.ts";
import { Http1Client } from "../http1/mod.ts";
import {
  channelKeyFromGossipKey,
  clusterCredential,
  encodeMeta,
  FORWARDED_HEADER,
  Replicas,
} from "./replicas.ts";
import { OwnerLookup } from "./owners.ts";
import { type HeaderGuard, startHeaderGuard } from "./header_guard.ts";
import { relayWebhook } from "./relay.ts";
import {
  CHANNEL_SECRET_HEADER,
  handleInternal,
  handleTraefikConfig,
  type InternalContext,
} from "./internal.ts";
import { assertServerOptions, SERVER_DEFAULTS, type ServerOptions } from "./options.ts";
import { TokenSet } from "./access.ts";
import { clientIp, RateLimiter } from "./rate_limit.ts";

const log = getLogger(["wow", "server"]);

export { CHANNEL_SECRET_HEADER };

/** Extra time a relayed webhook gets over the owner's own request timeout, ms. */
const RELAY_TIMEOUT_MARGIN = 2_000;

/** Room for the request line on top of `--max-header-size` when the guard measures a head. */
const HEAD_LINE_SLACK = 16 * 1024;

/** How long a graceful leave may take to spread before the gossip sockets close, ms. */
const CLUSTER_LEAVE_TIMEOUT = 2_000;

/** `Retry-After` seconds for webhooks refused while shutting down (a replica takes over). */
const SHUTDOWN_RETRY_AFTER = 5;

/** How often shutdown re-checks for in-flight webhooks, ms. */
const SHUTDOWN_POLL_INTERVAL = 20;

const TOKEN_REQUIRED = "This server requires a token: pass --auth-token (Authorization: Bearer)";

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

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
  const config = { ...SERVER_DEFAULTS, ...stripUndefined(options) };
  assertServerOptions(options);
  const channels = new ChannelRegistry({ maxChannels: config.maxChannels });
  const clientTokens = new TokenSet(options.authTokens);
  const adminTokens = new TokenSet(options.adminToken ? [options.adminToken] : []);
  const newLimiter = new RateLimiter({ limit: config.newRateLimit });
  const secrets = new ChannelSecrets(
    options.channelKey ?? (options.gossipKey && channelKeyFromGossipKey(options.gossipKey)),
  );
  const sharedChannelKey = Boolean(options.channelKey || options.gossipKey);
  const relayHttp = new Http1Client();
  const sockets: SocketSet = new Set();
  const proto = options.tls ? "https" : "http";
  const startedAt = performance.now();
  let inFlight = 0;
  let draining = false;
  let serverUrl = "";
  let guard: HeaderGuard | undefined;
  // Set once the HTTP listener is up (the gossip metadata carries its URL); the handler only
  // runs after that.
  // deno-lint-ignore prefer-const
  let replicas!: Replicas;
  // deno-lint-ignore prefer-const
  let owners!: OwnerLookup;
  const internal: InternalContext = {
    channels,
    secrets,
    get replicas() {
      return replicas;
    },
    serverUrl: () => serverUrl,
  };

  const refuse = (
    status: number,
    message: string,
    request: Request,
    ip: string,
    headers?: HeadersInit,
    reason?: ErrorReason,
  ) => {
    log.warn("Refused {method} {path} from {ip}: {status} {message}", {
      method: request.method,
      path: new URL(request.url).pathname,
      ip,
      status,
      message,
    });
    return errorResponse(status, message, headers, reason);
  };

  const issueChannel = (request: Request, ip: string): Response => {
    if (!clientTokens.allows(request)) {
      return refuse(401, TOKEN_REQUIRED, request, ip, undefined, "auth_token");
    }
    const wait = newLimiter.take(ip);
    if (wait > 0) {
      return refuse(429, `Too many new channels from ${ip}; retry in ${wait} s`, request, ip, {
        "retry-after": String(wait),
      });
    }
    const id = secrets.issueId();
    if (!channels.issue(id)) {
      return refuse(
        503,
        "This server holds its maximum number of channels; try later",
        request,
        ip,
      );
    }
    log.info("Issued channel {channelId}", { channelId: id });
    return jsonResponse(200, { channel_id: id, channel_secret: secrets.secretFor(id) });
  };

  /**
   * Without a shared key each replica signs with its own random key: a channel issued by a peer
   * is verified by asking the peers (a replica with a shared key never needs to).
   */
  const verifiedByPeer = async (id: string, secret: string | null): Promise<boolean> => {
    if (sharedChannelKey || !secret || !replicas || replicas.peerUrls().length === 0) return false;
    const answers = await replicas.gather<{ valid: boolean }>(`/internal/channels/${id}/verify`, {
      [CHANNEL_SECRET_HEADER]: secret,
    });
    return answers.some((answer) => answer.body.valid === true);
  };

  const attachTunnel = async (request: Request, id: string, ip: string): Promise<Response> => {
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return errorResponse(400, "Expected a WebSocket upgrade request");
    }
    if (!clientTokens.allows(request)) {
      return refuse(401, TOKEN_REQUIRED, request, ip, undefined, "auth_token");
    }
    const versionError = checkProtocolVersion(request);
    if (versionError) return versionError;
    const channel = channels.get(id);
    const secret = request.headers.get(CHANNEL_SECRET_HEADER);
    if (!secrets.verify(id, secret) && !(await verifiedByPeer(id, secret))) {
      if (!channel) {
        return errorResponse(
          403,
          `Unknown channel "${id}": get one from GET /new`,
          undefined,
          "unknown_channel",
        );
      }
      return refuse(
        401,
        `Missing or wrong channel secret for "${id}": send the channel_secret from GET /new in the "${CHANNEL_SECRET_HEADER}" header`,
        request,
        ip,
        undefined,
        "channel_secret",
      );
    }
    if (channel?.session) {
      return refuse(409, `Channel "${id}" already has a client connected`, request, ip);
    }
    if (!channel && channels.full) {
      return refuse(
        503,
        "This server holds its maximum number of channels; try later",
        request,
        ip,
      );
    }
    if (draining) return errorResponse(503, "The server is shutting down; retry shortly");
    return acceptTunnel(request, id, channels, sockets);
  };

  const handleWebhook = async (
    request: Request,
    path: string,
    id: string,
    target: string,
    remoteIp: string,
  ): Promise<Response> => {
    const started = performance.now();
    const channel = channels.get(id);
    const outcome = await routeWebhook(request, id, target, remoteIp, channel);
    const status = outcome.response.status;
    Promise.all([outcome.requestBytes, outcome.responseBytes]).then(([requestBytes, bytes]) =>
      log.info(
        "{method} {path} {status} {durationMs}ms req={requestBytes}B resp={responseBytes}B",
        {
          method: request.method,
          path,
          status,
          durationMs: Math.round((performance.now() - started) * 10) / 10,
          requestBytes,
          responseBytes: bytes,
          channelId: id,
        },
      )
    );
    return outcome.response;
  };

  /** Decides what answers a webhook: the local tunnel, a relay to the owner, or an error. */
  const routeWebhook = async (
    request: Request,
    id: string,
    target: string,
    remoteIp: string,
    channel: Channel | undefined,
  ): Promise<
    { response: Response; requestBytes: Promise<number>; responseBytes: Promise<number> }
  > => {
    const answer = (response: Response) => ({
      response,
      requestBytes: Promise.resolve(0),
      responseBytes: Promise.resolve(0),
    });
    if (draining) {
      return answer(errorResponse(503, "The server is shutting down; retry shortly", {
        "retry-after": String(SHUTDOWN_RETRY_AFTER),
      }));
    }
    // Relayed by a replica: only trusted with the replica credential or, without a gossip key,
    // from the address of a known member; a relayed request is never relayed again.
    const forwarded = request.headers.has(FORWARDED_HEADER) &&
      (replicas.isReplicaCall(request) ||
        (!replicas.authenticated && replicas.isMemberAddress(remoteIp)));
    // With a shared key an id without our tag was never issued: no replica holds it.
    const lookUp = !channel?.session && !forwarded && UUID_V4.test(id) &&
      (!sharedChannelKey || secrets.isIssued(id));
    const owner = lookUp ? await owners.find(id) : undefined;
    if (owner) {
      inFlight++;
      try {
        const response = await relayWebhook(request, owner, {
          headers: [
            ...forwardedHeaders(request, { remoteIp, proto, trustForwarded: false }),
            [FORWARDED_HEADER, "1"],
            ...Object.entries(replicas.authHeaders()),
          ],
          http: relayHttp,
          timeout: config.requestTimeout + RELAY_TIMEOUT_MARGIN,
        });
        if (response.status === 404 || response.status === 503) owners.forget(id);
        return answer(response);
      } finally {
        inFlight--;
      }
    }
    if (!channel && secrets.isIssued(id) && performance.now() - startedAt < config.channelTtl) {
      // A channel issued under our key that this replica does not hold: after a restart its
      // client is reconnecting (senders should retry, not give up).
      return answer(errorResponse(
        503,
        `The client of channel "${id}" is not connected (yet); retry later`,
        { "retry-after": String(config.retryAfterSeconds) },
      ));
    }
    if (!channel || (!channel.session && channel.detachedAt === undefined)) {
      return answer(errorResponse(404, `No client is connected to channel "${id}"`));
    }
    if (!channel.session) {
      return answer(errorResponse(
        503,
        `The client of channel "${id}" is disconnected; retry later`,
        { "retry-after": String(config.retryAfterSeconds) },
      ));
    }
    if (channel.inFlight >= config.maxInFlight) {
      return answer(refuse(
        429,
        `Channel "${id}" already has ${config.maxInFlight} requests in flight; retry later`,
        request,
        remoteIp,
        { "retry-after": "1" },
      ));
    }
    inFlight++;
    channel.inFlight++;
    const result = await deliverWebhook(request, channel.session, {
      target,
      remoteIp,
      proto,
      trustForwarded: forwarded,
      maxBodySize: config.maxBodySize,
      requestTimeout: config.requestTimeout,
      retryAfterSeconds: config.retryAfterSeconds,
    });
    return {
      response: result.response,
      requestBytes: result.outcome.requestBytes,
      responseBytes: result.outcome.responseBytes.finally(() => {
        inFlight--;
        channel.inFlight--;
      }),
    };
  };

  /**
   * `/traefik-config` needs the admin token when one is set. `/internal/*` accepts the replica
   * credential or the admin token; with neither configured it is open, as in the Go original.
   */
  const operatorAllowed = (request: Request, path: string): boolean => {
    if (path.startsWith("/internal/") && replicas.isReplicaCall(request)) return true;
    if (adminTokens.required) return adminTokens.allows(request);
    return !(path.startsWith("/internal/") && replicas.authenticated);
  };

  const handler = (request: Request, info: Deno.ServeHandlerInfo): Response | Promise<Response> => {
    const url = new URL(request.url);
    const path = url.pathname;
    const remote = info.remoteAddr as Deno.NetAddr;
    const peer = guard?.peerOf(remote.port) ?? remote.hostname;
    const headerProblem = checkHeaderLimits(
      request.headers,
      config.maxHeaderCount,
      config.maxHeaderSize,
    );
    if (headerProblem) return refuse(431, headerProblem, request, peer);
    if (path.startsWith("/webhook/")) {
      const rest = path.slice("/webhook/".length);
      const slash = rest.indexOf("/");
      const id = slash === -1 ? rest : rest.slice(0, slash);
      const suffix = slash === -1 ? "" : rest.slice(slash);
      return handleWebhook(request, path, id, suffix + url.search, peer);
    }
    if (path.startsWith("/ws/") && request.method === "GET") {
      const id = path.slice("/ws/".length);
      if (!UUID_V4.test(id)) {
        return errorResponse(
          403,
          `Unknown channel "${id}": get one from GET /new`,
          undefined,
          "unknown_channel",
        );
      }
      return attachTunnel(request, id, clientIp(request, peer));
    }
    if (request.method !== "GET") return errorResponse(405, `Method ${request.method} not allowed`);
    if (path === "/traefik-config" || path.startsWith("/internal/")) {
      if (!operatorAllowed(request, path)) {
        return refuse(
          401,
          replicas.authenticated && path.startsWith("/internal/")
            ? "This endpoint requires the replica credential or the admin token"
            : "This endpoint requires the admin token (Authorization: Bearer)",
          request,
          peer,
        );
      }
      if (path === "/traefik-config") return handleTraefikConfig(url, internal);
      return handleInternal(path, request, internal);
    }
    switch (path) {
      case "/new":
        if (draining) return errorResponse(503, "The server is shutting down; retry shortly");
        return issueChannel(request, clientIp(request, peer));
      case "/healthz":
        return jsonResponse(draining ? 503 : 200, { status: draining ? "SHUTTING_DOWN" : "OK" });
    }
    return errorResponse(404, `No route for ${request.method} ${path}`);
  };

  // With --header-timeout the guard owns the public port (and TLS) and the HTTP server listens
  // on a loopback port behind it.
  const guarded = config.headerTimeout > 0;
  const server = Deno.serve({
    port: guarded ? 0 : config.port,
    hostname: guarded ? "127.0.0.1" : config.bindAddr,
    ...(guarded ? {} : options.tls ?? {}),
    onListen: () => {},
    onError: (error) => {
      log.error("Unhandled error: {error}", { error: String(error) });
      return errorResponse(500, "Internal server error");
    },
  }, handler);
  if (guarded) {
    try {
      guard = startHeaderGuard({
        hostname: config.bindAddr,
        port: config.port,
        tls: options.tls,
        upstreamPort: (server.addr as Deno.NetAddr).port,
        headerTimeout: config.headerTimeout,
        maxHeadSize: config.maxHeaderSize + HEAD_LINE_SLACK,
      });
    } catch (error) {
      await server.shutdown();
      throw error;
    }
  }
  const addr = guard?.addr ?? server.addr as Deno.NetAddr;
  const advertise = detectAdvertiseAddress({
    advertiseAddr: options.advertiseAddr,
    bindAddr: config.bindAddr,
  });
  serverUrl = `${proto}://${advertise.includes(":") ? `[${advertise}]` : advertise}:${addr.port}`;

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
    });
  } catch (error) {
    await server.shutdown();
    const message = error instanceof Deno.errors.AddrInUse
      ? `the gossip port ${config.memberlistPort} is in use: pick another with --memberlist-port`
      : (error as Error).message;
    throw new Error(`Cannot start the cluster node: ${message}`, { cause: error });
  }
  replicas = new Replicas(cluster, {
    selfUrl: serverUrl,
    httpPort: addr.port,
    credential: options.gossipKey && clusterCredential(options.gossipKey),
    standalone: !options.peerDomain && !(options.join?.length),
  });
  owners = new OwnerLookup(replicas, {
    hitTtl: config.ownerCacheTtl,
    missTtl: config.ownerMissCacheTtl,
  });
  if (!options.gossipKey && !replicas.synced) {
    log.warn(
      "Clustering without --gossip-key: anyone who can reach the gossip port can join and is trusted by the replicas; keep port {port} on a private network or set --gossip-key",
      { port: config.memberlistPort },
    );
  }
  if (!sharedChannelKey && !replicas.synced) {
    log.warn(
      "No --channel-key or --gossip-key: channels die with this replica and peers verify each other's secrets over HTTP; set a shared key",
    );
  }

  const sweeper = setInterval(() => {
    const removed = channels.sweep(config.cleanupDuration, config.channelTtl);
    if (removed.length > 0) log.debug("Removed {count} idle channels", { count: removed.length });
  }, Math.min(config.cleanupDuration, config.channelTtl));

  let stopping: Promise<void> | undefined;
  const stopped = Promise.withResolvers<void>();
  const shutdown = () =>
    stopping ??= (async () => {
      draining = true;
      clearInterval(sweeper);
      const deadline = Date.now() + SERVER_DEFAULTS.shutdownGrace;
      while (inFlight > 0 && Date.now() < deadline) {
        await sleep(SHUTDOWN_POLL_INTERVAL);
      }
      // Close tunnels ourselves with a normal code and wait for the close handshakes: Deno's
      // server.shutdown() would cut them with 1001.
      const closing = [...sockets].map((socket) =>
        new Promise((resolve) => {
          socket.addEventListener("close", resolve, { once: true });
          socket.close(CLOSE_NORMAL, "Server shutting down");
        })
      );
      await withTimeout(Promise.all(closing), SERVER_DEFAULTS.closeGrace);
      // Whatever is still running fails now: open streams, relays, then the listener (bounded,
      // since a slow sender could keep a streaming response open indefinitely).
      for (const session of channels.sessions()) session.close();
      await relayHttp.close();
      await withTimeout(
        Promise.all([server.shutdown(), replicas.cluster.leave(CLUSTER_LEAVE_TIMEOUT)]),
        SERVER_DEFAULTS.closeGrace,
      );
      await guard?.close();
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
    shutdown,
  };
}

/**
 * Checks a request's header count and total size.
 * @returns A message for a 431 answer, or `undefined` when within limits.
 */
function checkHeaderLimits(
  headers: Headers,
  maxCount: number,
  maxSize: number,
): string | undefined {
  let count = 0;
  let size = 0;
  for (const [name, value] of headers) {
    count++;
    size += name.length + value.length;
  }
  if (count > maxCount) return `Too many header fields: ${count} (limit ${maxCount})`;
  if (size > maxSize) return `Headers too large: ${size} bytes (limit ${maxSize})`;
  return undefined;
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

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<
    T
  >;
}
