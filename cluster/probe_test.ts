import assert from "node:assert/strict";
import { Awareness } from "./_awareness.ts";
import type { Clock, TimerHandle } from "./_clock.ts";
import { type AckHandler, Probe, type ProbeContext, type ProbePeer } from "./_probe.ts";
import { Counters, silentLogger } from "./_transport.ts";
import type { Message, PingMessage, SuspectMessage } from "./wire/mod.ts";

const PROBE_INTERVAL = 1000;
const PROBE_TIMEOUT = 500;
const VSN = Uint8Array.from([1, 5, 2, 0, 0, 0]); // understands nacks and TCP pings

/** A clock that moves only when told to, firing due timers in order. */
class ManualClock implements Clock {
  #now = 0;
  #next = 1;
  #timers = new Map<number, { at: number; fn: () => void }>();
  /** Timers fire this much after they are due (a stalled event loop). */
  lateBy = 0;
  now(): number {
    return this.#now;
  }
  setTimer(ms: number, fn: () => void): TimerHandle {
    const id = this.#next++;
    this.#timers.set(id, { at: this.#now + ms, fn });
    return id;
  }
  clearTimer(handle: TimerHandle): void {
    this.#timers.delete(handle as number);
  }
  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      const due = [...this.#timers].filter(([, t]) =>
        t.at <= end
      ).sort((a, b) => a[1].at - b[1].at)[0];
      if (due === undefined) break;
      this.#timers.delete(due[0]);
      this.#now = Math.max(this.#now, due[1].at + this.lateBy);
      due[1].fn();
    }
    this.#now = Math.max(this.#now, end);
  }
  get pending(): number {
    return this.#timers.size;
  }
}

function peer(name: string, state: ProbePeer["state"] = "alive", incarnation = 1): ProbePeer {
  return {
    name,
    ip: "10.0.0.1",
    port: 7946,
    addr: Uint8Array.from([10, 0, 0, 1]),
    incarnation,
    state,
    vsn: VSN,
  };
}

/** A probe of `target` with recording fakes; `tcp` answers the TCP ping (undefined: never). */
function setup(target: ProbePeer, options: { relays?: ProbePeer[]; tcp?: boolean } = {}) {
  const clock = new ManualClock();
  const acks = new Map<number, AckHandler>();
  const awareness = new Awareness(8);
  const counters = new Counters();
  const sent: { to: string; messages: Message[] }[] = [];
  const suspects: SuspectMessage[] = [];
  const tcpPings: number[] = [];
  let done = 0;
  const ctx: ProbeContext = {
    clock,
    timings: { probeInterval: PROBE_INTERVAL, probeTimeout: PROBE_TIMEOUT },
    awareness,
    acks,
    counters,
    logger: silentLogger,
    self: { name: "me", addr: Uint8Array.from([10, 0, 0, 9]), port: 7946 },
    stallLateness: 100,
    extensions: true,
    running: () => true,
    after: (ms, fn) => clock.setTimer(ms, fn),
    clear: (h) => clock.clearTimer(h),
    sendPacket: (to, messages) => sent.push({ to: to.name, messages }),
    sendPiggyback: (to, message) => sent.push({ to: (to as ProbePeer).name, messages: [message] }),
    streamPing: (_to, _ping, timeoutMs, cb) => {
      tcpPings.push(timeoutMs);
      if (options.tcp !== undefined) clock.setTimer(10, () => cb(options.tcp!));
    },
    pickRelays: () => options.relays ?? [],
    suspect: (m) => suspects.push(m),
  };
  const ping: PingMessage = {
    type: "ping",
    seqNo: 42,
    node: target.name,
    sourceAddr: ctx.self.addr,
    sourcePort: 7946,
    sourceNode: "me",
  };
  const probe = new Probe(ctx, target, ping, () => done++);
  return { clock, acks, awareness, counters, sent, suspects, tcpPings, probe, done: () => done };
}

Deno.test("Probe: a direct ack ends the probe, lowers awareness and cancels its timers", () => {
  const t = setup(peer("b"));
  t.awareness.apply(2);
  t.probe.start();
  assert.deepEqual(t.sent.map((s) => [s.to, s.messages.map((m) => m.type)]), [["b", ["ping"]]]);
  t.clock.advance(100);
  t.acks.get(42)!.onAck();
  assert.equal(t.done(), 1);
  assert.equal(t.awareness.score, 1);
  assert.equal(t.acks.has(42), false);
  assert.equal(t.clock.pending, 0);
  t.clock.advance(5000);
  assert.deepEqual(t.suspects, []);
});

Deno.test("Probe: no ack gives indirect pings and a TCP ping, then suspects the start incarnation", () => {
  const target = { ...peer("b", "suspect", 7) };
  const t = setup(target, { relays: [peer("r1"), peer("r2")], tcp: false });
  t.probe.start();
  // A suspect gets the "buddy" suspicion with the ping.
  assert.deepEqual(t.sent[0].messages.map((m) => m.type), ["ping", "suspect"]);
  (target as { incarnation: number }).incarnation = 8; // an alive arrives while we probe
  t.clock.advance(PROBE_TIMEOUT);
  assert.deepEqual(t.sent.slice(1).map((s) => [s.to, s.messages[0].type]), [
    ["r1", "indirectPing"],
    ["r2", "indirectPing"],
  ]);
  assert.deepEqual(t.tcpPings, [PROBE_INTERVAL - PROBE_TIMEOUT]);
  t.acks.get(42)!.onNack!(); // one of two relays nacks in time
  t.clock.advance(PROBE_INTERVAL - PROBE_TIMEOUT);
  assert.equal(t.done(), 1);
  assert.deepEqual(t.suspects, [{ type: "suspect", incarnation: 7, node: "b", from: "me" }]);
  assert.equal(t.awareness.score, 1, "one missing nack");
  assert.equal(t.counters.get("probeFailures"), 1);
  // The late nack is credited back within one more probe timeout.
  t.acks.get(42)!.onNack!();
  assert.equal(t.awareness.score, 0);
  assert.equal(t.acks.has(42), false);
});

Deno.test("Probe: an indirect ack after the timeout ends it without touching awareness", () => {
  const t = setup(peer("b"), { relays: [peer("r1")] });
  t.awareness.apply(2);
  t.probe.start();
  t.clock.advance(PROBE_TIMEOUT + 50);
  t.acks.get(42)!.onAck();
  assert.equal(t.awareness.score, 2);
  t.clock.advance(5000);
  assert.deepEqual(t.suspects, []);
  assert.equal(t.done(), 1);
});

Deno.test("Probe: a TCP ack saves the target; a pending TCP ping holds the verdict past the deadline", () => {
  const saved = setup(peer("b"), { tcp: true });
  saved.probe.start();
  saved.clock.advance(5000);
  assert.deepEqual(saved.suspects, []);
  assert.equal(saved.counters.get("tcpFallbackSuccesses"), 1);

  const held = setup(peer("b")); // the TCP ping never answers on its own
  held.probe.start();
  held.clock.advance(PROBE_INTERVAL + 100);
  assert.deepEqual(held.suspects, [], "waits for the TCP ping");
  assert.equal(held.done(), 0);
});

Deno.test("Probe: timers that fire late make it inconclusive (our loop stalled), not a suspicion", () => {
  const t = setup(peer("b"), { tcp: false });
  t.probe.start();
  t.clock.lateBy = 300;
  t.clock.advance(PROBE_INTERVAL + 400);
  assert.equal(t.done(), 1);
  assert.deepEqual(t.suspects, []);
  assert.equal(t.counters.get("probesInconclusive"), 1);
  assert.equal(t.counters.get("probeFailures"), 0);
});
