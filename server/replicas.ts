/**
 * The server's view of its cluster: which replicas are alive, their HTTP URLs (carried in the
 * gossip metadata), and authenticated calls between replicas.
 *
 * A member's metadata is JSON `{"server_url": "http://10.0.0.5:8080"}`. A member without it (a
 * Go original replica, whose memberlist metadata is empty) is reached at
 * `http://<gossip address>:<our own HTTP port>`: mixed clusters need the same HTTP port
 * everywhere.
 *
 * @module
 */
import { createHmac } from "node:crypto";
import type { ClusterHandle, Member } from "../cluster/mod.ts";

import { CLUSTER_AUTH_HEADER } from "../protocol/wire.ts";
import type { HeaderLookup } from "../protocol/providers.ts";

export { CLUSTER_AUTH_HEADER, FORWARDED_HEADER } from "../protocol/wire.ts";

/** How long a replica-to-replica JSON call may take before the peer is skipped, ms. */
export const PEER_CALL_TIMEOUT = 1500;

/** One replica as `/internal/members` shows it. */
export interface ReplicaInfo {
  /** Node name. */
  name: string;
  /** Gossip address `ip:port`. */
  address: string;
  /** HTTP URL. */
  server_url: string;
  /** Membership state. */
  state: Member["state"];
  /** Incarnation number. */
  incarnation: number;
}

/**
 * Encodes this replica's gossip metadata.
 * @param serverUrl The replica's HTTP URL.
 * @returns The metadata bytes.
 */
export function encodeMeta(serverUrl: string): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({ server_url: serverUrl }));
}

/**
 * The credential replicas send each other: `HMAC-SHA256(secret, "wow-internal")`, base64url,
 * where the secret is the gossip key or, without one, the shared admin token (never sent itself).
 * @param gossipKey The shared gossip key (or the admin token's bytes).
 * @returns The header value.
 */
export function clusterCredential(gossipKey: Uint8Array): string {
  return createHmac("sha256", gossipKey).update("wow-internal").digest("base64url");
}

/**
 * The channel key derived from the gossip key, so every replica accepts the same channel ids and
 * secrets without a separate `--channel-key`.
 * @param gossipKey The shared gossip key.
 * @returns Key bytes.
 */
export function channelKeyFromGossipKey(gossipKey: Uint8Array): Uint8Array {
  return new Uint8Array(createHmac("sha256", gossipKey).update("wow-channel-key").digest());
}

/** A peer answered a replica call with a non-2xx status. */
export class PeerHttpError extends Error {
  /** The HTTP status. */
  readonly status: number;
  /**
   * Creates the error.
   * @param url The URL called.
   * @param status The status it answered.
   */
  constructor(url: string, status: number) {
    super(`${url}: HTTP ${status}`);
    this.name = "PeerHttpError";
    this.status = status;
  }
}

/** The IP of a member's gossip address (`ip:port` or `[v6]:port`). */
function hostOf(member: Member): string {
  return member.address.replace(/:\d+$/, "").replace(/^\[(.*)\]$/, "$1");
}

/** Wraps the cluster handle with what the HTTP server needs. */
export class Replicas {
  #cluster: ClusterHandle;
  #selfUrl: string;
  #httpPort: number;
  #credential: string | undefined;
  #standalone: boolean;

  /**
   * Wraps a running cluster node.
   * @param cluster The running cluster node.
   * @param options This replica's URL and HTTP port, the credential, and whether no peers are
   * configured at all (then the replica counts as synced at once).
   */
  constructor(
    cluster: ClusterHandle,
    options: { selfUrl: string; httpPort: number; credential?: string; standalone: boolean },
  ) {
    this.#cluster = cluster;
    this.#selfUrl = options.selfUrl;
    this.#httpPort = options.httpPort;
    this.#credential = options.credential;
    this.#standalone = options.standalone;
  }

  /** The cluster node. */
  get cluster(): ClusterHandle {
    return this.#cluster;
  }

  /** True once this replica has synced with the cluster (or runs alone by configuration). */
  get synced(): boolean {
    return this.#standalone || this.#cluster.synced;
  }

  /** The headers that authenticate a call to another replica. */
  authHeaders(): Record<string, string> {
    return this.#credential ? { [CLUSTER_AUTH_HEADER]: this.#credential } : {};
  }

  /**
   * Whether a request carries the replica credential (always false without a gossip key).
   * @param request The request.
   * @returns Whether it is from a replica.
   */
  isReplicaCall(request: HeaderLookup): boolean {
    return this.#credential !== undefined &&
      request.get(CLUSTER_AUTH_HEADER) === this.#credential;
  }

  /** True when a gossip key (and so a credential) is configured. */
  get authenticated(): boolean {
    return this.#credential !== undefined;
  }

  /**
   * Whether `ip` is the gossip address of a known alive member (the only peers trusted to relay
   * when no gossip key authenticates them).
   * @param ip An IP address.
   * @returns Whether it belongs to an alive member.
   */
  isMemberAddress(ip: string): boolean {
    return this.#cluster.members().some((member) =>
      member.state === "alive" && hostOf(member) === ip
    );
  }

  /**
   * Every known member with its HTTP URL.
   * @returns The members, sorted by name.
   */
  members(): ReplicaInfo[] {
    return this.#cluster.members().map((member) => ({
      name: member.name,
      address: member.address,
      server_url: member.name === this.#cluster.localName ? this.#selfUrl : this.urlOf(member),
      state: member.state,
      incarnation: member.incarnation,
    }));
  }

  /** This replica's node name. */
  get localName(): string {
    return this.#cluster.localName;
  }

  /**
   * The alive members other than this one, each with the URL its gossip address allows (see
   * {@linkcode urlOf}; never a URL a peer's HTTP answer names).
   * @returns The peers, sorted by URL.
   */
  peers(): { name: string; url: string }[] {
    return this.members()
      .filter((m) => m.state === "alive" && m.name !== this.#cluster.localName)
      .map((m) => ({ name: m.name, url: m.server_url }))
      .sort((a, b) => a.url < b.url ? -1 : a.url > b.url ? 1 : 0);
  }

  /**
   * HTTP URLs of the alive members other than this one.
   * @returns The URLs, sorted.
   */
  peerUrls(): string[] {
    return this.peers().map((peer) => peer.url);
  }

  /**
   * The URL of the alive member named `name`.
   * @param name A node name.
   * @returns Its URL, or `undefined` when no alive member has that name.
   */
  urlOfNode(name: string): string | undefined {
    if (name === this.#cluster.localName) return this.#selfUrl;
    return this.peers().find((peer) => peer.name === name)?.url;
  }

  /**
   * The HTTP URL of a member: from its metadata, else its gossip IP with our HTTP port.
   * @param member The member.
   * @returns The URL.
   */
  urlOf(member: Member): string {
    try {
      const meta = JSON.parse(new TextDecoder().decode(member.meta));
      // A member may only point at its own address: a rogue member cannot send relays or
      // Traefik elsewhere.
      if (
        typeof meta?.server_url === "string" && /^https?:\/\//.test(meta.server_url) &&
        new URL(meta.server_url).hostname.replace(/^\[(.*)\]$/, "$1") === hostOf(member)
      ) {
        return meta.server_url;
      }
    } catch {
      // Not our metadata (a Go original replica): fall through.
    }
    const host = hostOf(member);
    return `http://${host.includes(":") ? `[${host}]` : host}:${this.#httpPort}`;
  }

  /**
   * GETs a JSON document from every alive peer in parallel; peers that fail or take longer than
   * {@linkcode PEER_CALL_TIMEOUT} are left out.
   * @param path Path on the peers, e.g. `/internal/channels`.
   * @returns The documents that arrived, with their peer URL.
   */
  async gather<T>(
    path: string,
    headers: Record<string, string> = {},
  ): Promise<{ url: string; body: T }[]> {
    const results = await Promise.allSettled(
      this.peerUrls().map(async (url) => ({
        url,
        body: await this.getJson<T>(url + path, headers),
      })),
    );
    return results.flatMap((result) => result.status === "fulfilled" ? [result.value] : []);
  }

  /**
   * POSTs a JSON document to a peer with the credential and a timeout.
   * @param url Full URL.
   * @param body The document.
   * @returns The status and the parsed answer (`undefined` when it is no JSON).
   * @throws When the peer cannot be reached or times out.
   */
  async postJson(url: string, body: unknown): Promise<{ status: number; body: unknown }> {
    const response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", ...this.authHeaders() },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(PEER_CALL_TIMEOUT),
    });
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    return { status: response.status, body: parsed };
  }

  /**
   * GETs one JSON document from a peer with the credential and a timeout.
   * @param url Full URL.
   * @param headers Extra headers.
   * @returns The parsed body.
   * @throws When the peer fails, answers non-2xx or times out.
   */
  async getJson<T>(url: string, headers: Record<string, string> = {}): Promise<T> {
    const response = await fetch(url, {
      headers: { ...headers, ...this.authHeaders() },
      signal: AbortSignal.timeout(PEER_CALL_TIMEOUT),
    });
    if (!response.ok) {
      await response.body?.cancel();
      throw new PeerHttpError(url, response.status);
    }
    return await response.json() as T;
  }
}
