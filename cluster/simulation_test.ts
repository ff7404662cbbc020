import assert from "node:assert/strict";
import {
  measureConvergence,
  measureDetection,
  measureDissemination,
  measureFalseDead,
  SimCluster,
} from "./sim/mod.ts";

Deno.test("simulation is deterministic for a seed", () => {
  const run = () => {
    const sim = new SimCluster({ seed: 9, loss: 0.05 });
    sim.grow(20);
    sim.runFor(20_000);
    sim.stop();
    return sim.nodes.map((n) => JSON.stringify(n.counters.snapshot())).join();
  };
  assert.equal(run(), run());
});

Deno.test("simulation: 5 members, defaults: kill detection median ≤ 3.5 s, p99 ≤ 6 s", () => {
  const ours = measureDetection({ members: 5, trials: 60 });
  const stock = measureDetection({ members: 5, trials: 60, extensions: false });
  console.log(
    `ours: median ${ours.all.median.toFixed(0)} ms, p99 ${ours.all.p99.toFixed(0)} ms; ` +
      `stock memberlist model: median ${stock.all.median.toFixed(0)} ms`,
  );
  assert.equal(ours.undetected, 0);
  assert.ok(ours.all.median <= 3500, `median ${ours.all.median}`);
  assert.ok(ours.all.p99 <= 6000, `p99 ${ours.all.p99}`);
  assert.ok(stock.all.median > 5000, "the model reproduces memberlist's ≈6 s");
});

Deno.test("simulation: 120 members, kill detected by every survivor within 10 s", () => {
  const f = measureDetection({ members: 120, trials: 2 });
  console.log(`120 members: median ${f.all.median.toFixed(0)} ms, max ${f.all.max.toFixed(0)} ms`);
  assert.equal(f.undetected, 0);
  assert.ok(f.all.max <= 10_000, `max ${f.all.max}`);
});

Deno.test("simulation: 0 false dead at 100 members, 10% loss, 10 simulated minutes", () => {
  const f = measureFalseDead({ members: 100, loss: 0.1, duration: 600_000 });
  console.log(JSON.stringify(f));
  assert.equal(f.falseDead, 0);
  assert.ok(f.suspicions > 0, "loss does cause suspicions, which are refuted");
});

Deno.test("simulation: 0 false dead for 2 s event-loop stalls at 5 members", () => {
  const f = measureFalseDead({ members: 5, loss: 0, stallEvery: 10_000, stallMs: 2000 });
  console.log(JSON.stringify(f));
  assert.equal(f.falseDead, 0);
  assert.ok(f.refutations >= f.stalls / 2, "stalls do get the node suspected");
});

Deno.test("simulation: dissemination rounds grow like log N (10 to 500 members)", () => {
  const rows = measureDissemination([10, 50, 200, 500]);
  console.log(rows.map((r) => `${r.members}: ${r.rounds} rounds`).join(", "));
  for (const r of rows) assert.ok(r.rounds <= 1 + Math.log2(r.members), JSON.stringify(r));
  assert.ok(rows.at(-1)!.rounds < 5 * rows[0].rounds + 2, "sub-linear growth");
});

Deno.test("simulation: 16 members with 20 ms probes converge within 250 ms", () => {
  const ms = measureConvergence(16);
  console.log(`16 members converged in ${ms} ms (virtual)`);
  assert.ok(ms >= 0 && ms <= 250, `${ms}`);
});
