/**
 * Builds Traefik dynamic configuration (HTTP provider) from the channels each replica holds, in
 * the Go original's shape: router `webhook-<id>` for attached channels, router `ws-<id>` for
 * every issued channel, both to service `service-<id>` pointing at the replica's URL.
 *
 * The output is deterministic: channels sorted by id, keys in a fixed order, so that every replica
 * renders byte-identical JSON for the same state (Traefik skips a body equal to the last one).
 *
 * @module
 */
import YAML from "yaml";

/** Channels held by one replica, as in `GET /internal/channels`. */
export interface ReplicaChannels {
  /** The replica's HTTP URL, e.g. `http://10.0.0.5:8080`. */
  server_url: string;
  /** Every channel the replica issued or holds. */
  ws_channels: string[];
  /** Channels with a client attached on this replica. */
  webhook_channels: string[];
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

/**
 * Builds the configuration. A channel attached on one replica routes there even when another
 * replica also lists it as issued; otherwise its issuing replica with the smallest URL wins.
 *
 * @param replicas Channels per replica.
 * @returns The configuration.
 */
export function buildTraefikConfig(replicas: readonly ReplicaChannels[]): TraefikConfig {
  const owner = new Map<string, { url: string; attached: boolean }>();
  const ordered = [...replicas].sort((a, b) => compare(a.server_url, b.server_url));
  for (const replica of ordered) {
    for (const id of replica.webhook_channels) {
      if (!owner.get(id)?.attached) owner.set(id, { url: replica.server_url, attached: true });
    }
  }
  for (const replica of ordered) {
    for (const id of replica.ws_channels) {
      if (!owner.has(id)) owner.set(id, { url: replica.server_url, attached: false });
    }
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
