/**
 * `GET /traefik-config`: routes for every channel of every alive replica, gathered in parallel
 * (an unreachable replica is left out after a short timeout), deterministic on every replica.
 * Each peer is routed to at the URL of its gossip address; what it lists is checked (see
 * `buildTraefikConfig`), and a client attached here that a peer's newer claim outranks is
 * closed (a takeover announcement this replica missed).
 * 503 until this replica has synced with the cluster, because Traefik applies an empty answer and
 * would drop every route. `?format=yaml` answers YAML.
 *
 * @module
 */
import type { ServerRequest } from "../../http1/mod.ts";
import { getLogger } from "@logtape/logtape";
import type { ServerContext } from "../context.ts";
import { catchUpTakeovers } from "../takeover.ts";
import { HttpError } from "../http_error.ts";
import type { RequestInfo } from "../router.ts";
import { buildTraefikConfig, renderTraefikConfig, type ReplicaChannels } from "../traefik.ts";
import { localChannels } from "./internal_channels.ts";

const log = getLogger(["wow", "server"]);

/**
 * The `/traefik-config` handler.
 * @param _request The request.
 * @param ctx The server's context.
 * @param info The request's info.
 * @returns The dynamic configuration.
 */
export async function traefikConfig(
  _request: ServerRequest,
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
  const gathered = await ctx.replicas.gather<ReplicaChannels>("/internal/channels");
  // A peer is routed to at its gossip address's URL, whatever its answer names.
  const peers = gathered.flatMap(({ url, body }) =>
    isReplicaChannels(body) ? [{ ...body, server_url: url }] : []
  );
  const dropped = new Map<string, string[]>();
  const conflicts: string[] = [];
  const config = buildTraefikConfig([localChannels(ctx), ...peers], {
    onDropped: (url, id) => dropped.set(url, [...dropped.get(url) ?? [], id]),
    onConflict: (id, urls, winner) =>
      conflicts.push(`${id} (${urls.join(", ")} → ${winner ?? "none, their attach times tie"})`),
  });
  logIssues(dropped, conflicts);
  catchUpTakeovers(ctx, peers);
  const format = info.url.searchParams.get("format") === "yaml" ? "yaml" : "json";
  const text = renderTraefikConfig(config, format);
  ctx.metrics.traefikGathered("ok", (performance.now() - started) / 1000);
  return new Response(text, {
    headers: { "content-type": format === "yaml" ? "application/yaml" : "application/json" },
  });
}

/** Most examples one log line quotes. */
const LOGGED_EXAMPLES = 3;

/** One line per replica that listed ids that are no channel ids, one for claim conflicts. */
function logIssues(dropped: Map<string, string[]>, conflicts: string[]): void {
  for (const [url, ids] of dropped) {
    log.warn("Ignored {count} ids listed by replica {url} that are no channel ids, e.g. {ids}", {
      count: ids.length,
      url,
      ids: ids.slice(0, LOGGED_EXAMPLES).map((id) => JSON.stringify(id.slice(0, 80))).join(", "),
    });
  }
  if (conflicts.length > 0) {
    log.warn(
      "{count} channels are claimed by several replicas; routed to the latest attach: {list}",
      {
        count: conflicts.length,
        list: conflicts.slice(0, LOGGED_EXAMPLES).join("; "),
      },
    );
  }
}

function isReplicaChannels(value: unknown): value is ReplicaChannels {
  const v = value as ReplicaChannels;
  if (
    v?.attached_at !== undefined && (typeof v.attached_at !== "object" || v.attached_at === null)
  ) {
    return false;
  }
  return Array.isArray(v?.ws_channels) && Array.isArray(v.webhook_channels) &&
    [...v.ws_channels, ...v.webhook_channels].every((id) => typeof id === "string");
}
