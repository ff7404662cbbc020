/**
 * End-to-end queue benchmark (issue #10), real server and client processes and an in-process app:
 *
 * - drain rate: N queued 1 KiB webhooks (client stopped), then the client started; webhooks per
 *   second from its start until the app has them all (targets: ≥ 2,000/s `sqlite:`, ≥ 1,000/s
 *   Redis);
 * - server memory while draining 1,000 × 1 MiB from `sqlite:` (target: RSS growth ≤ 64 MiB);
 * - passthrough req/s while the client is attached, `--queue sqlite:` against `memory:` and off
 *   (target: ≤ 10 % lower).
 *
 * Part of `deno task bench` (`--skip-queue` leaves it out); alone:
 * `deno run -A bench/queue_drain.ts [--count 10000] [--big 1000] [--seconds 5] [--json]`
 *
 * @module
 */
import { startRedis } from "../tests/_redis.ts";
import { freePort, loopbackServerArgs, waitUntil } from "./_util.ts";

const ROOT = new URL("..", import.meta.url).pathname;

function arg(name: string, fallback: number): number {
  const at = Deno.args.indexOf(`--${name}`);
  return at >= 0 ? Number(Deno.args[at + 1]) : fallback;
}

const COUNT = arg("count", 10_000);
const BIG = arg("big", 1_000);
const SECONDS = arg("seconds", 5);
/** Concurrent senders while filling the queue and for the passthrough rate. */
const SENDERS = 16;
const KEY = "bench-queue-key";

interface Proc {
  child: Deno.ChildProcess;
  lines: string[];
}

/** `WOW_BENCH_PROF=<dir>`: servers and clients write CPU profiles there (`--cpu-prof`). */
const PROF_DIR = Deno.env.get("WOW_BENCH_PROF");

function spawn(args: string[]): Proc {
  const prof = PROF_DIR ? ["--cpu-prof", `--cpu-prof-dir=${PROF_DIR}`] : [];
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", ...prof, `${ROOT}main.ts`, ...args],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const lines: string[] = [];
  for (const stream of [child.stdout, child.stderr]) {
    (async () => {
      const decoder = new TextDecoder();
      let rest = "";
      for await (const chunk of stream) {
        const parts = (rest + decoder.decode(chunk, { stream: true })).split("\n");
        rest = parts.pop()!;
        lines.push(...parts);
      }
    })();
  }
  return { child, lines };
}

async function stop(proc: Proc): Promise<void> {
  try {
    // A profiled process must exit cleanly to write its profile.
    proc.child.kill(PROF_DIR ? "SIGINT" : "SIGKILL");
  } catch {
    // Gone.
  }
  await proc.child.status;
}

function rssMiB(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024;
}

async function startServer(queue: string, port: number, maxCount = 10_000): Promise<Proc> {
  const proc = spawn([
    ...loopbackServerArgs(port),
    "--channel-key",
    KEY,
    "--queue",
    queue,
    // Room for the probe too: the count bound would drop the oldest.
    "--queue-max-count",
    String(maxCount + 10),
    "--queue-max-bytes",
    "2GiB",
    "--log-level",
    "WARN",
  ]);
  await waitUntil(async () => {
    try {
      const response = await fetch(`http://127.0.0.1:${port}/healthz`);
      await response.body?.cancel();
      return response.ok;
    } catch {
      return false;
    }
  }, "server healthy");
  return proc;
}

async function startClient(server: string, target: string, stateFile: string) {
  const proc = spawn([
    "client",
    "--server-url",
    server,
    "--target-url",
    target,
    "--state-file",
    stateFile,
    "--inspect-addr",
    "off",
    "--log-level",
    "WARN",
  ]);
  const url = await waitUntil(
    () => {
      const line = proc.lines.find((l) => l.startsWith("Please set the webhook destination"));
      return line?.split(": ")[1];
    },
    "client up",
    30_000,
  );
  await waitUntil(() => proc.lines.some((l) => l.startsWith("A tunnel")), "tunnel", 30_000);
  return { proc, url };
}

/** Sends `count` POSTs with `SENDERS` at once; returns the statuses seen. */
async function send(url: string, count: number, body: Uint8Array<ArrayBuffer>) {
  const statuses = new Map<number, number>();
  let next = 0;
  await Promise.all(Array.from({ length: SENDERS }, async () => {
    while (next < count) {
      next++;
      const response = await fetch(url, { method: "POST", body });
      await response.body?.cancel();
      statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
    }
  }));
  return statuses;
}

/** Queues `count` webhooks of `size` bytes, then measures the drain after the client returns. */
async function drainRate(queue: string, count: number, size: number, sampleRss = false) {
  let got = 0;
  const app = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    await req.arrayBuffer();
    got++;
    return new Response("ok");
  });
  const port = freePort();
  const server = await startServer(queue, port, count);
  const stateFile = `${await Deno.makeTempDir()}/state.json`;
  const target = `http://127.0.0.1:${app.addr.port}`;
  try {
    const first = await startClient(`http://127.0.0.1:${port}`, target, stateFile);
    await stop(first.proc);
    await waitUntil(async () => {
      const response = await fetch(first.url, { method: "GET" });
      await response.body?.cancel();
      return response.status === 202;
    }, "queueing");
    const body = new Uint8Array(size).fill(97);
    const statuses = await send(first.url, count, body);
    if (statuses.get(202) !== count) throw new Error(`Not all queued: ${[...statuses]}`);
    const total = count + 1;
    const rssBefore = rssMiB(server.child.pid);
    let rssPeak = rssBefore;
    got = 0;
    const started = performance.now();
    const client = await startClient(`http://127.0.0.1:${port}`, target, stateFile);
    const sampler = sampleRss
      ? setInterval(() => (rssPeak = Math.max(rssPeak, rssMiB(server.child.pid))), 100)
      : undefined;
    await waitUntil(() => got >= total, "drain", 600_000);
    const seconds = (performance.now() - started) / 1000;
    clearInterval(sampler);
    await stop(client.proc);
    return {
      rate: Math.round(total / seconds),
      seconds: Math.round(seconds * 10) / 10,
      rssGrowthMiB: Math.round(rssPeak - rssBefore),
    };
  } finally {
    await stop(server);
    await app.shutdown();
  }
}

/** Passthrough req/s of 1 KiB POSTs while attached, for `SECONDS`. */
async function passthrough(queue: string, seconds: number, senders = SENDERS) {
  const app = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    await req.arrayBuffer();
    return new Response("ok");
  });
  const port = freePort();
  const server = await startServer(queue, port);
  const stateFile = `${await Deno.makeTempDir()}/state.json`;
  try {
    const client = await startClient(
      `http://127.0.0.1:${port}`,
      `http://127.0.0.1:${app.addr.port}`,
      stateFile,
    );
    const body = new Uint8Array(1024).fill(97);
    await send(client.url, 500, body); // warm-up
    let done = 0;
    const until = performance.now() + seconds * 1000;
    await Promise.all(Array.from({ length: senders }, async () => {
      while (performance.now() < until) {
        const response = await fetch(client.url, { method: "POST", body });
        await response.body?.cancel();
        if (response.status !== 200) throw new Error(`Passthrough answered ${response.status}`);
        done++;
      }
    }));
    await stop(client.proc);
    return Math.round(done / seconds);
  } finally {
    await stop(server);
    await app.shutdown();
  }
}

/** Options for {@linkcode runQueueBench}. */
export interface QueueBenchOptions {
  /** Queued 1 KiB webhooks per drain. @default 10000 */
  count?: number;
  /** 1 MiB webhooks in the memory phase (0 skips it). @default 1000 */
  big?: number;
  /** Seconds of each passthrough measurement. @default 5 */
  seconds?: number;
}

/** What {@linkcode runQueueBench} measured. */
export interface QueueBenchResults {
  drainSqlite: { rate: number; seconds: number; rssGrowthMiB: number };
  drainRedis: { rate: number; seconds: number; rssGrowthMiB: number };
  drainBig?: { rate: number; seconds: number; rssGrowthMiB: number };
  passthroughOff: number;
  passthroughMemory: number;
  passthroughSqlite: number;
  /** One request at a time, no queue: about the drain rate of a client without a window. */
  serialOff: number;
}

/**
 * Runs the three measurements, printing each line as it completes.
 * @param options Counts and durations.
 * @returns The figures.
 */
export async function runQueueBench(options: QueueBenchOptions = {}): Promise<QueueBenchResults> {
  const count = options.count ?? COUNT;
  const big = options.big ?? BIG;
  const seconds = options.seconds ?? SECONDS;
  const dir = await Deno.makeTempDir({ prefix: "wow-bench-queue-" });
  try {
    const drainSqlite = await drainRate(`sqlite:${dir}/drain.db`, count, 1024);
    console.log(`queue drain sqlite: ${JSON.stringify(drainSqlite)} (target ≥ 2000/s)`);
    let drainRedis;
    {
      await using redis = await startRedis();
      drainRedis = await drainRate(redis.url, count, 1024);
    }
    console.log(`queue drain redis: ${JSON.stringify(drainRedis)} (target ≥ 1000/s)`);
    let drainBig;
    if (big > 0) {
      drainBig = await drainRate(`sqlite:${dir}/big.db`, big, 1024 * 1024, true);
      console.log(
        `queue drain ${big} x 1 MiB sqlite: ${JSON.stringify(drainBig)} (target: growth ≤ 64 MiB)`,
      );
    }
    const passthroughOff = await passthrough("off", seconds);
    const passthroughMemory = await passthrough("memory:", seconds);
    const passthroughSqlite = await passthrough(`sqlite:${dir}/pass.db`, seconds);
    const serialOff = await passthrough("off", seconds, 1);
    console.log(
      `queue passthrough req/s (1 KiB, c=${SENDERS}): off ${passthroughOff}, memory: ${passthroughMemory}, sqlite: ${passthroughSqlite} (target: sqlite ≥ 0.9 × memory)`,
    );
    console.log(
      `queue: live webhooks one at a time (c=1, no queue): ${serialOff}/s, a window-1 drain's ceiling`,
    );
    return {
      drainSqlite,
      drainRedis,
      drainBig,
      passthroughOff,
      passthroughMemory,
      passthroughSqlite,
      serialOff,
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) {
  const results = await runQueueBench();
  if (Deno.args.includes("--json")) console.log(JSON.stringify(results));
}
