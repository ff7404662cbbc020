/**
 * The channels this replica knows, and the tunnel session attached to each.
 *
 * A channel is *issued* by `GET /new`, *attached* while a client's WebSocket is open, and
 * *detached* after the client left. Issued channels that never get a client are swept after
 * `cleanupAfter`; detached ones after `detachedTtl` (their webhooks get 503 meanwhile, so
 * senders retry instead of giving up). A client attaching to a channel that has one may take it
 * over (the older session is evicted, see `takeover.ts`); each channel remembers when its client
 * attached and, for `--max-channels-per-ip`, which address it was issued to.
 *
 * @module
 */
import type { OfflineMode, TunnelSession } from "../protocol/mod.ts";

/** One channel's state. */
export interface Channel {
  /** The channel id (UUID v4). */
  readonly id: string;
  /** When it was issued or first seen, in ms since the epoch. */
  readonly createdAt: number;
  /** The attached client's session, if any. */
  session?: TunnelSession;
  /** When the last client left, if one ever attached and none is attached now. */
  detachedAt?: number;
  /**
   * When the current (or last) client attached, ms since the epoch: how the cluster tells the
   * newer of two claims to one channel (see `takeover.ts`).
   */
  attachedAt?: number;
  /** Closes the attached session because a newer client took the channel over. */
  evict?: (reason: string) => void;
  /** Webhook deliveries in flight. */
  inFlight: number;
  /** The client address `GET /new` issued it to (for `--max-channels-per-ip`), if issued here. */
  readonly issuedTo?: string;
  /**
   * The offline mode of the attached (or last) client that asked for queueing (`X-Wow-Offline`);
   * unset for clients that did not. Kept in the queue store too (`offline.ts`).
   */
  offline?: OfflineMode;
  /**
   * True while the channel's queue may hold deliveries the attached client has not had yet:
   * new webhooks then join the end of the queue instead of overtaking it (`drain.ts`).
   */
  draining?: boolean;
  /** Webhooks being written to the queue right now (the drain waits for them before passthrough resumes). */
  enqueuing?: number;
}

/** Result of {@linkcode ChannelRegistry.attach}. */
export type AttachResult = "attached" | "busy" | "full";

/** Options for {@linkcode ChannelRegistry.attach}. */
export interface AttachOptions {
  /** When the client attached, ms since the epoch. @default the registry's clock */
  attachedAt?: number;
  /** Closes this session when a newer client takes the channel over. */
  evict?: (reason: string) => void;
  /**
   * Take the channel over from a client attached here: its session is evicted with this
   * reason. Unset: such a channel answers `busy`.
   */
  takeOver?: string;
}

/** Options for {@linkcode ChannelRegistry}. */
export interface ChannelRegistryOptions {
  /** Maximum number of channels (issued + attached + detached). @default Infinity */
  maxChannels?: number;
  /** Clock. @default Date.now */
  now?: () => number;
}

/** Keeps every channel of this replica; see the module doc. */
export class ChannelRegistry {
  #channels = new Map<string, Channel>();
  #perIp = new Map<string, number>();
  #maxChannels: number;
  #now: () => number;

  /**
   * Creates an empty registry.
   * @param options Limits and clock.
   */
  constructor(options: ChannelRegistryOptions = {}) {
    this.#maxChannels = options.maxChannels ?? Infinity;
    this.#now = options.now ?? Date.now;
  }

  /** Number of channels. */
  get size(): number {
    return this.#channels.size;
  }

  /** True when no further channel may be created. */
  get full(): boolean {
    return this.#channels.size >= this.#maxChannels;
  }

  /**
   * Records a newly issued channel.
   * @param id The new id.
   * @param issuedTo The client address it is issued to (counted by {@linkcode heldBy}).
   * @returns The channel, or `undefined` when the registry is full.
   */
  issue(id: string, issuedTo?: string): Channel | undefined {
    if (this.full) return undefined;
    const base = { id, createdAt: this.#now(), inFlight: 0 };
    const channel: Channel = issuedTo === undefined ? base : { ...base, issuedTo };
    this.#channels.set(id, channel);
    if (issuedTo !== undefined) this.#perIp.set(issuedTo, this.heldBy(issuedTo) + 1);
    return channel;
  }

  /**
   * How many of this replica's channels were issued to `ip` and are still kept.
   * @param ip A client address.
   * @returns The count.
   */
  heldBy(ip: string): number {
    return this.#perIp.get(ip) ?? 0;
  }

  /**
   * Looks a channel up.
   * @param id Channel id.
   * @returns The channel or `undefined`.
   */
  get(id: string): Channel | undefined {
    return this.#channels.get(id);
  }

  /**
   * Attaches a session, creating the channel when it is not known here (a client with a valid
   * secret coming back after a restart, or attaching on another replica than the issuing one).
   * @param id Channel id.
   * @param session The client's session.
   * @param options When it attached, how to evict it, whether to take over.
   * @returns `attached`, `busy` when another client holds it (and `takeOver` is unset), `full`
   * when over the cap.
   */
  attach(id: string, session: TunnelSession, options: AttachOptions = {}): AttachResult {
    let channel = this.#channels.get(id);
    if (channel?.session) {
      if (options.takeOver === undefined) return "busy";
      this.takeOver(id, options.takeOver);
    }
    if (!channel) {
      channel = this.issue(id);
      if (!channel) return "full";
    }
    channel.session = session;
    channel.evict = options.evict;
    channel.attachedAt = options.attachedAt ?? this.#now();
    channel.detachedAt = undefined;
    return "attached";
  }

  /**
   * Evicts the session attached to `id`, if any: a newer client took the channel over.
   * @param id Channel id.
   * @param reason Why, for the evicted client.
   * @returns Whether a session was evicted.
   */
  takeOver(id: string, reason: string): boolean {
    const channel = this.#channels.get(id);
    const session = channel?.session;
    if (!channel || !session) return false;
    const evict = channel.evict;
    this.detach(id, session);
    evict?.(reason);
    return true;
  }

  /**
   * Detaches a session if it is still the channel's current one.
   * @param id Channel id.
   * @param session The session that closed.
   */
  detach(id: string, session: TunnelSession): void {
    const channel = this.#channels.get(id);
    if (!channel || channel.session !== session) return;
    channel.session = undefined;
    channel.evict = undefined;
    channel.detachedAt = this.#now();
  }

  /**
   * Removes issued channels never attached for `cleanupAfter` ms and detached channels older
   * than `detachedTtl` ms.
   * @param cleanupAfter Age limit of never-attached channels.
   * @param detachedTtl Age limit of detached channels.
   * @returns The removed ids.
   */
  sweep(cleanupAfter: number, detachedTtl: number): string[] {
    const now = this.#now();
    const removed: string[] = [];
    for (const channel of this.#channels.values()) {
      if (channel.session) continue;
      const expired = channel.detachedAt === undefined
        ? now - channel.createdAt >= cleanupAfter
        : now - channel.detachedAt >= detachedTtl;
      if (expired && channel.inFlight === 0) removed.push(channel.id);
    }
    for (const id of removed) this.#remove(id);
    return removed;
  }

  #remove(id: string): void {
    const ip = this.#channels.get(id)?.issuedTo;
    this.#channels.delete(id);
    if (ip === undefined) return;
    const held = this.heldBy(ip) - 1;
    if (held > 0) this.#perIp.set(ip, held);
    else this.#perIp.delete(ip);
  }

  /**
   * Every channel id.
   * @returns The ids, sorted.
   */
  ids(): string[] {
    return [...this.#channels.keys()].sort();
  }

  /**
   * Channels with a client attached here.
   * @returns The ids, sorted.
   */
  attachedIds(): string[] {
    return [...this.#channels.values()].filter((c) => c.session).map((c) => c.id).sort();
  }

  /**
   * When each channel's client last attached here, for channels that ever had one.
   * @returns Attach times by channel id (ms since the epoch), keys sorted.
   */
  attachTimes(): Record<string, number> {
    const times: Record<string, number> = {};
    for (const id of this.ids()) {
      const at = this.#channels.get(id)!.attachedAt;
      if (at !== undefined) times[id] = at;
    }
    return times;
  }

  /**
   * Every attached tunnel session.
   * @returns The sessions.
   */
  sessions(): TunnelSession[] {
    return [...this.#channels.values()].flatMap((c) => c.session ? [c.session] : []);
  }

  /**
   * Channels by state, for `wow_channels`: attached (a client is here), detached (one left),
   * issued (never attached).
   * @returns The counts.
   */
  stateCounts(): { attached: number; detached: number; issued: number } {
    const counts = { attached: 0, detached: 0, issued: 0 };
    for (const c of this.#channels.values()) {
      if (c.session) counts.attached++;
      else if (c.detachedAt !== undefined) counts.detached++;
      else counts.issued++;
    }
    return counts;
  }
}
