import assert from "node:assert/strict";
import { Engine } from "./_engine.ts";
import { seededRandom } from "./_random.ts";
import { Counters, type HostPort, silentLogger, type Transport } from "./_transport.ts";
import { DEFAULT_TIMINGS, INCARNATION_JUMP_LIMIT } from "./defaults.ts";
import { Scheduler } from "./sim/scheduler.ts";
import type { MemberEvent, SwimTimings } from "./types.ts";
import {
  type AliveMessage,
  ipToBytes,
  type Message,
  type PushNodeState,
  type PushPullMessage,
} from "./wire/mod.ts";

const VSN = Uint8Array.from([1, 5, 2, 0, 0, 0]);

interface Sent {
  to: HostPort;
  messages: Message[];
  crc: boolean;
}

/** An engine on a virtual clock whose packets are recorded, never delivered. */
function setup(
  options: {
    timings?: Partial<SwimTimings>;
    extensions?: boolean;
    autoAck?: boolean;
    freshIncarnation?: () => number;
  } = {},
) {
  const sched = new Scheduler();
  const owner = { stalledUntil: 0, dead: false };
  const sent: Sent[] = [];
  const counters = new Counters();
  const transport: Transport = {
    packetBudget: 1400,
    encodedSize: () => 50,
    sendPacket: (to, messages, o) => {
      sent.push({ to, messages, crc: o.crc });
      for (const m of messages) {
        if (options.autoAck && m.type === "ping") {
          sched.at(
            sched.now + 1,
            owner,
            () =>
              engine.handlePacket([{ type: "ack", seqNo: m.seqNo, payload: new Uint8Array() }], to),
          );
        }
      }
    },
    streamPing: (_to, _ping, timeoutMs, done) =>
      sched.at(sched.now + timeoutMs, owner, () => done(false)),
    pushPull: (_to, _req, _t, done) => done(new Error("no network")),
  };
  const engine = new Engine({
    name: "me",
    advertise: { ip: "10.0.0.1", port: 7946 },
    meta: new Uint8Array(0),
    timings: { ...DEFAULT_TIMINGS, ...options.timings },
    clock: sched.clockFor(owner),
    random: seededRandom(42),
    transport,
    logger: silentLogger,
    incarnation: 5,
    counters,
    extensions: options.extensions,
    freshIncarnation: options.freshIncarnation,
  });
  const events: MemberEvent[] = [];
  engine.onEvent((e) => events.push(e));
  engine.start();
  const from = { ip: "10.0.0.99", port: 7946 };
  const deliver = (...messages: Message[]) => engine.handlePacket(messages, from);
  const sentOfType = (type: string) =>
    sent.flatMap((s) => s.messages.filter((m) => m.type === type).map((m) => ({ ...s, m })));
  return { sched, engine, sent, counters, events, deliver, sentOfType, owner };
}

function alive(node: string, incarnation: number, ip = "10.0.0.2", meta = ""): AliveMessage {
  return {
    type: "alive",
    incarnation,
    node,
    addr: ipToBytes(ip),
    port: 7946,
    meta: new TextEncoder().encode(meta),
    vsn: VSN,
  };
}

function addPeers(deliver: (...m: Message[]) => void, count: number) {
  for (let i = 0; i < count; i++) deliver(alive(`p${i}`, 1, `10.0.1.${i + 1}`));
}

Deno.test("Engine adds a new alive member and emits join; ignores same incarnation", () => {
  const { engine, deliver, events } = setup();
  deliver(alive("a", 3, "10.0.0.2", "m1"));
  assert.equal(engine.stateOf("a"), "alive");
  assert.deepEqual(events.map((e) => e.kind), ["join"]);
  deliver(alive("a", 3, "10.0.0.2", "m2")); // same incarnation, new meta: ignored
  assert.equal(new TextDecoder().decode(engine.members()[0].meta), "m1");
  deliver(alive("a", 4, "10.0.0.2", "m2"));
  assert.equal(new TextDecoder().decode(engine.members()[0].meta), "m2");
  assert.deepEqual(events.map((e) => e.kind), ["join", "update"]);
  // A known name from another address is a conflict and is rejected.
  deliver(alive("a", 9, "10.0.0.3"));
  assert.equal(engine.members()[0].address, "10.0.0.2:7946");
  engine.stop();
});

Deno.test("Engine refutes a suspicion of itself with a higher incarnation", () => {
  const { engine, deliver, sched, sentOfType, counters } = setup();
  addPeers(deliver, 3);
  deliver({ type: "suspect", incarnation: 9, node: "me", from: "p0" });
  assert.equal(engine.incarnationOf("me"), 10, "max(own + 1, accused + 1)");
  assert.equal(engine.stateOf("me"), "alive");
  assert.equal(counters.get("refutations"), 1);
  assert.equal(engine.awareness, 1);
  sched.run(sched.now + 1);
  const refutes = sentOfType("alive").filter((s) => (s.m as AliveMessage).node === "me");
  assert.ok(refutes.some((s) => (s.m as AliveMessage).incarnation === 10));
  assert.ok(refutes.some((s) => s.to.ip === "10.0.1.1"), "sent straight to the accuser");
  // A stale accusation (older incarnation) is answered with our alive, not a new refutation.
  deliver({ type: "suspect", incarnation: 9, node: "me", from: "p1" });
  assert.equal(engine.incarnationOf("me"), 10);
  assert.equal(counters.get("staleAccusationsCorrected"), 1);
  engine.stop();
});

Deno.test("Engine refutes its own dead entry seen in a push/pull after a restart", () => {
  const { engine, sched } = setup();
  const remote: PushNodeState[] = [
    {
      name: "me",
      addr: ipToBytes("10.0.0.1"),
      port: 7946,
      meta: new Uint8Array(),
      incarnation: 7,
      state: "dead",
      vsn: VSN,
    },
    {
      name: "b",
      addr: ipToBytes("10.0.0.3"),
      port: 7946,
      meta: new Uint8Array(),
      incarnation: 2,
      state: "alive",
      vsn: VSN,
    },
    {
      name: "c",
      addr: ipToBytes("10.0.0.4"),
      port: 7946,
      meta: new Uint8Array(),
      incarnation: 2,
      state: "left",
      vsn: VSN,
    },
  ];
  const reply = engine.handleStream({
    type: "pushPull",
    join: true,
    nodes: remote,
    userState: new Uint8Array(),
  }) as PushPullMessage;
  assert.equal(reply.type, "pushPull");
  assert.equal(reply.join, true);
  assert.deepEqual(reply.nodes.map((n) => n.name), ["me"], "state taken before the merge");
  assert.ok(reply.nodes.every((n) => n.vsn.length === 6));
  assert.equal(engine.incarnationOf("me"), 8);
  assert.equal(engine.stateOf("b"), "alive");
  assert.equal(engine.stateOf("c"), undefined, "unknown left node is not added");
  assert.equal(engine.synced, true);
  sched.run(100);
  engine.stop();
});

Deno.test("Engine answers pings to SourceAddr:SourcePort and ignores pings for others", () => {
  const { engine, deliver, sentOfType } = setup();
  deliver({
    type: "ping",
    seqNo: 77,
    node: "me",
    sourceAddr: ipToBytes("10.0.0.50"),
    sourcePort: 1234,
    sourceNode: "x",
  });
  deliver({
    type: "ping",
    seqNo: 78,
    node: "someone-else",
    sourceAddr: ipToBytes("10.0.0.50"),
    sourcePort: 1234,
    sourceNode: "x",
  });
  deliver({
    type: "ping",
    seqNo: 79,
    node: "",
    sourceAddr: new Uint8Array(),
    sourcePort: 0,
    sourceNode: "",
  });
  const acks = sentOfType("ack");
  assert.deepEqual(acks.map((a) => [a.m.type === "ack" && a.m.seqNo, a.to.ip, a.to.port]), [
    [77, "10.0.0.50", 1234],
    [79, "10.0.0.99", 7946],
  ]);
  engine.stop();
});

Deno.test("Engine: suspicion with independent confirmations ends at the floor, then dead", () => {
  const { engine, deliver, sched, events } = setup();
  addPeers(deliver, 4); // n = 5: k = 2, floor 1.5 s
  const start = sched.now;
  deliver({ type: "suspect", incarnation: 1, node: "p3", from: "p0" });
  assert.equal(engine.stateOf("p3"), "suspect");
  deliver({ type: "suspect", incarnation: 1, node: "p3", from: "p1" });
  deliver({ type: "suspect", incarnation: 1, node: "p3", from: "p2" });
  let deadAt = -1;
  engine.onEvent((e) => {
    if (e.kind === "dead" && e.member.name === "p3") deadAt = sched.now;
  });
  sched.run(start + 30_000);
  assert.equal(Math.round(deadAt - start), 1500);
  assert.ok(events.some((e) => e.kind === "update" && e.member.state === "suspect"));
  engine.stop();
});

Deno.test("Engine: a suspicion its own probes cannot confirm lasts memberlist's maximum", () => {
  const { engine, deliver, sched, counters } = setup({ autoAck: true });
  addPeers(deliver, 4); // n = 5: max 24 s
  const start = sched.now;
  deliver({ type: "suspect", incarnation: 1, node: "p3", from: "p0" });
  assert.equal(counters.get("verificationProbes"), 1);
  sched.run(start + 23_900);
  assert.equal(engine.stateOf("p3"), "suspect", "verification succeeded: no confirmation");
  sched.run(start + 24_100);
  assert.equal(engine.stateOf("p3"), "dead");
  engine.stop();
});

Deno.test("Engine: an alive with a higher incarnation cancels a suspicion", () => {
  const { engine, deliver, sched } = setup({ autoAck: true });
  addPeers(deliver, 4);
  deliver({ type: "suspect", incarnation: 1, node: "p2", from: "p0" });
  deliver({ type: "suspect", incarnation: 1, node: "p2", from: "p1" });
  assert.equal(engine.stateOf("p2"), "suspect");
  deliver(alive("p2", 2, "10.0.1.3"));
  assert.equal(engine.stateOf("p2"), "alive");
  sched.run(sched.now + 60_000);
  assert.equal(engine.stateOf("p2"), "alive");
  engine.stop();
});

Deno.test("Engine marks dead with node == from as left, and reaps it later", () => {
  const { engine, deliver, sched, events } = setup({
    timings: { gossipToTheDeadTime: 2000 },
  });
  addPeers(deliver, 3);
  deliver({ type: "dead", incarnation: 1, node: "p1", from: "p1" });
  assert.equal(engine.stateOf("p1"), "left");
  deliver({ type: "dead", incarnation: 1, node: "p2", from: "p0" });
  assert.equal(engine.stateOf("p2"), "dead");
  assert.deepEqual(events.filter((e) => e.kind !== "join").map((e) => e.kind), ["leave", "dead"]);
  sched.run(sched.now + 10_000); // probes wrap and reap
  assert.equal(engine.stateOf("p1"), undefined);
  assert.equal(engine.stateOf("p2"), undefined);
  assert.deepEqual(events.filter((e) => e.kind === "reap").map((e) => e.member.name).sort(), [
    "p1",
    "p2",
  ]);
  engine.stop();
});

Deno.test("Engine.leave gossips dead{me, from: me} until sent its limit", () => {
  const { engine, deliver, sched, sentOfType } = setup();
  addPeers(deliver, 3);
  let left = false;
  engine.leave(5000, () => left = true);
  assert.equal(engine.stateOf("me"), "left");
  sched.run(sched.now + 3000);
  assert.equal(left, true);
  const deads = sentOfType("dead").filter((s) =>
    s.m.type === "dead" && s.m.node === "me" && s.m.from === "me"
  );
  assert.equal(deads.length, 4, "retransmitMult · ceil(log10(4 + 1)) = 4");
  // While leaving, accusations are not refuted.
  deliver({ type: "suspect", incarnation: 99, node: "me", from: "p0" });
  assert.equal(engine.stateOf("me"), "left");
  engine.stop();
});

Deno.test("Engine probes: ping, indirect pings after probeTimeout, TCP fallback, then suspect", () => {
  const { engine, deliver, sched, sentOfType } = setup();
  addPeers(deliver, 4);
  sched.run(sched.now + 1500);
  const pings = sentOfType("ping");
  assert.ok(pings.length >= 1);
  const indirect = sentOfType("indirectPing");
  assert.ok(indirect.length >= 3, "3 indirect checks");
  const first = indirect[0].m;
  assert.equal(first.type === "indirectPing" && first.nack, true);
  const suspects = sentOfType("suspect");
  assert.ok(suspects.length >= 1, "failed probe is gossiped as a suspicion");
  assert.ok(suspects.some((s) => s.crc), "gossip to PMax 5 peers carries a CRC");
  engine.stop();
});

Deno.test("Engine: an ack within the probe timeout keeps the target alive", () => {
  const { engine, deliver, sched, sent } = setup();
  addPeers(deliver, 1);
  // Answer every ping at once.
  let answered = 0;
  for (let t = 0; t < 5000; t += 10) {
    sched.run(sched.now + 10);
    for (const s of sent.splice(0)) {
      for (const m of s.messages) {
        if (m.type === "ping") {
          deliver({ type: "ack", seqNo: m.seqNo, payload: new Uint8Array() });
          answered++;
        }
      }
    }
  }
  assert.ok(answered >= 3);
  assert.equal(engine.stateOf("p0"), "alive");
  assert.equal(engine.awareness, 0);
  engine.stop();
});

Deno.test("Engine: a probe whose deadline fires late (local stall) is inconclusive", () => {
  const { engine, deliver, sched, owner, counters } = setup();
  addPeers(deliver, 1);
  // Stall the loop right after the first ping goes out.
  sched.run(sched.now + 1001);
  owner.stalledUntil = sched.now + 3000;
  sched.run(sched.now + 3000);
  assert.ok(counters.get("probesInconclusive") >= 1);
  engine.stop();
});

Deno.test("Engine drops a suspect or dead about another member with an implausible incarnation jump", () => {
  const { engine, deliver, counters, events } = setup();
  deliver(alive("a", 3));
  for (const type of ["dead", "suspect"] as const) {
    deliver({ type, incarnation: 0xffff_ffff, node: "a", from: "spoofer" });
    assert.equal(engine.stateOf("a"), "alive", type);
    assert.equal(engine.incarnationOf("a"), 3, type);
  }
  assert.equal(counters.get("implausibleIncarnations"), 2);
  // Within INCARNATION_JUMP_LIMIT an accusation from a better-informed member still counts.
  deliver({ type: "dead", incarnation: 3 + INCARNATION_JUMP_LIMIT, node: "a", from: "p0" });
  assert.equal(engine.stateOf("a"), "dead");
  assert.deepEqual(events.map((e) => e.kind), ["join", "dead"]);
  engine.stop();
});

Deno.test("Engine refutes a spoofed dead of itself with incarnation 2^32-1 under a fresh one, never wrapping", () => {
  const { engine, deliver, counters } = setup({ freshIncarnation: () => 1_000 });
  addPeers(deliver, 2);
  deliver({ type: "dead", incarnation: 0xffff_ffff, node: "me", from: "spoofer" });
  assert.equal(engine.stateOf("me"), "alive");
  assert.equal(engine.incarnationOf("me"), 1_000, "the fresh incarnation, not 2^32 wrapped to 0");
  assert.equal(counters.get("implausibleIncarnations"), 1);
  // An alive about us that far ahead is refuted the same way.
  deliver(alive("me", 0xffff_fff0, "10.0.0.1"));
  assert.equal(engine.incarnationOf("me"), 1_001);
  // Without a fresh source, our own + 1.
  const plain = setup();
  plain.deliver({ type: "suspect", incarnation: 0xffff_ffff, node: "me", from: "spoofer" });
  assert.equal(plain.engine.incarnationOf("me"), 6);
  plain.engine.stop();
  engine.stop();
});

Deno.test("Engine drops an alive about another member far beyond the clock, accepts a restart's", () => {
  const now = 1_800_000_000;
  const { engine, deliver, counters } = setup({ freshIncarnation: () => now });
  deliver(alive("a", now - 86_400 * 30));
  // A restart: incarnation = its start time, far above the old one but near our clock.
  deliver(alive("a", now + 5));
  assert.equal(engine.incarnationOf("a"), now + 5);
  deliver(alive("a", 0xffff_ffff));
  assert.equal(engine.incarnationOf("a"), now + 5);
  assert.equal(counters.get("implausibleIncarnations"), 1);
  engine.stop();
});
