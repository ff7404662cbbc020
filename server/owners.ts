/**
 * Finds the replica whose client holds a channel, by asking the alive peers in parallel on a
 * miss (`GET /internal/channels/{id}`), with a short cache so bursts cost one lookup.
 *
 * @module
 */
import type { Replicas } from "./replicas.ts";

/** What a replica answers about one channel. */
export interface ChannelOwnership {
  /** The channel id. */
  channel_id: string;
  /** Whether its client is attached to this replica. */
  attached: boolean;
  /** This replica's URL. */
  server_url: string;
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
    const answers = await this.#replicas.gather<ChannelOwnership>(`/internal/channels/${id}`);
    const owner = answers.find((answer) => answer.body.attached)?.url;
    const ttl = owner ? this.#options.hitTtl : this.#options.missTtl;
    this.#cache.set(id, { url: owner, until: Date.now() + ttl });
    if (this.#cache.size > 10_000) this.#prune();
    return owner;
  }

  #prune(): void {
    const now = Date.now();
    for (const [id, entry] of this.#cache) if (entry.until <= now) this.#cache.delete(id);
  }
}
