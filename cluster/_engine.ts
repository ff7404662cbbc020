/**
 * The membership engine: SWIM with memberlist's Lifeguard refinements, as a state machine
 * driven by an injected {@linkcode Clock}, {@linkcode Random} and {@linkcode Transport}, so the
 * same code runs on real sockets and in the deterministic simulation.
 *
 * Behaviour follows memberlist (PROTOCOL.md §14): shuffled round-robin probes with indirect
 * probes and a TCP fallback, awareness-scaled deadlines, Lifeguard suspicion, refutation by
 * incarnation, transmit-limited piggybacked gossip, push/pull anti-entropy, leave and reaping.
 * Our additions (all on the wire as plain memberlist messages):
 * - a node that hears a new suspicion verifies it at once with its own probe (with probability
 *   `min(1, VERIFY_PROBES_EXPECTED / (n-2))`), so independent confirmations arrive within one
 *   probe interval instead of whenever the round-robin gets there;
 * - a fully confirmed suspicion ends after `CONFIRMED_SUSPICION_FLOOR` probe intervals instead
 *   of memberlist's 4 (see `defaults.ts` for the safety argument);
 * - a refutation goes straight to the accusers and triggers an immediate gossip round, and new
 *   suspicions and deaths are gossiped at once rather than at the next tick;
 * - timers that fire late by `STALL_LATENESS` reveal a stall of our own loop: the probe is
 *   inconclusive and an expiring suspicion waits `STALL_GRACE` for refutations;
 * - a suspect/dead about us with an incarnation we already refuted (the sender missed our
 *   refutation, e.g. under packet loss) is answered with our current `alive`, sent to that
 *   sender; memberlist ignores it and the sender's 24–48 s timer may then kill us;
 * - incarnations never jump implausibly (issue #13.11): a suspect/dead about another member more
 *   than `INCARNATION_JUMP_LIMIT` above what we know, or an alive beyond our fresh incarnation
 *   plus `INCARNATION_CLOCK_SLACK`, is dropped; an accusation or alive about us that far ahead is
 *   refuted under a fresh incarnation of our own instead of outbid (which could wrap to 0), so
 *   one spoofed message cannot remove a member for good. memberlist accepts both.
 *
 * @module
 */

import type { Clock, TimerHandle } from "./_clock.ts";
import { Awareness } from "./_awareness.ts";
import { BroadcastQueue, retransmitLimit } from "./_broadcast_queue.ts";
import { type AckHandler, Probe, type ProbeContext } from "./_probe.ts";
import { pickRandom, type Random, randomInt, shuffle } from "./_random.ts";
import { Suspicion, suspicionParams } from "./_suspicion.ts";
import {
  Counters,
  type EngineLogger,
  formatHostPort,
  type HostPort,
  type Transport,
} from "./_transport.ts";
import {
  AWARENESS_MAX_MULTIPLIER,
  CONFIRMED_SUSPICION_FLOOR,
  INCARNATION_CLOCK_SLACK,
  INCARNATION_JUMP_LIMIT,
  LOCAL_VSN,
  META_MAX_SIZE,
  PMAX_CRC,
  STALL_GRACE,
  STALL_LATENESS,
  TCP_TIMEOUT,
  VERIFY_PROBES_EXPECTED,
} from "./defaults.ts";
import type { Member, MemberEvent, MemberState, SwimTimings } from "./types.ts";
import {
  type AliveMessage,
  bytesToIp,
  COMPOUND_HEADER_OVERHEAD,
  COMPOUND_PART_OVERHEAD,
  type DeadMessage,
  type IndirectPingMessage,
  ipToBytes,
  type Message,
  type PingMessage,
  type PushNodeState,
  type PushPullMessage,
  type StreamMessage,
  type SuspectMessage,
} from "./wire/mod.ts";

/** Options of an {@linkcode Engine}. */
export interface EngineOptions {
  /** This node's name. */
  name: string;
  /** Address peers reach us at. */
  advertise: HostPort;
  /** Initial metadata (≤ 512 bytes). */
  meta: Uint8Array;
  /** Complete timings. */
  timings: SwimTimings;
  /** Time source. */
  clock: Clock;
  /** Random source. */
  random: Random;
  /** Outgoing transport. */
  transport: Transport;
  /** Logger. */
  logger: EngineLogger;
  /** Starting incarnation (uint32). */
  incarnation: number;
  /**
   * A fresh incarnation (the Unix time in seconds for real nodes): what we refute an implausible
   * accusation with, and what bounds an `alive` about others (plus `INCARNATION_CLOCK_SLACK`).
   * @default none: refute with our incarnation + 1, no bound on alive
   */
  freshIncarnation?: () => number;
  /** Counters shared with the transport. */
  counters: Counters;
  /**
   * Our refinements over memberlist (verification probes, confirmed floor, immediate gossip,
   * direct refutation, stall detection). False gives stock memberlist behaviour, the baseline
   * the simulation compares against. @default true
   */
  extensions?: boolean;
}

interface Record_ {
  name: string;
  ip: string;
  port: number;
  addr: Uint8Array;
  meta: Uint8Array;
  incarnation: number;
  state: MemberState;
  stateChange: number;
  vsn: Uint8Array;
}

const EMPTY = new Uint8Array(0);
const U32 = 0x1_0000_0000;
const U32_MAX = U32 - 1;
/** memberlist scales the push/pull interval above this many nodes. */
const PUSH_PULL_SCALE_THRESHOLD = 32;

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function validVsn(vsn: Uint8Array): boolean {
  if (vsn.length < 3) return true;
  return vsn[0] !== 0 && vsn[1] !== 0 && vsn[0] <= vsn[1];
}

/** SWIM/Lifeguard membership state machine. */
export class Engine {
  readonly #o: EngineOptions;
  readonly #t: SwimTimings;
  readonly #self: Record_;
  readonly #map = new Map<string, Record_>();
  /** Probe order and random-pick pool, like memberlist's `nodes` slice. */
  #nodes: Record_[] = [];
  #probeIndex = 0;
  #seq: number;
  readonly #acks = new Map<number, AckHandler>();
  readonly #suspicions = new Map<string, Suspicion>();
  readonly #queue: BroadcastQueue;
  readonly #awareness = new Awareness(AWARENESS_MAX_MULTIPLIER);
  readonly #timers = new Set<TimerHandle>();
  readonly #listeners = new Set<(event: MemberEvent) => void>();
  readonly #probingNow = new Set<string>();
  readonly #accusers = new Set<string>();
  #running = false;
  #leaving = false;
  #leaveDone: (() => void) | undefined;
  #probing = false;
  #probeMissed = false;
  #gossipSoon = false;
  #synced = false;
  readonly #stallLateness: number;
  readonly #ext: boolean;
  readonly #stallGrace: number;
  /** The engine's side of every probe, built once. */
  readonly #probeContext: ProbeContext;

  /** Creates the engine (not started). */
  constructor(options: EngineOptions) {
    this.#o = options;
    this.#t = options.timings;
    if (options.meta.length > META_MAX_SIZE) {
      throw new RangeError(
        `Cannot use node metadata: ${options.meta.length} bytes exceeds ${META_MAX_SIZE}`,
      );
    }
    this.#seq = randomInt(options.random, U32);
    this.#ext = options.extensions ?? true;
    this.#stallLateness = this.#ext ? Math.min(STALL_LATENESS, this.#t.probeTimeout) : Infinity;
    this.#stallGrace = Math.min(STALL_GRACE, this.#t.probeTimeout);
    this.#queue = new BroadcastQueue(() =>
      retransmitLimit(this.#t.retransmitMult, this.#nodes.length)
    );
    this.#self = {
      name: options.name,
      ip: options.advertise.ip,
      port: options.advertise.port,
      addr: ipToBytes(options.advertise.ip),
      meta: options.meta,
      incarnation: options.incarnation >>> 0,
      state: "alive",
      stateChange: options.clock.now(),
      vsn: Uint8Array.from(LOCAL_VSN),
    };
    this.#map.set(this.#self.name, this.#self);
    this.#nodes.push(this.#self);
    this.#probeContext = {
      clock: options.clock,
      timings: this.#t,
      awareness: this.#awareness,
      acks: this.#acks,
      counters: options.counters,
      logger: options.logger,
      self: this.#self,
      stallLateness: this.#stallLateness,
      extensions: this.#ext,
      running: () => this.#running,
      after: (ms, fn) => this.#after(ms, fn),
      clear: (handle) => this.#clear(handle),
      sendPacket: (to, messages) => options.transport.sendPacket(to, messages, crc(to)),
      sendPiggyback: (to, message) => this.#sendPiggyback(to, message, false),
      streamPing: (to, ping, timeoutMs, done) =>
        options.transport.streamPing(to, ping, timeoutMs, done),
      pickRelays: (target) =>
        pickRandom(
          options.random,
          this.#nodes,
          this.#t.indirectChecks,
          (m) => m !== this.#self && m !== target && m.state === "alive",
        ),
      suspect: (message) => this.#suspectNode(message),
    };
  }

  // ---------------------------------------------------------------- lifecycle

  /** Starts the probe, gossip and push/pull timers (each after a random stagger). */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#queueSelfAlive();
    this.#ticker(() => this.#t.probeInterval, () => this.#probeTick());
    this.#ticker(() => this.#t.gossipInterval, () => this.#gossip());
    if (this.#t.pushPullInterval > 0) {
      this.#ticker(() => this.#pushPullInterval(), () => this.#periodicPushPull());
    }
  }

  /** Stops every timer and forgets pending probes; the member list stays readable. */
  stop(): void {
    this.#running = false;
    for (const t of this.#timers) this.#o.clock.clearTimer(t);
    this.#timers.clear();
    this.#acks.clear();
    for (const s of this.#suspicions.values()) s.stop();
    this.#suspicions.clear();
    this.#queue.clear();
    this.#leaveDone?.();
  }

  /** True while started and not stopped. */
  get running(): boolean {
    return this.#running;
  }

  /** True once a push/pull with a peer completed (either direction). */
  get synced(): boolean {
    return this.#synced;
  }

  /** This node's name. */
  get name(): string {
    return this.#self.name;
  }

  /** Current local health score (0 = healthy). */
  get awareness(): number {
    return this.#awareness.score;
  }

  /** Number of entries in the member list (self, alive, suspect, dead/left not yet reaped). */
  get size(): number {
    return this.#nodes.length;
  }

  // ---------------------------------------------------------------- public queries

  /** Snapshot of all known members, sorted by name. */
  members(): Member[] {
    return [...this.#map.values()].map(toMember).sort((a, b) =>
      a.name < b.name ? -1 : a.name > b.name ? 1 : 0
    );
  }

  /** State of `name` as we see it, or undefined when unknown. */
  stateOf(name: string): MemberState | undefined {
    return this.#map.get(name)?.state;
  }

  /** Incarnation of `name` as we know it. */
  incarnationOf(name: string): number | undefined {
    return this.#map.get(name)?.incarnation;
  }

  /** Addresses of the other members currently alive or suspect. */
  liveAddresses(): HostPort[] {
    return this.#nodes
      .filter((m) => m !== this.#self && (m.state === "alive" || m.state === "suspect"))
      .map((m) => ({ ip: m.ip, port: m.port }));
  }

  /** Subscribes to member events; returns the unsubscribe function. */
  onEvent(listener: (event: MemberEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Replaces our metadata and gossips it with a higher incarnation.
   *
   * @throws {RangeError} When `meta` exceeds 512 bytes.
   */
  updateMeta(meta: Uint8Array): void {
    if (meta.length > META_MAX_SIZE) {
      throw new RangeError(`Cannot update metadata: ${meta.length} bytes exceeds ${META_MAX_SIZE}`);
    }
    this.#self.meta = meta.slice();
    this.#self.incarnation = (this.#self.incarnation + 1) >>> 0;
    this.#queueSelfAlive();
    this.#emit("update", this.#self);
    this.#gossipNow();
  }

  // ---------------------------------------------------------------- join, sync, leave

  /**
   * Push/pull with `to` (a join when `join`); merges the reply.
   *
   * @param done Called once, with the error on failure.
   */
  pushPull(to: HostPort, join: boolean, done: (error?: Error) => void): void {
    const request: PushPullMessage = {
      type: "pushPull",
      join,
      nodes: this.#localState(),
      userState: EMPTY,
    };
    this.#o.transport.pushPull(to, request, TCP_TIMEOUT, (reply) => {
      if (reply instanceof Error) {
        this.#o.counters.inc("pushPullFailures");
        done(reply);
        return;
      }
      if (!this.#running) return done(new Error("Cannot merge push/pull: engine stopped"));
      this.#merge(reply.nodes);
      this.#synced = true;
      this.#o.counters.inc("pushPulls");
      done();
    });
  }

  /**
   * Leaves gracefully: gossips `dead{node: self, from: self}` and calls `done` once it was sent
   * its full number of times, or after `timeoutMs`.
   */
  leave(timeoutMs: number, done: () => void): void {
    if (!this.#running || this.#leaving) return done();
    this.#leaving = true;
    let called = false;
    let timer: TimerHandle | undefined;
    const finish = () => {
      if (called) return;
      called = true;
      this.#leaveDone = undefined;
      if (timer !== undefined) this.#clear(timer);
      done();
    };
    const others = this.#nodes.some((m) =>
      m !== this.#self && (m.state === "alive" || m.state === "suspect")
    );
    this.#leaveDone = others ? finish : undefined;
    this.#deadNode({
      type: "dead",
      incarnation: this.#self.incarnation,
      node: this.#self.name,
      from: this.#self.name,
    });
    if (others) {
      timer = this.#after(timeoutMs, finish);
      this.#gossipNow();
    } else {
      finish();
    }
  }

  // ---------------------------------------------------------------- inbound

  /** Handles the messages of one received datagram (compounds are flattened). */
  handlePacket(messages: readonly Message[], from: HostPort): void {
    if (!this.#running) return;
    for (const m of messages) {
      try {
        this.#handleMessage(m, from);
      } catch (error) {
        // A well-formed but nonsensical message (bad address length…): drop it, keep running.
        this.#o.counters.inc("messagesRejected");
        this.#o.logger.debug("Dropped message {type} from {from}: {error}", {
          type: m.type,
          from: formatHostPort(from),
          error: String(error),
        });
      }
    }
  }

  /**
   * Handles one TCP request: ping → ack, pushPull → our state (then merges theirs).
   *
   * @returns The reply, or undefined when none is due.
   */
  handleStream(message: StreamMessage): StreamMessage | undefined {
    switch (message.type) {
      case "ping":
        if (message.node !== "" && message.node !== this.#self.name) {
          this.#o.counters.inc("pingsForOthers");
          return undefined;
        }
        return { type: "ack", seqNo: message.seqNo, payload: EMPTY };
      case "pushPull": {
        const reply: PushPullMessage = {
          type: "pushPull",
          join: message.join,
          nodes: this.#localState(),
          userState: EMPTY,
        };
        if (this.#running) {
          this.#merge(message.nodes);
          this.#synced = true;
        }
        return reply;
      }
      default:
        this.#o.counters.inc("streamIgnored");
        return undefined;
    }
  }

  #handleMessage(m: Message, from: HostPort): void {
    switch (m.type) {
      case "compound":
        for (const part of m.parts) this.#handleMessage(part, from);
        return;
      case "ping":
        return this.#handlePing(m, from);
      case "indirectPing":
        return this.#handleIndirectPing(m, from);
      case "ack":
        this.#acks.get(m.seqNo)?.onAck();
        return;
      case "nack":
        this.#acks.get(m.seqNo)?.onNack?.();
        return;
      case "alive":
        if (!validVsn(m.vsn)) {
          this.#o.counters.inc("messagesRejected");
          return;
        }
        return this.#aliveNode(m);
      case "suspect":
        return this.#suspectNode(m);
      case "dead":
        return this.#deadNode(m);
      case "user":
        this.#o.counters.inc("userMessages");
        return;
      default:
        this.#o.counters.inc("messagesUnexpected");
    }
  }

  #handlePing(p: PingMessage, from: HostPort): void {
    if (p.node !== "" && p.node !== this.#self.name) {
      this.#o.counters.inc("pingsForOthers");
      return;
    }
    const to = p.sourceAddr.length > 0 && p.sourcePort > 0
      ? { ip: bytesToIp(p.sourceAddr), port: p.sourcePort }
      : from;
    this.#sendPiggyback(to, { type: "ack", seqNo: p.seqNo, payload: EMPTY }, false);
  }

  #handleIndirectPing(req: IndirectPingMessage, from: HostPort): void {
    const requester = req.sourceAddr.length > 0 && req.sourcePort > 0
      ? { ip: bytesToIp(req.sourceAddr), port: req.sourcePort }
      : from;
    const target = { ip: bytesToIp(req.target), port: req.port || this.#self.port };
    const seq = this.#nextSeq();
    let timer: TimerHandle | undefined = undefined;
    this.#acks.set(seq, {
      onAck: () => {
        this.#acks.delete(seq);
        if (timer !== undefined) this.#clear(timer);
        this.#sendPiggyback(requester, { type: "ack", seqNo: req.seqNo, payload: EMPTY }, false);
      },
    });
    timer = this.#after(this.#t.probeTimeout, () => {
      this.#acks.delete(seq);
      if (req.nack) this.#sendPiggyback(requester, { type: "nack", seqNo: req.seqNo }, false);
    });
    this.#sendPiggyback(target, this.#ping(seq, req.node), false);
  }

  // ---------------------------------------------------------------- state rules

  #aliveNode(a: AliveMessage): void {
    if (this.#leaving && a.node === this.#self.name) return;
    if (a.node === "") return;
    let st = this.#map.get(a.node);
    if (st !== this.#self && this.#implausibleAlive(a.incarnation, st?.incarnation ?? 0)) {
      this.#dropImplausible(a.type, a.node, a.incarnation, st?.incarnation);
      return;
    }
    let updatesNode = false;
    const ip = bytesToIp(a.addr);
    const isNew = st === undefined;
    if (st === undefined) {
      st = {
        name: a.node,
        ip,
        port: a.port,
        addr: a.addr,
        meta: a.meta,
        incarnation: 0,
        state: "dead",
        stateChange: this.#o.clock.now(),
        vsn: a.vsn,
      };
      this.#map.set(a.node, st);
      // Insert at a random position so new members are probed at a random time.
      this.#nodes.push(st);
      const j = randomInt(this.#o.random, this.#nodes.length);
      const last = this.#nodes.length - 1;
      [this.#nodes[j], this.#nodes[last]] = [this.#nodes[last], this.#nodes[j]];
    } else if (st.ip !== ip || st.port !== a.port) {
      if (st.state === "left") {
        updatesNode = true;
      } else {
        this.#o.counters.inc("addressConflicts");
        this.#o.logger.debug("Conflicting address for {node}: {old} vs {new}", {
          node: a.node,
          old: `${st.ip}:${st.port}`,
          new: `${ip}:${a.port}`,
        });
        return;
      }
    }
    const isLocal = st === this.#self;
    if (a.incarnation <= st.incarnation && !isLocal && !updatesNode && !isNew) return;
    if (isNew && a.incarnation <= st.incarnation) {
      // memberlist keeps the placeholder (dead, incarnation 0); drop it instead.
      this.#removeNode(st);
      return;
    }
    if (a.incarnation < st.incarnation && isLocal) return;
    this.#stopSuspicion(a.node);
    if (isLocal) {
      if (
        a.incarnation === st.incarnation && bytesEqual(a.meta, st.meta) &&
        bytesEqual(a.vsn, st.vsn)
      ) return;
      this.#refute(a.incarnation);
      return;
    }
    this.#broadcast(a.node, a);
    const oldState = st.state;
    const changed = !bytesEqual(st.meta, a.meta) || st.ip !== ip || st.port !== a.port;
    st.incarnation = a.incarnation;
    st.meta = a.meta;
    st.ip = ip;
    st.port = a.port;
    st.addr = a.addr;
    if (a.vsn.length > 0) st.vsn = a.vsn;
    if (st.state !== "alive") {
      st.state = "alive";
      st.stateChange = this.#o.clock.now();
    }
    if (isNew || oldState === "dead" || oldState === "left") this.#emit("join", st);
    else if (changed || oldState !== "alive") this.#emit("update", st);
  }

  #suspectNode(s: SuspectMessage): void {
    const st = this.#map.get(s.node);
    if (st === undefined) return;
    if (st !== this.#self && s.incarnation - st.incarnation > INCARNATION_JUMP_LIMIT) {
      this.#dropImplausible(s.type, s.node, s.incarnation, st.incarnation);
      return;
    }
    if (s.incarnation < st.incarnation) {
      if (st === this.#self) this.#correctStaleAccuser(s.from);
      return;
    }
    const running = this.#suspicions.get(s.node);
    if (running !== undefined) {
      if (running.confirm(s.from)) {
        this.#o.counters.inc("suspicionConfirmations");
        this.#broadcast(s.node, s);
      }
      return;
    }
    if (st.state !== "alive") return;
    if (st === this.#self) {
      this.#accusers.add(s.from);
      this.#refute(s.incarnation);
      return;
    }
    this.#broadcast(s.node, s);
    st.incarnation = s.incarnation;
    st.state = "suspect";
    const changeTime = this.#o.clock.now();
    st.stateChange = changeTime;
    this.#o.counters.inc("suspicions");
    const params = suspicionParams(
      this.#nodes.length,
      this.#t,
      this.#ext ? CONFIRMED_SUSPICION_FLOOR : Infinity,
    );
    const suspicion = new Suspicion({
      ...params,
      clock: this.#o.clock,
      from: s.from,
      stallLateness: this.#stallLateness,
      stallGrace: this.#stallGrace,
      onTimeout: () => {
        if (this.#suspicions.get(st.name) === suspicion) this.#suspicions.delete(st.name);
        if (st.state !== "suspect" || st.stateChange !== changeTime) return;
        this.#o.logger.info("Marking {node} as failed, suspect timeout reached", {
          node: st.name,
          confirmations: suspicion.confirmations,
        });
        this.#o.counters.inc("deadVerdicts");
        this.#deadNode({
          type: "dead",
          incarnation: st.incarnation,
          node: st.name,
          from: this.#self.name,
        });
      },
    });
    this.#suspicions.set(s.node, suspicion);
    this.#emit("update", st);
    this.#gossipNow();
    if (s.from !== this.#self.name) this.#maybeVerify(st);
  }

  #deadNode(d: DeadMessage): void {
    const st = this.#map.get(d.node);
    if (st === undefined) return;
    if (st !== this.#self && d.incarnation - st.incarnation > INCARNATION_JUMP_LIMIT) {
      this.#dropImplausible(d.type, d.node, d.incarnation, st.incarnation);
      return;
    }
    if (d.incarnation < st.incarnation) {
      if (st === this.#self && !this.#leaving) this.#correctStaleAccuser(d.from);
      return;
    }
    this.#stopSuspicion(d.node);
    if (st.state === "dead" || st.state === "left") return;
    if (st === this.#self) {
      if (!this.#leaving) {
        this.#accusers.add(d.from);
        this.#refute(d.incarnation);
        return;
      }
      this.#broadcast(d.node, d, this.#leaveDone);
    } else {
      this.#broadcast(d.node, d);
    }
    st.incarnation = d.incarnation;
    st.state = d.node === d.from ? "left" : "dead";
    st.stateChange = this.#o.clock.now();
    this.#emit(st.state === "left" ? "leave" : "dead", st);
    this.#gossipNow();
  }

  #merge(nodes: readonly PushNodeState[]): void {
    for (const r of nodes) {
      try {
        switch (r.state) {
          case "alive":
            if (!validVsn(r.vsn)) continue;
            this.#aliveNode({
              type: "alive",
              incarnation: r.incarnation,
              node: r.name,
              addr: r.addr,
              port: r.port,
              meta: r.meta,
              vsn: r.vsn,
            });
            break;
          case "left":
            this.#deadNode({
              type: "dead",
              incarnation: r.incarnation,
              node: r.name,
              from: r.name,
            });
            break;
          default:
            // memberlist prefers to suspect what a peer believes dead.
            this.#suspectNode({
              type: "suspect",
              incarnation: r.incarnation,
              node: r.name,
              from: this.#self.name,
            });
        }
      } catch (error) {
        this.#o.counters.inc("messagesRejected");
        this.#o.logger.debug("Dropped push/pull entry {node}: {error}", {
          node: r.name,
          error: String(error),
        });
      }
    }
  }

  /** Whether an `alive` about another member runs implausibly far ahead (see the module doc). */
  #implausibleAlive(incarnation: number, known: number): boolean {
    const fresh = this.#o.freshIncarnation;
    if (fresh === undefined) return false;
    return incarnation - Math.max(known, fresh()) > INCARNATION_CLOCK_SLACK;
  }

  #dropImplausible(type: string, node: string, incarnation: number, known?: number): void {
    this.#o.counters.inc("implausibleIncarnations");
    this.#o.logger.debug(
      "Dropped a {type} about {node} with implausible incarnation {incarnation} (known: {known}); without a gossip key anyone can send gossip: set --gossip-key",
      { type, node, incarnation, known: known ?? "none" },
    );
  }

  #refute(accused: number): void {
    const own = this.#self.incarnation;
    let inc: number;
    if (accused - own > INCARNATION_JUMP_LIMIT) {
      // Outbidding would land near 2³² and wrap; no real member can know a much higher
      // incarnation of ours than we do, so this is a spoof: rejoin under a fresh one.
      this.#o.counters.inc("implausibleIncarnations");
      inc = Math.max(own + 1, this.#o.freshIncarnation?.() ?? 0);
      this.#o.logger.warn(
        "Refuting an accusation of ourselves with implausible incarnation {accused} (ours: {own}) under fresh incarnation {inc}; without a gossip key anyone can send gossip: set --gossip-key",
        { accused, own, inc },
      );
    } else {
      inc = Math.max(own, accused) + 1;
    }
    // Never wrap: at the top, stay there (only an accepted spoof could get us here).
    this.#self.incarnation = Math.min(inc, U32_MAX);
    this.#awareness.apply(1);
    this.#o.counters.inc("refutations");
    const alive = this.#queueSelfAlive();
    for (const name of this.#ext ? this.#accusers : []) {
      const m = this.#map.get(name);
      if (m !== undefined && m !== this.#self) this.#o.transport.sendPacket(m, [alive], crc(m));
    }
    this.#accusers.clear();
    this.#gossipNow();
  }

  /**
   * A peer accused us with an incarnation we already refuted: it missed the refutation (lost
   * under packet loss, and its suspicion would run out and kill us). memberlist ignores such a
   * message; we send that peer our current `alive` directly, which ends its suspicion.
   */
  #correctStaleAccuser(accuser: string): void {
    if (!this.#ext) return;
    const m = this.#map.get(accuser);
    if (m === undefined || m === this.#self) return;
    this.#o.counters.inc("staleAccusationsCorrected");
    this.#o.transport.sendPacket(m, [this.#selfAlive()], crc(m));
  }

  // ---------------------------------------------------------------- probing

  #probeTick(): void {
    if (this.#probing) {
      // Go's ticker keeps one pending tick while a probe blocks; run it when the probe ends.
      this.#probeMissed = true;
      return;
    }
    const target = this.#nextProbeTarget();
    if (target === undefined) return;
    this.#probing = true;
    this.#probeNode(target, () => {
      this.#probing = false;
      if (this.#probeMissed && this.#running) {
        this.#probeMissed = false;
        this.#probeTick();
      }
    });
  }

  #nextProbeTarget(): Record_ | undefined {
    for (let checked = 0; checked <= this.#nodes.length; checked++) {
      if (this.#probeIndex >= this.#nodes.length) {
        this.#resetNodes();
        this.#probeIndex = 0;
      }
      const m = this.#nodes[this.#probeIndex++];
      if (m === undefined || m === this.#self || m.state === "dead" || m.state === "left") {
        continue;
      }
      return m;
    }
    return undefined;
  }

  /** Reaps dead/left members older than gossipToTheDeadTime, then reshuffles (at wrap). */
  #resetNodes(): void {
    const now = this.#o.clock.now();
    const reaped = this.#nodes.filter((m) =>
      m !== this.#self && (m.state === "dead" || m.state === "left") &&
      now - m.stateChange > this.#t.gossipToTheDeadTime
    );
    for (const m of reaped) {
      this.#removeNode(m);
      this.#emit("reap", m);
    }
    shuffle(this.#o.random, this.#nodes);
  }

  #removeNode(m: Record_): void {
    this.#map.delete(m.name);
    this.#nodes = this.#nodes.filter((x) => x !== m);
    this.#stopSuspicion(m.name);
  }

  #maybeVerify(target: Record_): void {
    if (!this.#ext) return;
    const others = this.#nodes.length - 2;
    const p = others <= 0 ? 1 : Math.min(1, VERIFY_PROBES_EXPECTED / others);
    if (this.#o.random() >= p) return;
    if (this.#probingNow.has(target.name)) return;
    this.#o.counters.inc("verificationProbes");
    this.#probeNode(target, () => {});
  }

  /** One probe of `target` (see `_probe.ts`); `done` runs when it ends, whatever the verdict. */
  #probeNode(target: Record_, done: () => void): void {
    const ping = this.#ping(this.#nextSeq(), target.name);
    this.#probingNow.add(target.name);
    this.#o.counters.inc("probes");
    new Probe(this.#probeContext, target, ping, () => {
      this.#probingNow.delete(target.name);
      done();
    }).start();
  }

  #ping(seqNo: number, node: string): PingMessage {
    return {
      type: "ping",
      seqNo,
      node,
      sourceAddr: this.#self.addr,
      sourcePort: this.#self.port,
      sourceNode: this.#self.name,
    };
  }

  #nextSeq(): number {
    this.#seq = (this.#seq + 1) >>> 0;
    return this.#seq;
  }

  // ---------------------------------------------------------------- gossip

  #gossip(): void {
    const now = this.#o.clock.now();
    const targets = pickRandom(
      this.#o.random,
      this.#nodes,
      this.#t.gossipNodes,
      (m) =>
        m !== this.#self &&
        (m.state === "alive" || m.state === "suspect" ||
          (m.state === "dead" && now - m.stateChange <= this.#t.gossipToTheDeadTime)),
    );
    const budget = this.#o.transport.packetBudget - COMPOUND_HEADER_OVERHEAD;
    for (const m of targets) {
      const msgs = this.#queue.take(COMPOUND_PART_OVERHEAD, budget);
      if (msgs.length === 0) return;
      this.#o.counters.inc("gossipPackets");
      this.#o.transport.sendPacket(m, msgs, crc(m));
    }
  }

  /** Runs a gossip round right away (once per turn of the event loop). */
  #gossipNow(): void {
    if (this.#gossipSoon || !this.#running || !this.#ext) return;
    this.#gossipSoon = true;
    this.#after(0, () => {
      this.#gossipSoon = false;
      this.#gossip();
    });
  }

  #sendPiggyback(to: HostPort, message: Message, withCrc: boolean): void {
    const tr = this.#o.transport;
    const avail = tr.packetBudget - tr.encodedSize(message) - COMPOUND_HEADER_OVERHEAD;
    const extra = this.#queue.take(COMPOUND_PART_OVERHEAD, avail);
    tr.sendPacket(to, extra.length === 0 ? [message] : [message, ...extra], { crc: withCrc });
  }

  #broadcast(key: string, message: Message, onDone?: () => void): void {
    this.#queue.push(key, message, this.#o.transport.encodedSize(message), onDone);
  }

  #queueSelfAlive(): AliveMessage {
    const alive = this.#selfAlive();
    this.#broadcast(alive.node, alive);
    return alive;
  }

  #selfAlive(): AliveMessage {
    const s = this.#self;
    return {
      type: "alive",
      incarnation: s.incarnation,
      node: s.name,
      addr: s.addr,
      port: s.port,
      meta: s.meta,
      vsn: s.vsn,
    };
  }

  // ---------------------------------------------------------------- push/pull

  #pushPullInterval(): number {
    const n = this.#nodes.length;
    const base = this.#t.pushPullInterval;
    if (n <= PUSH_PULL_SCALE_THRESHOLD) return base;
    return base * (Math.ceil(Math.log2(n) - Math.log2(PUSH_PULL_SCALE_THRESHOLD)) + 1);
  }

  #periodicPushPull(): void {
    const [peer] = pickRandom(
      this.#o.random,
      this.#nodes,
      1,
      (m) => m !== this.#self && m.state === "alive",
    );
    if (peer === undefined) return;
    this.pushPull(peer, false, (error) => {
      if (error) {
        this.#o.logger.debug("Push/pull with {node} failed: {error}", {
          node: peer.name,
          error: error.message,
        });
      }
    });
  }

  #localState(): PushNodeState[] {
    return this.#nodes.map((m) => ({
      name: m.name,
      addr: m.addr,
      port: m.port,
      meta: m.meta,
      incarnation: m.incarnation,
      state: m.state,
      vsn: m.vsn.length === 6 ? m.vsn : Uint8Array.from(LOCAL_VSN),
    }));
  }

  // ---------------------------------------------------------------- helpers

  #stopSuspicion(name: string): void {
    const s = this.#suspicions.get(name);
    if (s === undefined) return;
    s.stop();
    this.#suspicions.delete(name);
  }

  #emit(kind: MemberEvent["kind"], m: Record_): void {
    if (this.#listeners.size === 0) return;
    const event: MemberEvent = { kind, member: toMember(m) };
    for (const l of [...this.#listeners]) {
      try {
        l(event);
      } catch (error) {
        this.#o.logger.warn("Member event listener threw: {error}", { error: String(error) });
      }
    }
  }

  #after(ms: number, fn: () => void): TimerHandle {
    const h = this.#o.clock.setTimer(ms, () => {
      this.#timers.delete(h);
      fn();
    });
    this.#timers.add(h);
    return h;
  }

  #clear(h: TimerHandle): void {
    this.#timers.delete(h);
    this.#o.clock.clearTimer(h);
  }

  #ticker(interval: () => number, fn: () => void): void {
    const tick = () => {
      if (!this.#running) return;
      this.#after(interval(), tick);
      fn();
    };
    this.#after(this.#o.random() * interval(), tick);
  }
}

function crc(m: { readonly vsn: Uint8Array }): { crc: boolean } {
  return { crc: m.vsn.length >= 2 && m.vsn[1] >= PMAX_CRC };
}

function toMember(m: Record_): Member {
  return {
    name: m.name,
    address: formatHostPort(m),
    meta: m.meta.slice(),
    state: m.state,
    incarnation: m.incarnation,
  };
}
