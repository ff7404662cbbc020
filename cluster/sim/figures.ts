/**
 * Measurements on the simulated cluster: failure-detection time, false "dead" verdicts under
 * loss and stalls, dissemination rounds against cluster size, and fast-timing convergence.
 * The tests assert bounds on them; `deno task bench` prints them via {@linkcode simulationFigures}.
 *
 * @module
 */

import { FAST_TEST_TIMINGS } from "../defaults.ts";
import type { SwimTimings } from "../types.ts";
import { SimCluster, type SimNode } from "./cluster.ts";

/** Summary of a sample of durations (ms). */
export interface Distribution {
  /** Number of samples. */
  n: number;
  /** Median. */
  median: number;
  /** 99th percentile (nearest rank). */
  p99: number;
  /** Largest sample. */
  max: number;
}

/** Median, p99 and max of `samples`. */
export function distribution(samples: readonly number[]): Distribution {
  const s = [...samples].sort((a, b) => a - b);
  const rank = (q: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
  return { n: s.length, median: rank(0.5), p99: rank(0.99), max: s[s.length - 1] ?? NaN };
}

/** Options of {@linkcode measureDetection}. */
export interface DetectionOptions {
  /** Cluster size before the kill. */
  members: number;
  /** Independent runs (each a fresh cluster). */
  trials: number;
  /** Base seed. @default 1 */
  seed?: number;
  /** Packet loss. @default 0 */
  loss?: number;
  /** Timing overrides. */
  timings?: Partial<SwimTimings>;
  /** Our refinements on (false: stock memberlist, the baseline). @default true */
  extensions?: boolean;
}

/** Result of {@linkcode measureDetection}. */
export interface DetectionFigures {
  /** Kill → every survivor has marked the victim dead (ms). */
  all: Distribution;
  /** Kill → the first survivor marked it dead (ms). */
  first: Distribution;
  /** Trials in which some survivor never saw it dead within 60 s. */
  undetected: number;
}

/** Kills one member per trial and measures when survivors mark it dead. */
export function measureDetection(options: DetectionOptions): DetectionFigures {
  const all: number[] = [];
  const first: number[] = [];
  let undetected = 0;
  for (let trial = 0; trial < options.trials; trial++) {
    const seed = (options.seed ?? 1) * 1000 + trial;
    const sim = new SimCluster({
      seed,
      loss: options.loss,
      timings: options.timings,
      extensions: options.extensions,
    });
    if (sim.grow(options.members) < 0) {
      throw new Error(`Simulation did not converge (seed ${seed})`);
    }
    // Random phase relative to the probe and gossip timers.
    sim.runFor(1000 + (seed * 7919) % 5000);
    const victim = sim.nodes[(seed * 31) % sim.nodes.length];
    const seen = new Map<SimNode, number>();
    const off = sim.onEvent((observer, event, time) => {
      if (event.member.name === victim.name && event.kind === "dead" && !seen.has(observer)) {
        seen.set(observer, time);
      }
    });
    const killedAt = sim.now;
    sim.kill(victim);
    const survivors = sim.live().length;
    const ok = sim.runUntil(() => seen.size >= survivors, 60_000);
    off();
    sim.stop();
    if (!ok) {
      undetected++;
      continue;
    }
    const times = [...seen.values()].map((t) => t - killedAt);
    all.push(Math.max(...times));
    first.push(Math.min(...times));
  }
  return { all: distribution(all), first: distribution(first), undetected };
}

/** Options of {@linkcode measureFalseDead}. */
export interface FalseDeadOptions {
  /** Cluster size. @default 100 */
  members?: number;
  /** Packet loss. @default 0.1 */
  loss?: number;
  /** Simulated duration (ms). @default 600_000 */
  duration?: number;
  /** Seed. @default 1 */
  seed?: number;
  /** Stall every this many ms one random node for `stallMs` (0: none). @default 0 */
  stallEvery?: number;
  /** Length of each stall. @default 2000 */
  stallMs?: number;
}

/** Result of {@linkcode measureFalseDead}. */
export interface FalseDeadFigures {
  /** "dead" verdicts about live members (the number that must be 0). */
  falseDead: number;
  /** Suspicions raised (each later refuted). */
  suspicions: number;
  /** Refutations sent. */
  refutations: number;
  /** Stalls injected. */
  stalls: number;
  /** Datagrams sent during the run. */
  datagrams: number;
}

/** Runs a healthy (but lossy, optionally stalling) cluster and counts false "dead" verdicts. */
export function measureFalseDead(options: FalseDeadOptions = {}): FalseDeadFigures {
  const members = options.members ?? 100;
  const sim = new SimCluster({ seed: options.seed ?? 1, loss: options.loss ?? 0.1 });
  if (sim.grow(members, 10, 300_000, 100) < 0) throw new Error("Simulation did not converge");
  let falseDead = 0;
  const off = sim.onEvent((_observer, event) => {
    if (event.kind === "dead") falseDead++;
  });
  const before = sum(sim, "suspicions"), refBefore = sum(sim, "refutations");
  const sentBefore = sim.network.counts.sent;
  const duration = options.duration ?? 600_000;
  const stallEvery = options.stallEvery ?? 0;
  let stalls = 0;
  if (stallEvery > 0) {
    for (let t = stallEvery; t < duration; t += stallEvery) {
      sim.runFor(stallEvery);
      sim.stall(sim.nodes[(stalls * 37 + 11) % sim.nodes.length], options.stallMs ?? 2000);
      stalls++;
    }
    sim.runFor(duration - stalls * stallEvery);
  } else {
    sim.runFor(duration);
  }
  off();
  sim.stop();
  return {
    falseDead,
    suspicions: sum(sim, "suspicions") - before,
    refutations: sum(sim, "refutations") - refBefore,
    stalls,
    datagrams: sim.network.counts.sent - sentBefore,
  };
}

function sum(sim: SimCluster, counter: string): number {
  return sim.nodes.reduce((n, node) => n + node.counters.get(counter), 0);
}

/** One row of {@linkcode measureDissemination}. */
export interface DisseminationRow {
  /** Cluster size. */
  members: number;
  /** Gossip intervals until every member had the update. */
  rounds: number;
  /** `rounds / log2(members)`: roughly constant when dissemination is O(log N). */
  roundsPerLog2: number;
  /** Retransmit limit at that size (`retransmitMult · ceil(log10(n + 1))`). */
  retransmits: number;
}

/**
 * Measures how many gossip rounds an update (new metadata of one node) needs to reach every
 * member, for each cluster size.
 */
export function measureDissemination(sizes: readonly number[], seed = 1): DisseminationRow[] {
  const rows: DisseminationRow[] = [];
  for (const members of sizes) {
    const sim = new SimCluster({ seed: seed * 100 + members });
    if (sim.grow(members, 5, 600_000, 100) < 0) throw new Error("Simulation did not converge");
    sim.runFor(3000);
    const source = sim.nodes[0];
    const newInc = source.engine.incarnationOf(source.name)! + 1;
    let have = 1;
    const off = sim.onEvent((_observer, event) => {
      if (event.member.name === source.name && event.member.incarnation === newInc) have++;
    });
    const start = sim.now;
    source.engine.updateMeta(new Uint8Array([1]));
    sim.runUntil(() => have >= members, 60_000);
    off();
    sim.stop();
    const gossipInterval = 200;
    const rounds = (sim.now - start) / gossipInterval;
    rows.push({
      members,
      rounds: round(rounds, 1),
      roundsPerLog2: round(rounds / Math.log2(members), 2),
      retransmits: 4 * Math.ceil(Math.log10(members + 1)),
    });
  }
  return rows;
}

/**
 * Fast timings (20 ms probes): `members` nodes all join the first at once; virtual ms until
 * every node sees every other alive.
 */
export function measureConvergence(members = 16, seed = 1): number {
  const sim = new SimCluster({ seed, timings: FAST_TEST_TIMINGS });
  const nodes = Array.from({ length: members }, () => sim.addNode());
  const start = sim.now;
  for (const n of nodes.slice(1)) sim.join(n, nodes[0]);
  const ok = sim.runUntil(() => sim.converged(), 10_000, 1);
  sim.stop();
  return ok ? sim.now - start : -1;
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** Everything the benchmark prints about the simulation. */
export interface SimulationFigures {
  /** Kill detection at 5 members, LAN defaults, 200 trials. */
  detection5: DetectionFigures;
  /** The same with stock memberlist behaviour (our refinements off): the bar to beat. */
  detection5Stock: DetectionFigures;
  /** Kill detection at 100 members, LAN defaults. */
  detection100: DetectionFigures;
  /** 100 members, 10% loss, 10 simulated minutes. */
  falseDeadLoss: FalseDeadFigures;
  /** 5 members, a 2 s stall of some node every 10 s for 10 minutes. */
  falseDeadStall: FalseDeadFigures;
  /** Dissemination rounds from 10 to 500 members. */
  dissemination: DisseminationRow[];
  /** 16 members, 20 ms probes: convergence time (ms). */
  convergence16: number;
}

/** Options of {@linkcode simulationFigures}. */
export interface SimulationFiguresOptions {
  /** Smaller runs (for tests): fewer trials and sizes. @default false */
  quick?: boolean;
}

/** Runs every simulation measurement. Deterministic. */
export function simulationFigures(options: SimulationFiguresOptions = {}): SimulationFigures {
  const quick = options.quick ?? false;
  return {
    detection5: measureDetection({ members: 5, trials: quick ? 40 : 200 }),
    detection5Stock: measureDetection({ members: 5, trials: quick ? 40 : 200, extensions: false }),
    detection100: measureDetection({ members: 100, trials: quick ? 3 : 10 }),
    falseDeadLoss: measureFalseDead({ duration: quick ? 120_000 : 600_000 }),
    falseDeadStall: measureFalseDead({
      members: 5,
      loss: 0,
      stallEvery: 10_000,
      stallMs: 2000,
      duration: 600_000,
    }),
    dissemination: measureDissemination(quick ? [10, 50, 200] : [10, 20, 50, 100, 200, 500]),
    convergence16: measureConvergence(16),
  };
}

/** Human-readable lines of {@linkcode simulationFigures} output. */
export function formatFigures(f: SimulationFigures): string {
  const d = (x: Distribution) =>
    `median ${(x.median / 1000).toFixed(2)} s, p99 ${(x.p99 / 1000).toFixed(2)} s (n=${x.n})`;
  const lines = [
    `detection, 5 members, defaults:   all survivors ${d(f.detection5.all)}; first ${
      d(f.detection5.first)
    }`,
    `detection, 5 members, stock memberlist model: all survivors ${d(f.detection5Stock.all)}`,
    `detection, 100 members, defaults: all survivors ${d(f.detection100.all)}`,
    `false dead, 100 members, 10% loss: ${f.falseDeadLoss.falseDead} (suspicions ${f.falseDeadLoss.suspicions}, refutations ${f.falseDeadLoss.refutations})`,
    `false dead, 5 members, ${f.falseDeadStall.stalls} stalls of 2 s: ${f.falseDeadStall.falseDead} (suspicions ${f.falseDeadStall.suspicions}, refutations ${f.falseDeadStall.refutations})`,
    `convergence, 16 members, 20 ms probes: ${f.convergence16} ms`,
    "dissemination (members: gossip rounds, rounds/log2 N):",
    ...f.dissemination.map((r) =>
      `  ${String(r.members).padStart(4)}: ${r.rounds} rounds, ${r.roundsPerLog2} per log2 N`
    ),
  ];
  return lines.join("\n");
}
