/**
 * Builds Traefik dynamic configuration (HTTP provider) from the channels each replica holds, in
 * the Go original's shape: router `webhook-<id>` for attached channels, router `ws-<id>` for
 * every issued channel, both to service `service-<id>` pointing at the replica's URL.
 *
 * Peers' answers are not trusted: a channel routes to a replica's gossip-derived URL only, ids
 * must be channel ids, and two claims are resolved by attach time (see
 * {@linkcode buildTraefikConfig}). The output is deterministic: channels sorted by id, keys in a fixed order, so that every replica
 * renders byte-identical JSON for the same state (Traefik skips a body equal to the last one).
 *
 * @module
 */
import YAML from "yaml";
import { isChannelId } from "../protocol/wire.ts";
import { isAttachTime } from "./takeover.ts";

/** Channels held by one replica, as in `GET /internal/channels`. */
export interface ReplicaChannels {
  /**
   * The replica's HTTP URL, e.g. `http://10.0.0.5:8080`. From a peer, the caller puts the URL
   * of its gossip address here (`Replicas.urlOf`), never the one the peer's answer names.
   */
  server_url: string;
  /** Every channel the replica issued or holds. */
  ws_channels: string[];
  /** Channels with a client attached on this replica. */
  webhook_channels: string[];
  /** When each channel's client last attached there, ms since the epoch (absent: Go original). */
  attached_at?: Record<string, number>;
}

/** A Traefik router. */
interface Router {
  rule: string;
  service: string;
}

/** Traefik dynamic configuration, or `{}` when there are no channels. */
export interface TraefikConfig {
  /** HTTP routers and services. */
  http?: {
    routers: Record<string, Router>;
    services: Record<string, { loadBalancer: { servers: { url: string }[] } }>;
  };
}

/** Options for {@linkcode buildTraefikConfig}: hooks to log what was left out. */
export interface BuildTraefikOptions {
  /** Called for each listed id that is no channel id (it is left out). */
  onDropped?: (url: string, id: string) => void;
  /**
   * Called when several replicas claim a client attached to one channel, with the claimants'
   * URLs and the one routed to (`undefined`: none, their attach times tie).
   */
  onConflict?: (id: string, urls: string[], winner: string | undefined) => void;
}

/** One replica's claim to a channel. */
interface Claim {
  url: string;
  at: number;
}

/**
 * Builds the configuration. A channel routes to the replica holding its client; when several
 * claim it, to the one whose client attached last (`attached_at`), and to none when their times
 * tie. A channel nobody holds routes to the replica that listed it (issued, or its client left),
 * the latest attach again deciding between several and a tie giving no route (Traefik's
 * catch-all then sends the attach to any replica). Ids that are no channel ids are left out, so
 * no peer can inject a rule. Never decided by the order of URLs.
 *
 * @param replicas Channels per replica.
 * @param options Hooks for what was left out.
 * @returns The configuration.
 */
export function buildTraefikConfig(
  replicas: readonly ReplicaChannels[],
  options: BuildTraefikOptions = {},
): TraefikConfig {
  const attached = new Map<string, Claim[]>();
  const listed = new Map<string, Claim[]>();
  for (const replica of replicas) {
    const claim = (id: string): Claim => ({ url: replica.server_url, at: attachTime(replica, id) });
    const all = [...replica.webhook_channels, ...replica.ws_channels];
    for (const id of new Set(all.filter((id) => !isChannelId(id)))) {
      options.onDropped?.(replica.server_url, id);
    }
    for (const id of new Set(replica.webhook_channels.filter(isChannelId))) {
      attached.set(id, [...attached.get(id) ?? [], claim(id)]);
    }
    for (const id of new Set(replica.ws_channels.filter(isChannelId))) {
      listed.set(id, [...listed.get(id) ?? [], claim(id)]);
    }
  }
  const owner = new Map<string, { url: string; attached: boolean }>();
  for (const [id, claims] of attached) {
    const winner = latest(claims);
    if (claims.length > 1) {
      options.onConflict?.(id, claims.map((c) => c.url).sort(compare), winner);
    }
    if (winner) owner.set(id, { url: winner, attached: true });
  }
  for (const [id, claims] of listed) {
    if (attached.has(id)) continue;
    const winner = latest(claims);
    if (winner) owner.set(id, { url: winner, attached: false });
  }
  if (owner.size === 0) return {};
  const routers: Record<string, Router> = {};
  const services: Record<string, { loadBalancer: { servers: { url: string }[] } }> = {};
  const ids = [...owner.keys()].sort(compare);
  for (const id of ids) {
    const { url, attached } = owner.get(id)!;
    const service = `service-${id}`;
    if (attached) {
      routers[`webhook-${id}`] = { rule: `PathPrefix(\`/webhook/${id}\`)`, service };
    }
    routers[`ws-${id}`] = { rule: `PathPrefix(\`/ws/${id}\`)`, service };
    services[service] = { loadBalancer: { servers: [{ url }] } };
  }
  return { http: { routers: sortKeys(routers), services } };
}

/** A replica's attach time for `id`; 0 when it sent none or an implausible one. */
function attachTime(replica: ReplicaChannels, id: string): number {
  const at = replica.attached_at?.[id];
  return isAttachTime(at) ? at : 0;
}

/** The URL of the claim that attached last, or `undefined` when the latest time is shared. */
function latest(claims: readonly Claim[]): string | undefined {
  const top = Math.max(...claims.map((c) => c.at));
  const best = claims.filter((c) => c.at === top);
  return best.length === 1 ? best[0].url : undefined;
}

/**
 * Renders the configuration as JSON (default) or YAML.
 * @param config The configuration.
 * @param format `json` or `yaml`.
 * @returns The body text.
 */
export function renderTraefikConfig(config: TraefikConfig, format: "json" | "yaml"): string {
  return format === "yaml" ? YAML.stringify(config) : JSON.stringify(config);
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function sortKeys<T>(record: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => compare(a, b)));
}
