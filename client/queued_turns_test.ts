import assert from "node:assert/strict";
import { QueuedTurns } from "./queued_turns.ts";

Deno.test("QueuedTurns: one turn at a time, in the order taken", async () => {
  const turns = new QueuedTurns();
  const keys = [{}, {}, {}];
  const order: number[] = [];
  const waits = keys.map((key, i) => turns.wait(key, false).then(() => order.push(i)));
  await waits[0];
  await Promise.resolve();
  assert.deepEqual(order, [0], "the second waits for the first");
  turns.done(keys[0], true);
  await waits[1];
  turns.done(keys[1], true);
  turns.done(keys[1], true); // a second call does nothing
  await waits[2];
  assert.deepEqual(order, [0, 1, 2]);
});

Deno.test("QueuedTurns: chained behind a failure is skipped, unchained goes, chained behind success goes", async () => {
  const turns = new QueuedTurns();
  const [a, b, c, d, e] = [{}, {}, {}, {}, {}];
  const results = [
    turns.wait(a, false),
    turns.wait(b, true),
    turns.wait(c, true),
    turns.wait(d, false),
    turns.wait(e, true),
  ];
  assert.equal(await results[0], true);
  turns.done(a, false);
  assert.equal(await results[1], false, "chained behind a failure");
  turns.done(b, false);
  assert.equal(await results[2], false, "chained behind a skipped one");
  turns.done(c, false);
  assert.equal(await results[3], true, "an unchained one starts a new window");
  turns.done(d, true);
  assert.equal(await results[4], true);
});
