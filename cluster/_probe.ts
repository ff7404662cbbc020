/**
 * One SWIM probe of one member, as memberlist's `probeNode`: a direct ping; after
 * `probeTimeout` indirect pings through up to `indirectChecks` alive members and a TCP ping; at
 * the awareness-scaled deadline the member is suspected unless an ack came or our own loop was
 * stalled. The probe's state (which stage it is in, nacks expected and received, the TCP
 * fallback) lives in one {@linkcode Probe}; the engine gives it a {@linkcode ProbeContext}.
 *
 * @module
 */

import type { Awareness } from "./_awareness.ts";
import type { Clock, TimerHandle } from "./_clock.ts";
import type { Counters, EngineLogger, HostPort, Transport } from "./_transport.ts";
import { PMAX_NACK, PMAX_TCP_PING } from "./defaults.ts";
import type { MemberState, SwimTimings } from "./types.ts";
import type { IndirectPingMessage, Message, PingMessage, SuspectMessage } from "./wire/mod.ts";

/** What the engine does when an ack or nack with a probe's sequence number arrives. */
export interface AckHandler {
  /** An ack came (directly or relayed). */
  onAck(): void;
  /** A relay's nack came: it could not reach the target either. */
  onNack?(): void;
}

/** A member as a probe sees it: where it is, what it runs, what we know of its state. */
export interface ProbePeer extends HostPort {
  /** Member name. */
  readonly name: string;
  /** IP address as 4 or 16 bytes. */
  readonly addr: Uint8Array;
  /** Its incarnation (read when the probe starts: the suspicion is for that one). */
  readonly incarnation: number;
  /** Its state. */
  readonly state: MemberState;
  /** memberlist's version bytes: which messages it understands. */
  readonly vsn: Uint8Array;
}

/** What a probe needs from the engine running it. */
export interface ProbeContext {
  /** Time source. */
  readonly clock: Clock;
  /** Probe interval (before awareness scaling) and probe timeout. */
  readonly timings: Pick<SwimTimings, "probeInterval" | "probeTimeout">;
  /** Local health: scales the deadline, takes the probe's verdict. */
  readonly awareness: Awareness;
  /** Ack and nack handlers by sequence number. */
  readonly acks: Map<number, AckHandler>;
  /** Counters for `stats()`. */
  readonly counters: Counters;
  /** Logger. */
  readonly logger: EngineLogger;
  /** Our name, address and port, for indirect ping requests and suspicions. */
  readonly self: { readonly name: string; readonly addr: Uint8Array; readonly port: number };
  /** Lateness (ms) of a timer that reveals a stall of our own loop. */
  readonly stallLateness: number;
  /** Our refinements over memberlist are on (late nacks credited). */
  readonly extensions: boolean;
  /** Whether the engine still runs (a stopped engine suspects no one). */
  running(): boolean;
  /** Arms a timer the engine cancels when it stops. */
  after(ms: number, fn: () => void): TimerHandle;
  /** Cancels a timer from {@linkcode ProbeContext.after}. */
  clear(handle: TimerHandle): void;
  /** Sends messages in one packet (CRC as the peer understands it). */
  sendPacket(to: ProbePeer, messages: Message[]): void;
  /** Sends one message with queued gossip piggybacked. */
  sendPiggyback(to: HostPort, message: Message): void;
  /** The TCP fallback ping, see {@linkcode Transport.streamPing}. */
  streamPing: Transport["streamPing"];
  /** Up to `indirectChecks` random alive members other than us and `target`. */
  pickRelays(target: ProbePeer): ProbePeer[];
  /** Suspects the target (the engine's own `suspect` handling). */
  suspect(message: SuspectMessage): void;
}

/** One probe in flight; {@linkcode Probe.start} sends the first ping and arms its timers. */
export class Probe {
  readonly #ctx: ProbeContext;
  readonly #target: ProbePeer;
  readonly #ping: PingMessage;
  /** The target's incarnation at the start: an alive message may raise it while we probe. */
  readonly #incarnation: number;
  readonly #done: () => void;
  /** Awareness-scaled deadline, ms after `#sent`. */
  readonly #interval: number;
  readonly #sent: number;
  readonly #timers: TimerHandle[] = [];
  #finished = false;
  /** No indirect pings sent yet: an ack now is a direct one. */
  #direct = true;
  #stalled = false;
  #expectedNacks = 0;
  #nacks = 0;
  #tcp: "none" | "pending" | "failed" = "none";
  #deadlinePassed = false;

  /**
   * Prepares the probe.
   * @param ctx The engine's side.
   * @param target The member probed.
   * @param ping The ping to send it (its `seqNo` identifies the probe's acks).
   * @param done Called once when the probe ends, whatever the verdict.
   */
  constructor(ctx: ProbeContext, target: ProbePeer, ping: PingMessage, done: () => void) {
    this.#ctx = ctx;
    this.#target = target;
    this.#ping = ping;
    this.#incarnation = target.incarnation;
    this.#done = done;
    this.#interval = ctx.awareness.scale(ctx.timings.probeInterval);
    this.#sent = ctx.clock.now();
  }

  /** Sends the ping (with the "buddy" suspicion to a suspect) and arms both timers. */
  start(): void {
    const ctx = this.#ctx;
    const target = this.#target;
    const seq = this.#ping.seqNo;
    ctx.acks.set(seq, {
      onAck: () => {
        const wasDirect = this.#direct;
        if (!this.#finish()) return;
        ctx.counters.inc("probeAcks");
        if (wasDirect) ctx.awareness.apply(-1);
      },
      onNack: () => this.#nacks++,
    });
    if (target.state === "suspect") {
      // The "buddy" message: tell a suspect it is suspected so it can refute.
      const suspect: SuspectMessage = {
        type: "suspect",
        incarnation: this.#incarnation,
        node: target.name,
        from: ctx.self.name,
      };
      ctx.sendPacket(target, [this.#ping, suspect]);
    } else {
      ctx.sendPiggyback(target, this.#ping);
    }
    this.#timers.push(ctx.after(ctx.timings.probeTimeout, () => this.#onProbeTimeout()));
    this.#timers.push(ctx.after(this.#interval, () => this.#onDeadline()));
  }

  /** No direct ack within the probe timeout: ask relays, and try TCP. */
  #onProbeTimeout(): void {
    if (this.#finished) return;
    const ctx = this.#ctx;
    const target = this.#target;
    const { probeTimeout } = ctx.timings;
    if (ctx.clock.now() - (this.#sent + probeTimeout) > ctx.stallLateness) this.#stalled = true;
    this.#direct = false;
    for (const relay of ctx.pickRelays(target)) {
      const nack = relay.vsn.length < 2 || relay.vsn[1] >= PMAX_NACK;
      if (nack) this.#expectedNacks++;
      const req: IndirectPingMessage = {
        type: "indirectPing",
        seqNo: this.#ping.seqNo,
        target: target.addr,
        port: target.port,
        node: target.name,
        nack,
        sourceAddr: ctx.self.addr,
        sourcePort: ctx.self.port,
        sourceNode: ctx.self.name,
      };
      ctx.sendPiggyback(relay, req);
    }
    if (target.vsn.length < 2 || target.vsn[1] >= PMAX_TCP_PING) {
      this.#tcp = "pending";
      const left = Math.max(1, this.#sent + this.#interval - ctx.clock.now());
      ctx.streamPing(target, this.#ping, left, (ok) => this.#onStreamPing(ok));
    }
  }

  #onStreamPing(ok: boolean): void {
    if (this.#finished) return;
    if (ok) {
      this.#ctx.counters.inc("tcpFallbackSuccesses");
      this.#ctx.logger.debug("Was able to connect to {node} over TCP but not UDP", {
        node: this.#target.name,
      });
      this.#finish();
      return;
    }
    this.#tcp = "failed";
    if (this.#deadlinePassed) this.#conclude();
  }

  /** The deadline: conclude now, or when a pending TCP ping fails. */
  #onDeadline(): void {
    if (this.#finished) return;
    const ctx = this.#ctx;
    if (ctx.clock.now() - (this.#sent + this.#interval) > ctx.stallLateness) this.#stalled = true;
    this.#deadlinePassed = true;
    if (this.#tcp !== "pending") this.#conclude();
  }

  /** Ends the probe once; returns false if it had ended already. */
  #finish(): boolean {
    if (this.#finished) return false;
    this.#finished = true;
    this.#ctx.acks.delete(this.#ping.seqNo);
    for (const h of this.#timers) this.#ctx.clear(h);
    this.#done();
    return true;
  }

  /** No ack: suspect the target, unless our own loop was stalled. */
  #conclude(): void {
    if (!this.#finish()) return;
    const ctx = this.#ctx;
    const target = this.#target;
    if (!ctx.running()) return;
    if (this.#stalled) {
      ctx.counters.inc("probesInconclusive");
      ctx.awareness.apply(1);
      ctx.logger.debug("Probe of {node} inconclusive: local event loop stalled", {
        node: target.name,
      });
      return;
    }
    const missing = Math.max(0, this.#expectedNacks - this.#nacks);
    ctx.awareness.apply(this.#expectedNacks > 0 ? missing : 1);
    if (missing > 0 && ctx.extensions) this.#creditLateNacks(missing);
    ctx.counters.inc("probeFailures");
    ctx.logger.debug("Suspect {node} has failed, no acks received", { node: target.name });
    ctx.suspect({
      type: "suspect",
      incarnation: this.#incarnation,
      node: target.name,
      from: ctx.self.name,
    });
  }

  /**
   * Relays send their nack one probe timeout after they got our request, i.e. just after our
   * deadline (at LAN defaults probeInterval = 2 · probeTimeout), so memberlist usually counts
   * them as missing and raises its awareness by up to 3 for every probe of a really dead node,
   * slowing its next detection. We take back one point per nack arriving within one more probe
   * timeout: nacks prove our own network path works, which is what awareness measures.
   */
  #creditLateNacks(missing: number): void {
    const ctx = this.#ctx;
    const seq = this.#ping.seqNo;
    let credited = 0;
    const timer = ctx.after(ctx.timings.probeTimeout, () => ctx.acks.delete(seq));
    ctx.acks.set(seq, {
      onAck: () => {},
      onNack: () => {
        ctx.awareness.apply(-1);
        if (++credited >= missing) {
          ctx.acks.delete(seq);
          ctx.clear(timer);
        }
      },
    });
  }
}
