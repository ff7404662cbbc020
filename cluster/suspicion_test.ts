import assert from "node:assert/strict";
import { Suspicion, suspicionParams, suspicionTimeout } from "./_suspicion.ts";
import { Awareness } from "./_awareness.ts";
import { BroadcastQueue, retransmitLimit } from "./_broadcast_queue.ts";
import { DEFAULT_TIMINGS } from "./defaults.ts";
import { Scheduler } from "./sim/scheduler.ts";
import type { Message } from "./wire/mod.ts";

Deno.test("suspicionParams follows memberlist's formula", () => {
  const p5 = suspicionParams(5, DEFAULT_TIMINGS, Infinity);
  assert.deepEqual(p5, { k: 2, min: 4000, max: 24000, floor: 4000 });
  // k = 0 when n - 2 < SuspicionMult - 2.
  assert.equal(suspicionParams(3, DEFAULT_TIMINGS, Infinity).k, 0);
  // log10 scale above 10 nodes, truncated to ms precision: log10(100) = 2.
  assert.deepEqual(suspicionParams(100, DEFAULT_TIMINGS, 1.5), {
    k: 2,
    min: 8000,
    max: 48000,
    floor: 3000,
  });
});

Deno.test("suspicionTimeout shrinks 24 s → 11.381 s → 4 s (stock) or 1.5 s (ours)", () => {
  const stock = suspicionParams(5, DEFAULT_TIMINGS, Infinity);
  assert.deepEqual([0, 1, 2, 3].map((c) => suspicionTimeout(c, stock)), [
    24000,
    11381,
    4000,
    4000,
  ]);
  const ours = suspicionParams(5, DEFAULT_TIMINGS, 1.5);
  assert.deepEqual([0, 1, 2].map((c) => suspicionTimeout(c, ours)), [24000, 11381, 1500]);
  // Tiny cluster: memberlist's k = 0 starts at min; one confirmation reaches our floor.
  const tiny = suspicionParams(3, DEFAULT_TIMINGS, 1.5);
  assert.deepEqual([0, 1].map((c) => suspicionTimeout(c, tiny)), [4000, 1500]);
});

Deno.test("Suspicion counts each independent confirmation once and fires on time", () => {
  const sched = new Scheduler();
  const owner = { stalledUntil: 0, dead: false };
  let firedAt = -1;
  const s = new Suspicion({
    ...suspicionParams(5, DEFAULT_TIMINGS, 1.5),
    clock: sched.clockFor(owner),
    from: "a",
    onTimeout: () => firedAt = sched.now,
    stallLateness: 200,
    stallGrace: 100,
  });
  sched.run(1000);
  assert.equal(s.confirm("a"), false, "the accuser is not a confirmation");
  assert.equal(s.confirm("b"), true);
  assert.equal(s.confirm("b"), false, "counted once");
  assert.equal(s.timeout, 11381);
  assert.equal(s.confirm("c"), true);
  assert.equal(s.confirm("d"), false, "k reached");
  sched.run(100_000);
  assert.equal(firedAt, 1500, "fully confirmed: floor measured from the start");
});

Deno.test("Suspicion waits a grace period after a local stall before firing", () => {
  const sched = new Scheduler();
  const owner = { stalledUntil: 0, dead: false };
  let firedAt = -1;
  new Suspicion({
    ...suspicionParams(3, DEFAULT_TIMINGS, 1.5),
    clock: sched.clockFor(owner),
    from: "a",
    onTimeout: () => firedAt = sched.now,
    stallLateness: 200,
    stallGrace: 100,
  });
  owner.stalledUntil = 5000; // due at 4000, runs at 5000: 1000 ms late
  sched.run(100_000);
  assert.equal(firedAt, 5100);
});

Deno.test("Suspicion.stop cancels the timer", () => {
  const sched = new Scheduler();
  let fired = false;
  const s = new Suspicion({
    ...suspicionParams(5, DEFAULT_TIMINGS, 1.5),
    clock: sched.clockFor({ stalledUntil: 0, dead: false }),
    from: "a",
    onTimeout: () => fired = true,
    stallLateness: 200,
    stallGrace: 100,
  });
  s.stop();
  sched.run(100_000);
  assert.equal(fired, false);
  assert.equal(s.confirm("b"), false);
});

Deno.test("Awareness stays within 0…max-1 and scales timeouts", () => {
  const a = new Awareness(8);
  a.apply(-1);
  assert.equal(a.score, 0);
  assert.equal(a.scale(1000), 1000);
  a.apply(3);
  assert.equal(a.scale(1000), 4000);
  a.apply(100);
  assert.equal(a.score, 7);
});

const msg = (node: string, extra = 0): Message => ({
  type: "suspect",
  incarnation: 1,
  node: node + "x".repeat(extra),
  from: "me",
});

Deno.test("retransmitLimit is retransmitMult · ceil(log10(n + 1))", () => {
  assert.equal(retransmitLimit(4, 1), 4);
  assert.equal(retransmitLimit(4, 9), 4);
  assert.equal(retransmitLimit(4, 10), 8);
  assert.equal(retransmitLimit(4, 99), 8);
  assert.equal(retransmitLimit(4, 100), 12);
});

Deno.test("BroadcastQueue sends each message at most the retransmit limit", () => {
  const q = new BroadcastQueue(() => 3);
  let done = 0;
  q.push("a", msg("a"), 40, () => done++);
  for (let i = 0; i < 3; i++) assert.equal(q.take(2, 1400).length, 1);
  assert.equal(q.take(2, 1400).length, 0);
  assert.equal(done, 1);
  assert.equal(q.length, 0);
});

Deno.test("BroadcastQueue replaces a queued message about the same node", () => {
  const q = new BroadcastQueue(() => 3);
  let replaced = 0;
  q.push("a", msg("a"), 40, () => replaced++);
  const newer = msg("a");
  q.push("a", newer, 40);
  assert.equal(replaced, 1);
  assert.deepEqual(q.take(2, 1400), [newer]);
});

Deno.test("BroadcastQueue prefers fewer transmits, then larger messages, within the limit", () => {
  const q = new BroadcastQueue(() => 10);
  const small = msg("s"), big = msg("b", 50);
  q.push("s", small, 40);
  q.take(2, 1400); // small: 1 transmit
  q.push("b", big, 90);
  assert.deepEqual(q.take(2, 1400), [big, small]);
  // Only one fits: 92 bytes for big, nothing left for small.
  const q2 = new BroadcastQueue(() => 10);
  q2.push("s", small, 40);
  q2.push("b", big, 90);
  assert.deepEqual(q2.take(2, 100), [big]);
  assert.deepEqual(q2.take(2, 100), [small]);
});
