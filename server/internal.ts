/**
 * Operator and replica endpoints: `/internal/channels` (the Go original's shape),
 * `/internal/channels/{id}` (who holds one channel), `/internal/channels/{id}/verify` (does a
 * secret match, for replicas without a shared key), `/internal/members` (with the gossip
 * counters: dropped, undecodable and undecryptable packets…), and `/traefik-config`
 * gathered from every alive replica.
 *
 * @module
 */
import { errorResponse, jsonResponse } from "./_http.ts";
import type { ChannelRegistry } from "./channels.ts";
import type { ChannelSecrets } from "./secrets.ts";
import type { Replicas } from "./replicas.ts";
import { buildTraefikConfig, renderTraefikConfig, type ReplicaChannels } from "./traefik.ts";

/** What the internal handlers need. */
export interface InternalContext {
  /** This replica's channels. */
  channels: ChannelRegistry;
  /** Channel secrets. */
  secrets: ChannelSecrets;
  /** The cluster view. */
  replicas: Replicas;
  /** This replica's URL. */
  serverUrl: () => string;
}

/** Header a client (or a replica verifying for it) sends a channel secret in. */
export const CHANNEL_SECRET_HEADER = "x-channel-secret";

/**
 * This replica's channels in the Go original's `/internal/channels` shape.
 * @param context The server's state.
 * @returns The document.
 */
export function localChannels(context: InternalContext): ReplicaChannels {
  return {
    ws_channels: context.channels.ids(),
    webhook_channels: context.channels.attachedIds(),
    server_url: context.serverUrl(),
  };
}

/**
 * Handles `GET /internal/*`; the caller has checked authorization.
 * @param path The request path.
 * @param request The request.
 * @param context The server's state.
 * @returns The response.
 */
export function handleInternal(path: string, request: Request, context: InternalContext): Response {
  if (path === "/internal/channels") return jsonResponse(200, localChannels(context));
  if (path === "/internal/members") {
    return jsonResponse(200, {
      members: context.replicas.members(),
      stats: context.replicas.cluster.stats(),
    });
  }
  const match = /^\/internal\/channels\/([0-9a-f-]{36})(\/verify)?$/.exec(path);
  if (match) {
    const [, id, verify] = match;
    if (verify) {
      const secret = request.headers.get(CHANNEL_SECRET_HEADER);
      return jsonResponse(200, { channel_id: id, valid: context.secrets.verify(id, secret) });
    }
    return jsonResponse(200, {
      channel_id: id,
      attached: Boolean(context.channels.get(id)?.session),
      server_url: context.serverUrl(),
    });
  }
  return errorResponse(404, `No route for GET ${path}`);
}

/**
 * `GET /traefik-config`: routes for every channel of every alive replica, gathered in parallel
 * (an unreachable replica is left out after a short timeout), deterministic on every replica.
 * 503 until this replica has synced with the cluster, because Traefik applies an empty answer
 * and would drop every route.
 *
 * @param url The request URL (`?format=yaml` for YAML).
 * @param context The server's state.
 * @returns The response.
 */
export async function handleTraefikConfig(url: URL, context: InternalContext): Promise<Response> {
  if (!context.replicas.synced) {
    return errorResponse(503, "This replica has not synced with the cluster yet; retry shortly", {
      "retry-after": "1",
    });
  }
  const peers = await context.replicas.gather<ReplicaChannels>("/internal/channels");
  const all = [localChannels(context), ...peers.map((peer) => peer.body)].filter(isReplicaChannels);
  const format = url.searchParams.get("format") === "yaml" ? "yaml" : "json";
  return new Response(renderTraefikConfig(buildTraefikConfig(all), format), {
    headers: { "content-type": format === "yaml" ? "application/yaml" : "application/json" },
  });
}

function isReplicaChannels(value: unknown): value is ReplicaChannels {
  const v = value as ReplicaChannels;
  return typeof v?.server_url === "string" && Array.isArray(v.ws_channels) &&
    Array.isArray(v.webhook_channels) &&
    [...v.ws_channels, ...v.webhook_channels].every((id) => typeof id === "string");
}
