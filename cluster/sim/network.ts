/**
 * A seeded, lossy virtual network for the simulation: UDP datagrams are lost with a fixed
 * probability and delayed by a random latency; TCP exchanges always arrive unless the peer is
 * gone, but a lost SYN/segment costs a retransmission timeout, as on a real lossy link.
 *
 * @module
 */

import type { Random } from "../_random.ts";
import { formatHostPort, type HostPort, type Transport } from "../_transport.ts";
import type { Engine } from "../_engine.ts";
import type { Message, PingMessage, PushPullMessage, StreamMessage } from "../wire/mod.ts";
import type { Scheduler, SimOwner } from "./scheduler.ts";

/** Network parameters. */
export interface NetworkOptions {
  /** Probability that one datagram (or one TCP segment) is lost. @default 0 */
  loss?: number;
  /** Minimum one-way latency in ms. @default 0.5 */
  minLatency?: number;
  /** Random extra one-way latency in ms (uniform). @default 1.5 */
  jitter?: number;
}

/** A simulated host: the engine plus its stall/dead flags. */
export interface SimHost extends SimOwner {
  /** The host's address. */
  address: HostPort;
  /** Its engine (set after construction). */
  engine: Engine;
}

/** TCP's initial SYN retransmission timeout (Linux: 1 s). */
const SYN_RTO = 1000;
/** TCP's minimum data retransmission timeout (Linux: 200 ms). */
const DATA_RTO = 200;
/** Time to learn that a dead peer's port is closed (an RST comes back in one round trip). */
const RST_DELAY = 1;

/** Rough memberlist encoded sizes (the simulation does not encode). */
function estimateSize(m: Message): number {
  switch (m.type) {
    case "ping":
      return 40 + m.node.length + m.sourceNode.length;
    case "indirectPing":
      return 70 + m.node.length + m.sourceNode.length;
    case "ack":
      return 20 + m.payload.length;
    case "nack":
      return 12;
    case "suspect":
    case "dead":
      return 36 + m.node.length + m.from.length;
    case "alive":
      return 60 + m.node.length + m.meta.length;
    case "compound":
      return 2 + m.parts.reduce((n, p) => n + 2 + estimateSize(p), 0);
    default:
      return 64;
  }
}

/** The virtual network connecting simulated hosts. */
export class SimNetwork {
  readonly #sched: Scheduler;
  readonly #random: Random;
  readonly #hosts = new Map<string, SimHost>();
  readonly loss: number;
  readonly #minLatency: number;
  readonly #jitter: number;
  /** Datagrams sent and lost so far. */
  readonly counts = { sent: 0, lost: 0, streams: 0 };

  /** Creates a network on `scheduler` using `random` for loss and latency. */
  constructor(scheduler: Scheduler, random: Random, options: NetworkOptions = {}) {
    this.#sched = scheduler;
    this.#random = random;
    this.loss = options.loss ?? 0;
    this.#minLatency = options.minLatency ?? 0.5;
    this.#jitter = options.jitter ?? 1.5;
  }

  /** Registers `host` under its address. */
  add(host: SimHost): void {
    this.#hosts.set(formatHostPort(host.address), host);
  }

  /** The transport `from` uses. */
  transportFor(from: SimHost): Transport {
    return {
      packetBudget: 1400,
      encodedSize: estimateSize,
      sendPacket: (to, messages) => this.#sendPacket(from, to, messages),
      streamPing: (to, ping, timeoutMs, done) =>
        this.#stream(from, to, ping, timeoutMs, (reply) => {
          done(reply !== undefined && reply.type === "ack" && reply.seqNo === ping.seqNo);
        }),
      pushPull: (to, request, timeoutMs, done) =>
        this.#stream(from, to, request, timeoutMs, (reply) => {
          if (reply?.type === "pushPull") done(reply);
          else done(new Error(`Push/pull with ${formatHostPort(to)} failed`));
        }),
    };
  }

  #latency(): number {
    return this.#minLatency + this.#random() * this.#jitter;
  }

  #lost(): boolean {
    return this.loss > 0 && this.#random() < this.loss;
  }

  #sendPacket(from: SimHost, to: HostPort, messages: Message[]): void {
    if (from.dead) return;
    this.counts.sent++;
    if (this.#lost()) {
      this.counts.lost++;
      return;
    }
    const dest = this.#hosts.get(formatHostPort(to));
    if (dest === undefined || dest.dead) return;
    this.#sched.at(this.#sched.now + this.#latency(), dest, () => {
      dest.engine.handlePacket(messages, from.address);
    });
  }

  /** Extra delay a TCP exchange suffers from losses: RTOs for lost SYNs and segments. */
  #tcpDelay(): number {
    let delay = 0;
    for (let rto = SYN_RTO; this.#lost(); rto *= 2) delay += rto; // SYN
    for (let rto = SYN_RTO; this.#lost(); rto *= 2) delay += rto; // SYN-ACK
    for (let seg = 0; seg < 2; seg++) { // request, reply
      for (let rto = DATA_RTO; this.#lost(); rto *= 2) delay += rto;
    }
    return delay;
  }

  #stream(
    from: SimHost,
    to: HostPort,
    request: PingMessage | PushPullMessage,
    timeoutMs: number,
    done: (reply: StreamMessage | undefined) => void,
  ): void {
    this.counts.streams++;
    const start = this.#sched.now;
    const deadline = start + timeoutMs;
    let settled = false;
    const settle = (reply: StreamMessage | undefined) => {
      if (settled) return;
      settled = true;
      done(reply);
    };
    // The caller's deadline (its own timer, so it is held back if the caller stalls).
    this.#sched.at(deadline, from, () => settle(undefined));
    const dest = this.#hosts.get(formatHostPort(to));
    if (dest === undefined || dest.dead) {
      this.#sched.at(start + RST_DELAY, from, () => settle(undefined));
      return;
    }
    const extra = this.#tcpDelay();
    const arrive = start + 3 * this.#latency() + extra;
    this.#sched.at(arrive, dest, () => {
      if (dest.dead) return;
      const reply = dest.engine.handleStream(request);
      this.#sched.at(this.#sched.now + this.#latency(), from, () => settle(reply));
    });
  }
}
