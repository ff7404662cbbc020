/**
 * `GET /traefik-config`: routes for every channel of every alive replica, gathered in parallel
 * (an unreachable replica is left out after a short timeout), deterministic on every replica.
 * 503 until this replica has synced with the cluster, because Traefik applies an empty answer and
 * would drop every route. `?format=yaml` answers YAML.
 *
 * @module
 */
import type { ServerContext } from "../context.ts";
import { HttpError } from "../http_error.ts";
import type { RequestInfo } from "../router.ts";
import { buildTraefikConfig, renderTraefikConfig, type ReplicaChannels } from "../traefik.ts";
import { localChannels } from "./internal_channels.ts";

/**
 * The `/traefik-config` handler.
 * @param _request The request.
 * @param ctx The server's context.
 * @param info The request's info.
 * @returns The dynamic configuration.
 */
export async function traefikConfig(
  _request: Request,
  ctx: ServerContext,
  info: RequestInfo,
): Promise<Response> {
  const started = performance.now();
  if (!ctx.replicas.synced) {
    ctx.metrics.traefikGathered("not_synced", 0);
    throw new HttpError(503, "This replica has not synced with the cluster yet; retry shortly", {
      headers: { "retry-after": "1" },
    });
  }
  const peers = await ctx.replicas.gather<ReplicaChannels>("/internal/channels");
  const all = [localChannels(ctx), ...peers.map((peer) => peer.body)].filter(isReplicaChannels);
  const format = info.url.searchParams.get("format") === "yaml" ? "yaml" : "json";
  const text = renderTraefikConfig(buildTraefikConfig(all), format);
  ctx.metrics.traefikGathered("ok", (performance.now() - started) / 1000);
  return new Response(text, {
    headers: { "content-type": format === "yaml" ? "application/yaml" : "application/json" },
  });
}

function isReplicaChannels(value: unknown): value is ReplicaChannels {
  const v = value as ReplicaChannels;
  return typeof v?.server_url === "string" && Array.isArray(v.ws_channels) &&
    Array.isArray(v.webhook_channels) &&
    [...v.ws_channels, ...v.webhook_channels].every((id) => typeof id === "string");
}
