/**
 * Public types of the cluster membership layer (memberlist-compatible SWIM).
 *
 * This file is the contract between `cluster/` and its users (`server/`). The
 * cluster knows nothing about HTTP tunnels: it offers membership, events and
 * member metadata (opaque bytes; the server stores its HTTP URL there).
 *
 * @module
 */

/** State of a member as this node sees it. */
export type MemberState = "alive" | "suspect" | "dead" | "left";

/** One member of the cluster as this node sees it. */
export interface Member {
  /** Unique node name (memberlist `Node`). */
  name: string;
  /** Gossip address as `ip:port`. */
  address: string;
  /** Opaque node metadata (≤ 512 bytes, memberlist's MetaMaxSize). */
  meta: Uint8Array;
  /** Current state. */
  state: MemberState;
  /** Latest incarnation number known for the member. */
  incarnation: number;
}

/** Event emitted when a member joins, changes state, updates metadata or is reaped. */
export interface MemberEvent {
  /** What happened. */
  kind: "join" | "update" | "leave" | "dead" | "reap";
  /** The member after the change. */
  member: Member;
}

/**
 * Told of every increment of a {@linkcode ClusterHandle.stats} counter as it happens, so a user
 * (the server's Prometheus metrics) can keep its own counters without `cluster/` knowing about
 * them. Called on the hot path of every packet: keep it cheap; it must not throw.
 *
 * Counters a metrics user is likely to want (all named as in `stats()`):
 * - `probes` started, `probeAcks` (acknowledged directly or through another member),
 *   `tcpFallbackSuccesses` (acknowledged over the TCP fallback), `probeFailures` (no ack: the
 *   member is suspected), `probesInconclusive` (our own loop stalled: no verdict);
 * - `suspicions` (a member marked suspect here), `refutations` (we refuted a suspicion of
 *   ourselves), `deadVerdicts` (a suspicion of a member timed out here: declared dead);
 * - `udpSent`/`udpSentBytes`, `udpReceived`/`udpReceivedBytes` (datagrams),
 *   `tcpSent`/`tcpSentBytes`, `tcpReceived`/`tcpReceivedBytes` (stream messages: push/pull,
 *   TCP pings and their replies);
 * - `udpDecodeErrors`, `udpDecryptErrors`, `udpPartsDropped`, `tcpDecodeErrors`,
 *   `tcpDecryptErrors` (input dropped because it did not decode or authenticate).
 */
export interface ClusterObserver {
  /**
   * A counter moved.
   * @param name The counter's `stats()` name.
   * @param by How much it grew.
   */
  counted(name: string, by: number): void;
}

/** Options for {@linkcode startCluster}. */
export interface ClusterOptions {
  /** Node name. @default `HOSTNAME`, else `node-<8 hex>` */
  nodeName?: string;
  /** Address the UDP and TCP gossip listeners bind to. @default "0.0.0.0" */
  bindAddr?: string;
  /** Address advertised to peers (must be reachable by them). */
  advertiseAddr: string;
  /** Gossip port (UDP and TCP). 0 picks a free port. @default 7946 */
  port?: number;
  /** Initial metadata of this node. @default empty */
  meta?: Uint8Array;
  /** Shared keyring key (16, 24 or 32 bytes) for memberlist-compatible AES-GCM. */
  gossipKey?: Uint8Array;
  /** Static seeds, `host[:port]`. */
  join?: string[];
  /** DNS name resolved every `syncInterval` ms; new A/AAAA addresses are joined. */
  peerDomain?: string;
  /** DNS name server to use instead of the system resolver (tests), `ip:port`. */
  dnsServer?: string;
  /** Interval of peer-domain resolution in ms. @default 5000 */
  syncInterval?: number;
  /** Timing overrides; defaults are memberlist's LAN profile. */
  timings?: Partial<SwimTimings>;
  /** Aborting this signal leaves gracefully and closes the listeners. */
  signal?: AbortSignal;
  /** Told of every counter increment (metrics). @default none */
  observer?: ClusterObserver;
}

/** SWIM timing knobs, in milliseconds (memberlist LAN defaults noted). */
export interface SwimTimings {
  /** Time between probes of one random member. @default 1000 */
  probeInterval: number;
  /** How long to wait for a direct ack before probing indirectly. @default 500 */
  probeTimeout: number;
  /** Members asked to probe indirectly when a direct probe fails. @default 3 */
  indirectChecks: number;
  /** Suspicion timeout multiplier: mult × log10(N) × probe interval. @default 4 */
  suspicionMult: number;
  /** Upper bound of the suspicion timeout as a multiple of its minimum. @default 6 */
  suspicionMaxTimeoutMult: number;
  /** Time between gossip rounds. @default 200 */
  gossipInterval: number;
  /** Members gossiped to per round. @default 3 */
  gossipNodes: number;
  /** Time between full state syncs with one random member. @default 30000 */
  pushPullInterval: number;
  /** A broadcast is retransmitted retransmitMult × log10(N+1) times. @default 4 */
  retransmitMult: number;
  /** How long dead members still receive gossip (so they can refute). @default 30000 */
  gossipToTheDeadTime: number;
}

/** Handle of a running cluster node. */
export interface ClusterHandle {
  /** This node's name. */
  readonly localName: string;
  /**
   * Resolves once the node has stopped (after `leave()`, `shutdown()` or the abort signal).
   * Added beside DESIGN.md's `{ addr, finished, shutdown() }` handle shape.
   */
  readonly finished: Promise<void>;
  /** The gossip address actually bound, `ip:port`. */
  readonly address: string;
  /** Snapshot of all known members including this node, sorted by name. */
  members(): Member[];
  /** Replace this node's metadata and gossip it (alive with a higher incarnation). */
  updateMeta(meta: Uint8Array): void;
  /** Join via the given `host[:port]` seeds; resolves to the number joined. */
  join(seeds: string[]): Promise<number>;
  /** True once this node has completed a push-pull with at least one peer, or has no seeds/domain configured and waited one sync interval. */
  readonly synced: boolean;
  /** Subscribe to membership events; returns an unsubscribe function. */
  onEvent(listener: (event: MemberEvent) => void): () => void;
  /** Counters for observability (dropped packets, decode errors, ...). */
  stats(): Record<string, number>;
  /** Broadcast a leave, wait for it to propagate (≤ timeout), stop. */
  leave(timeoutMs?: number): Promise<void>;
  /** Stop immediately (no leave message). */
  shutdown(): Promise<void>;
}
