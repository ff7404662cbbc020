/**
 * Defaults and limits of the cluster layer, in one place, each with the reason for its value.
 *
 * Timing defaults are HashiCorp memberlist's LAN profile (`DefaultLANConfig`, PROTOCOL.md §13)
 * so that our nodes behave like Go nodes next to them. Our own refinements (faster confirmed
 * suspicion, stall detection, verification probes) have their own constants below.
 *
 * @module
 */

import type { SwimTimings } from "./types.ts";

/** memberlist's LAN timings (PROTOCOL.md §13). */
export const DEFAULT_TIMINGS: Readonly<SwimTimings> = Object.freeze({
  probeInterval: 1000,
  probeTimeout: 500,
  indirectChecks: 3,
  suspicionMult: 4,
  suspicionMaxTimeoutMult: 6,
  gossipInterval: 200,
  gossipNodes: 3,
  pushPullInterval: 30_000,
  retransmitMult: 4,
  gossipToTheDeadTime: 30_000,
});

/**
 * Fast timings for tests and the convergence figure: 20 ms probes as in memberlist's own
 * convergence test, every other timer shrunk in proportion so a run takes well under a second.
 */
export const FAST_TEST_TIMINGS: Readonly<SwimTimings> = Object.freeze({
  probeInterval: 20,
  probeTimeout: 10,
  indirectChecks: 3,
  suspicionMult: 4,
  suspicionMaxTimeoutMult: 6,
  gossipInterval: 10,
  gossipNodes: 3,
  pushPullInterval: 1000,
  retransmitMult: 4,
  gossipToTheDeadTime: 1000,
});

/** Gossip port (UDP and TCP), memberlist's `BindPort`. */
export const DEFAULT_PORT = 7946;

/** Bind address of the gossip listeners: all interfaces, as memberlist. */
export const DEFAULT_BIND_ADDR = "0.0.0.0";

/** Interval of peer-domain resolution and of seed-join retries (the CLI's sync duration). */
export const DEFAULT_SYNC_INTERVAL = 5000;

/**
 * Byte budget of one UDP packet, memberlist's `UDPBufferSize`: Go fills packets up to this, and
 * it stays below a 1500-byte Ethernet MTU after IP/UDP headers so packets are not fragmented.
 */
export const UDP_PACKET_BUDGET = 1400;

/** Receive buffer of the UDP socket: the largest datagram memberlist reads. */
export const UDP_RECEIVE_BUFFER = 65_536;

/**
 * Most datagrams waiting in the send queue (memberlist's `HandoffQueueDepth`). Gossip is
 * best-effort: when a node falls this far behind, dropping is better than growing memory.
 */
export const UDP_SEND_QUEUE_DEPTH = 1024;

/**
 * Datagrams sent back to back before the sender yields to the event loop. DESIGN.md: ~100
 * datagrams of 1400 B in one burst can overflow the receiver's kernel buffer.
 */
export const UDP_SEND_BURST = 16;

/** Deadline of one whole TCP exchange, memberlist's `TCPTimeout`. */
export const TCP_TIMEOUT = 10_000;

/**
 * Most TCP exchanges served at once; memberlist allows 128 concurrent push/pulls and closes
 * further connections without replying.
 */
export const MAX_CONCURRENT_STREAMS = 128;

/** Largest node metadata, memberlist's `MetaMaxSize`. */
export const META_MAX_SIZE = 512;

/** Local health score bound, memberlist's `AwarenessMaxMultiplier` (score in 0…7). */
export const AWARENESS_MAX_MULTIPLIER = 8;

/**
 * Our protocol and delegate versions `[PMin, PMax, PCur, DMin, DMax, DCur]`: what a Go node
 * without delegate versions sends (PROTOCOL.md §12), so Go's push/pull range check passes and it
 * uses CRC, nacks and TCP fallback pings towards us.
 */
export const LOCAL_VSN: readonly number[] = Object.freeze([1, 5, 2, 0, 0, 0]);

/** Protocol `PMax` from which a peer gets TCP fallback pings (PROTOCOL.md §12). */
export const PMAX_TCP_PING = 3;

/** Protocol `PMax` from which a peer is asked for nacks on indirect pings. */
export const PMAX_NACK = 4;

/** Protocol `PMax` from which gossip to a peer carries a CRC. */
export const PMAX_CRC = 5;

/**
 * Floor of a fully confirmed suspicion, in probe intervals × max(1, log10 n).
 *
 * memberlist never goes below `suspicionMult · max(1, log10 n) · probeInterval` (4 s at LAN
 * defaults), which with the ≈0.6 s wait for the first probe, the 1 s probe and gossip gives the
 * ≈6 s median detection memberlist is known for. We keep memberlist's whole formula (timer
 * starts at the maximum and shrinks with independent confirmations) but, once the suspicion has
 * *all* its `k` independent confirmations, it may end after `1.5 · probeInterval` instead of
 * 4 s: at 5 nodes that is ≈0.6 + 1 + 1.5 + gossip ≈ 3.2 s median, ≤ 5.5 s p99.
 *
 * Why this is safe against false verdicts:
 * - confirmations only come from nodes whose *own* probe failed (we verify suspicions at once,
 *   see {@linkcode VERIFY_PROBES_EXPECTED}), so the floor needs k + 1 independent failures;
 * - a node stalled for S seconds is first suspected ≥ 1 probe interval after the stall began and
 *   declared dead ≥ (1 + 1.5) intervals after it (later in practice: the confirmations need the
 *   verifiers' own probes to fail); it refutes as soon as it runs again and sends the refutation
 *   straight to its accusers, so the 2 s stall target has margin (the simulation survives
 *   repeated 2.6 s stalls with 0 false verdicts; 3 s stalls are declared dead);
 * - a single accusation (no confirmations) keeps memberlist's 24 s start, so loss alone does
 *   not kill (0 false verdicts at 10% loss in the simulation).
 *
 * Only the *time* at which we declare changes; every message is plain memberlist, and Go nodes
 * accept our `dead` like any other.
 */
export const CONFIRMED_SUSPICION_FLOOR = 1.5;

/**
 * Expected number of nodes that verify a suspicion they hear about by probing the suspect at
 * once (out of round-robin order). Each node does so with probability
 * `min(1, VERIFY_PROBES_EXPECTED / (n - 2))`, so small clusters verify fully and large ones
 * do not flood the suspect. A failed verification is an independent confirmation (a plain
 * `suspect` from us); a successful one adds nothing.
 */
export const VERIFY_PROBES_EXPECTED = 6;

/**
 * A timer that fires this much later than planned means our own event loop was stalled (GC,
 * a blocked loop, a paused VM). A probe whose deadline fired that late is inconclusive (the ack
 * may be waiting unread in the socket), and an expiring suspicion is given
 * {@linkcode STALL_GRACE} to read refutations first. Normal timer jitter is a few ms; GC pauses
 * are well under this.
 */
export const STALL_LATENESS = 200;

/**
 * Extra time an expiring suspicion waits after a stall, so queued refutations are read. Both
 * this and {@linkcode STALL_LATENESS} are capped at the probe timeout, so fast test timings
 * (10 ms probe timeouts) treat a saturated event loop the same way.
 */
export const STALL_GRACE = 100;

/**
 * Smallest packet body worth trying to LZW-compress. Go tries every packet, but a ping or ack
 * (≈ 70 bytes) never shrinks, and trying costs ~25 µs of JS per packet; compression is
 * optional on the wire (Go reads both).
 */
export const UDP_COMPRESS_MIN = 256;

/** Time `leave()` waits for the leave message to be gossiped by default. */
export const DEFAULT_LEAVE_TIMEOUT = 5000;

/**
 * Largest rise of a member's incarnation we accept in a `suspect` or `dead` about it (and, for
 * an accusation of ourselves, the largest we refute by outbidding). A member raises its own
 * incarnation by one per refutation or metadata change, so an accuser that heard updates we
 * missed is a few ahead at most; 1024 allows a long partition's worth. Without a gossip key
 * anyone can send gossip: a spoofed `dead` with incarnation 2³²−1 would otherwise be accepted by
 * every member, and its victim's refutation (+1) would wrap to 0 and lose forever (issue #13.11).
 * Dropping an implausible accusation costs nothing: our own probes still find a dead member.
 */
export const INCARNATION_JUMP_LIMIT = 1024;

/**
 * How far an `alive` about another member may run ahead of our own fresh incarnation (the Unix
 * time in seconds, see `_cluster.ts`), seconds: a day of clock skew. A restarted member comes
 * back with its start time as incarnation, so an `alive` may jump far above what we knew, but
 * never far above the clock; Go memberlist members start at 0 and stay small.
 */
export const INCARNATION_CLOCK_SLACK = 86_400;
