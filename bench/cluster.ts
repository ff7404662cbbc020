/**
 * Cluster benchmark: real replica processes on loopback addresses (127.0.0.81–.86) with default
 * gossip timings, plus the deterministic simulation (cluster/sim).
 *
 * Measures, against memberlist's behaviour as the bar:
 * - a `kill -9`ed replica seen dead by every survivor (5 replicas; target median ≤ 3.5 s,
 *   p99 ≤ 6 s);
 * - false "dead" verdicts for a replica whose process is stopped for 2 s (SIGSTOP/SIGCONT;
 *   target 0);
 * - a new replica seen alive by all (target ≤ 1 s);
 * - the simulation: detection, false positives at 10% loss over 10 simulated minutes with 100
 *   members, convergence of 16 members with 20 ms probes, dissemination rounds against log N.
 *
 * Run alone: `deno run -A bench/cluster.ts [--trials N] [--quick]`; `deno task bench` runs it too.
 *
 * @module
 */
import { formatFigures, simulationFigures } from "../cluster/sim/mod.ts";
import { freePort, waitUntil } from "./_util.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const FIRST_IP = 81;

/** One replica process. */
interface Replica {
  index: number;
  url: string;
  child: Deno.ChildProcess;
}

/** Results of {@linkcode runClusterBench}. */
export interface ClusterBenchResults {
  /** Milliseconds until every survivor listed the killed replica dead, per trial. */
  killDetectionMs: number[];
  /** Number of times a survivor listed the stopped replica dead. */
  stallFalseDead: number;
  /** Stalls performed. */
  stalls: number;
  /** Milliseconds until every replica listed a new one alive, per trial. */
  joinMs: number[];
  /** Simulation figures (printed). */
  simulation: string;
}

function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
}

async function states(url: string): Promise<Map<string, string>> {
  try {
    const response = await fetch(`${url}/internal/members`, { signal: AbortSignal.timeout(500) });
    const body = await response.json();
    return new Map(body.members.map((m: { name: string; state: string }) => [m.name, m.state]));
  } catch {
    return new Map();
  }
}

/**
 * Runs the real-replica measurements and the simulation.
 * @param options Trials per measurement.
 * @returns The figures.
 */
export async function runClusterBench(
  options: { trials: number; quick: boolean },
): Promise<ClusterBenchResults> {
  const httpPort = freePort(`127.0.0.${FIRST_IP}`);
  const gossipPort = freePort(`127.0.0.${FIRST_IP}`);
  const start = (index: number): Replica => {
    const host = `127.0.0.${FIRST_IP + index}`;
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        `${ROOT}main.ts`,
        "server",
        "--bind-addr",
        host,
        "--port",
        String(httpPort),
        "--memberlist-port",
        String(gossipPort),
        "--node-name",
        `bench-${index}`,
        "--log-level",
        "ERROR",
        ...(index === 0 ? [] : ["--join", `127.0.0.${FIRST_IP}:${gossipPort}`]),
      ],
      cwd: ROOT,
      stdout: "null",
      stderr: "null",
    }).spawn();
    return { index, url: `http://${host}:${httpPort}`, child };
  };
  const allAlive = async (replicas: Replica[]) => {
    for (const r of replicas) {
      const view = await states(r.url);
      if (replicas.some((other) => view.get(`bench-${other.index}`) !== "alive")) return false;
    }
    return true;
  };

  const replicas = [0, 1, 2, 3, 4].map(start);
  const results: ClusterBenchResults = {
    killDetectionMs: [],
    stallFalseDead: 0,
    stalls: 0,
    joinMs: [],
    simulation: "",
  };
  try {
    await waitUntil(() => allAlive(replicas), "5 replicas alive", 30_000);

    // kill -9 detection: kill a random non-seed replica, time until every survivor says dead.
    for (let trial = 0; trial < options.trials; trial++) {
      const victim = replicas[1 + (trial % 4)];
      const survivors = replicas.filter((r) => r !== victim);
      const killedAt = performance.now();
      victim.child.kill("SIGKILL");
      await victim.child.status;
      await waitUntil(
        async () => {
          for (const s of survivors) {
            if ((await states(s.url)).get(`bench-${victim.index}`) !== "dead") return false;
          }
          return true;
        },
        "victim dead everywhere",
        30_000,
      );
      results.killDetectionMs.push(Math.round(performance.now() - killedAt));
      // Restart it and time the join: every replica lists it alive.
      const restartedAt = performance.now();
      replicas[victim.index] = start(victim.index);
      await waitUntil(() => allAlive(replicas), "restarted replica alive everywhere", 30_000);
      results.joinMs.push(Math.round(performance.now() - restartedAt));
    }

    // 2 s stalls: SIGSTOP a replica, watch the others for 4 s, SIGCONT after 2 s.
    for (let trial = 0; trial < Math.max(2, Math.floor(options.trials / 2)); trial++) {
      const victim = replicas[1 + (trial % 4)];
      const watchers = replicas.filter((r) => r !== victim);
      victim.child.kill("SIGSTOP");
      const resumeAt = performance.now() + 2000;
      let sawDead = false;
      while (performance.now() < resumeAt + 4000) {
        if (performance.now() >= resumeAt && resumeAt > 0) victim.child.kill("SIGCONT");
        for (const w of watchers) {
          if ((await states(w.url)).get(`bench-${victim.index}`) === "dead") sawDead = true;
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      victim.child.kill("SIGCONT");
      results.stalls++;
      if (sawDead) results.stallFalseDead++;
      await waitUntil(() => allAlive(replicas), "alive after stall", 30_000);
    }
  } finally {
    for (const r of replicas) {
      try {
        r.child.kill("SIGKILL");
      } catch {
        // already gone
      }
      await r.child.status;
    }
  }
  results.simulation = formatFigures(simulationFigures({ quick: options.quick }));
  return results;
}

/**
 * Formats the figures with PASS/MISS against the targets.
 * @param r The results.
 * @returns Printable lines.
 */
export function formatClusterBench(r: ClusterBenchResults): string {
  const median = quantile(r.killDetectionMs, 0.5);
  const p99 = quantile(r.killDetectionMs, 0.99);
  const joinMax = Math.max(...r.joinMs);
  const mark = (ok: boolean) => ok ? "PASS" : "MISS";
  return [
    "Cluster, 5 real replicas on loopback, default timings:",
    `  kill -9 seen dead by every survivor: median ${(median / 1000).toFixed(2)} s, p99 ${
      (p99 / 1000).toFixed(2)
    } s (n=${r.killDetectionMs.length}) [${mark(median <= 3500)} median ≤ 3.5 s, ${
      mark(p99 <= 6000)
    } p99 ≤ 6 s]`,
    `  2 s process stalls (SIGSTOP): ${r.stallFalseDead} false dead of ${r.stalls} [${
      mark(r.stallFalseDead === 0)
    } 0]`,
    `  restarted replica seen alive by all: median ${
      quantile(r.joinMs, 0.5)
    } ms, max ${joinMax} ms [${mark(joinMax <= 1000)} ≤ 1 s]`,
    "Simulation (virtual clock, lossy virtual network):",
    ...r.simulation.split("\n").map((line) => `  ${line}`),
  ].join("\n");
}

if (import.meta.main) {
  const quick = Deno.args.includes("--quick");
  const i = Deno.args.indexOf("--trials");
  const trials = i >= 0 ? Number(Deno.args[i + 1]) : quick ? 4 : 12;
  console.log(formatClusterBench(await runClusterBench({ trials, quick })));
}
