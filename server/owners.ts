/**
 * Finds the replica whose client holds a channel, by asking the alive peers in parallel on a
 * miss (`GET /internal/channels/{id}`, or the Go original's `/internal/channels` list where that
 * is missing), with a short cache so bursts cost one lookup.
 *
 * A peer is reached at its gossip address's URL (`Replicas.urlOf`); the `server_url` in its
 * answer is never used. When several peers claim the client, the one whose client attached last
 * (`attached_at`) wins and the conflict is logged; when their times tie, none does (the webhook
 * gets the answer for an unheld channel) rather than whichever URL sorts first.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { PeerHttpError, type Replicas } from "./replicas.ts";
import { isAttachTime } from "./takeover.ts";

const log = getLogger(["wow", "server"]);

/** What a replica answers about one channel. */
export interface ChannelOwnership {
  /** The channel id. */
  channel_id: string;
  /** Whether its client is attached to this replica. */
  attached: boolean;
  /** This replica's URL (informational: peers use the replica's gossip address instead). */
  server_url: string;
  /** When its client attached, ms since the epoch (absent from a Go original replica). */
  attached_at?: number;
}

/** Options for {@linkcode OwnerLookup}. */
export interface OwnerLookupOptions {
  /** How long a found owner is remembered, ms. */
  hitTtl: number;
  /** How long "nobody holds it" is remembered, ms. */
  missTtl: number;
}

/** Looks channel owners up among the peers; see the module doc. */
export class OwnerLookup {
  #replicas: Replicas;
  #options: OwnerLookupOptions;
  #cache = new Map<string, { url: string | undefined; until: number }>();
  #pending = new Map<string, Promise<string | undefined>>();

  /**
   * @param replicas The cluster view.
   * @param options Cache lifetimes.
   */
  constructor(replicas: Replicas, options: OwnerLookupOptions) {
    this.#replicas = replicas;
    this.#options = options;
  }

  /**
   * The URL of the peer holding `id`'s client, if any.
   * @param id Channel id.
   * @returns The peer's URL or `undefined`.
   */
  find(id: string): Promise<string | undefined> {
    const cached = this.#cache.get(id);
    if (cached && cached.until > Date.now()) return Promise.resolve(cached.url);
    const pending = this.#pending.get(id);
    if (pending) return pending;
    const lookup = this.#ask(id).finally(() => this.#pending.delete(id));
    this.#pending.set(id, lookup);
    return lookup;
  }

  /**
   * Forgets what is known about `id` (after a relay found the owner gone).
   * @param id Channel id.
   */
  forget(id: string): void {
    this.#cache.delete(id);
  }

  async #ask(id: string): Promise<string | undefined> {
    const peers = this.#replicas.peerUrls();
    const answers = await Promise.all(peers.map((url) => this.#holds(url, id)));
    const claims = peers.flatMap((url, i) => {
      const at = answers[i];
      return at === undefined ? [] : [{ url, at }];
    });
    const top = Math.max(...claims.map((claim) => claim.at));
    const best = claims.filter((claim) => claim.at === top);
    const owner = best.length === 1 ? best[0].url : undefined;
    if (claims.length > 1) {
      log.warn("Channel {channelId} is claimed by {urls}; relaying to {owner}", {
        channelId: id,
        urls: claims.map((claim) => claim.url).join(", "),
        owner: owner ?? "none (their attach times tie)",
      });
    }
    const ttl = owner ? this.#options.hitTtl : this.#options.missTtl;
    this.#cache.set(id, { url: owner, until: Date.now() + ttl });
    if (this.#cache.size > 10_000) this.#prune();
    return owner;
  }

  /**
   * When the client of `id` attached to the replica at `url` (0 when it does not say), or
   * `undefined` when it does not hold it. A Go original replica has no
   * `/internal/channels/{id}`: on a 404, its full `/internal/channels` list is read instead.
   */
  async #holds(url: string, id: string): Promise<number | undefined> {
    try {
      const answer = await this.#replicas.getJson<ChannelOwnership>(
        `${url}/internal/channels/${id}`,
      );
      if (answer.attached !== true) return undefined;
      return isAttachTime(answer.attached_at) ? answer.attached_at : 0;
    } catch (error) {
      if (!(error instanceof PeerHttpError) || error.status !== 404) return undefined;
    }
    try {
      const list = await this.#replicas.getJson<{ webhook_channels?: unknown }>(
        `${url}/internal/channels`,
      );
      return Array.isArray(list.webhook_channels) && list.webhook_channels.includes(id)
        ? 0
        : undefined;
    } catch {
      return undefined;
    }
  }

  #prune(): void {
    const now = Date.now();
    for (const [id, entry] of this.#cache) if (entry.until <= now) this.#cache.delete(id);
  }
}
