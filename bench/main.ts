/**
 * `deno task bench`: throughput, latency, CPU and memory of the tunnel against the direct path.
 *
 * Starts a local app (bench/app.ts, its own process), a server and a client (`deno run -A main.ts`,
 * their own processes), and drives load with `wrk` (installed from Debian when missing; else the
 * separate node:http process in bench/loadgen.ts). Measures, for 1 KiB, 64 KiB and 1 MiB POST
 * bodies at concurrency 1, 16, 32, 64 and 256: requests/s and p50/p99 latency direct-to-app and
 * through the tunnel, and the CPU time each process spent per request (`/proc/<pid>/stat`, user +
 * system, over the whole run divided by its requests); the peak RSS of server and client; the
 * server's memory growth while 64 × 1 MiB requests stream; the server's memory per idle connected
 * channel with 5,000 channels open (raw WebSockets from one separate process, bench/channels.ts:
 * the average over all and the marginal cost over the second half); and what the optional
 * features cost (the inspector, a scrape of /metrics every second with per-channel series,
 * `--queue sqlite:` while attached, and all of them) against all off at 1 KiB c=64. Prints a table
 * and PASS/MISS per target, and writes JSON to `.bench-out/results.json`.
 *
 * Flags: `--quick` (~40 s), `--duration <s>` per cell (integer, default 6), `--channels <n>`
 * (default 5000), `--skip-channels`, `--server-log-level <level>` (default INFO, the product's
 * default), `--loadgen deno` (force the fallback load generator), `--root <dir>` (benchmark the
 * checkout in `<dir>`, e.g. an experimental copy; the bench scripts stay these), and for quick
 * experiments `--sizes 1024,65536`, `--conc 1,64`, `--skip-stream`, `--skip-features`;
 * `--skip-cluster` leaves out
 * the cluster figures (bench/cluster.ts: 5 real replicas and the gossip simulation); `--skip-queue`
 * the queue's (bench/queue_drain.ts: drain rates, memory while draining, passthrough with a store).
 * `--server-args "<flags>"` passes extra flags (space-separated) to the benchmarked server, e.g.
 * `--server-args "--header-timeout 10s"` to compare the head timeout on and off.
 *
 * @module
 */
import { cpuMicros, freePort, loopbackServerArgs, startChannelOpener, waitUntil } from "./_util.ts";
import { type ClusterBenchResults, formatClusterBench, runClusterBench } from "./cluster.ts";
import { type QueueBenchResults, runQueueBench } from "./queue_drain.ts";

/** The checkout under test: `--root <dir>` benchmarks another copy (e.g. an experiment). */
const ROOT = (() => {
  const i = Deno.args.indexOf("--root");
  const dir = i >= 0 ? Deno.args[i + 1] : new URL("..", import.meta.url).pathname;
  return dir.endsWith("/") ? dir : `${dir}/`;
})();
const BENCH = new URL(".", import.meta.url).pathname;
/** Whether the measured tree has the inspector (`--root` may point at a checkout older than it). */
const HAS_INSPECTOR = (() => {
  try {
    return Deno.statSync(`${ROOT}client/inspector/mod.ts`).isFile;
  } catch {
    return false;
  }
})();
const OUT_DIR = new URL("../.bench-out", import.meta.url).pathname;
const KIB = 1024;
const MIB = 1024 * 1024;

// ---------------------------------------------------------------- options

interface BenchOptions {
  quick: boolean;
  duration: number;
  warmup: number;
  sizes: number[];
  concurrencies: number[];
  channels: number;
  skipChannels: boolean;
  skipCluster: boolean;
  skipQueue: boolean;
  skipStream: boolean;
  skipFeatures: boolean;
  serverLogLevel: string;
  loadgen: "wrk" | "deno";
  serverArgs: string[];
}

function parseArgs(args: string[]): BenchOptions {
  const get = (name: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const quick = args.includes("--quick");
  const duration = Number(get("--duration") ?? (quick ? 1 : 6));
  if (!Number.isInteger(duration) || duration < 1) {
    console.error(`Invalid --duration "${get("--duration")}": expected whole seconds ≥ 1`);
    Deno.exit(2);
  }
  return {
    quick,
    duration,
    warmup: 1,
    sizes: get("--sizes")?.split(",").map(Number) ?? [KIB, 64 * KIB, MIB],
    concurrencies: get("--conc")?.split(",").map(Number) ?? [1, 16, 32, 64, 256],
    skipStream: args.includes("--skip-stream"),
    skipFeatures: args.includes("--skip-features"),
    channels: Number(get("--channels") ?? 5000),
    skipChannels: args.includes("--skip-channels"),
    skipCluster: args.includes("--skip-cluster"),
    skipQueue: args.includes("--skip-queue"),
    serverLogLevel: get("--server-log-level") ?? "INFO",
    loadgen: get("--loadgen") === "deno" ? "deno" : "wrk",
    serverArgs: get("--server-args")?.split(" ").filter(Boolean) ?? [],
  };
}

// ---------------------------------------------------------------- processes

/** A child process started by the bench; `pid` is the deno process (bash `exec`s into it). */
interface Child {
  name: string;
  pid: number;
  child: Deno.ChildProcess;
  log: string;
  stop(): Promise<void>;
}

/** Processes spawned so far (numbers their log files). */
let spawned = 0;

/**
 * Spawns `deno run -A <args>` through bash so the open-file limit can be raised to the hard
 * limit first (2,000 tunnels need more than a default 1,024); output goes to a log file.
 */
function spawnDeno(name: string, args: string[], tmp: string): Child {
  // One log file per process: a second client reusing the first's would let the wait for its
  // URL read the first's lines before its own start (and measure the wrong processes).
  const log = `${tmp}/${name}-${++spawned}.log`;
  const child = new Deno.Command("bash", {
    args: [
      "-c",
      'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@" >"$LOGFILE" 2>&1',
      "bash",
      Deno.execPath(),
      "run",
      "-A",
      ...args,
    ],
    cwd: ROOT,
    stdin: "null",
    stdout: "null",
    stderr: "null",
    env: { NO_COLOR: "1", LOGFILE: log },
  }).spawn();
  return {
    name,
    pid: child.pid,
    child,
    log,
    async stop() {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
      await child.status;
    },
  };
}

async function readLog(child: Child): Promise<string> {
  try {
    return await Deno.readTextFile(child.log);
  } catch {
    return "";
  }
}

async function startApp(tmp: string): Promise<{ proc: Child; url: string }> {
  const port = freePort();
  const proc = spawnDeno("app", [`${BENCH}app.ts`, String(port)], tmp);
  const url = `http://127.0.0.1:${port}`;
  await waitUntil(async () => (await readLog(proc)).includes("listening"), "local app");
  return { proc, url };
}

/** Server flags this checkout knows, from `server --help` (the bench runs older checkouts too). */
async function serverFlags(): Promise<string> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}main.ts`, "server", "--help"],
    stdout: "piped",
    stderr: "null",
    signal: AbortSignal.timeout(30_000),
  }).output();
  return new TextDecoder().decode(output.stdout);
}

async function startServer(
  tmp: string,
  name: string,
  logLevel: string,
  extra: string[] = [],
): Promise<{ proc: Child; url: string }> {
  const port = freePort();
  const proc = spawnDeno(name, [
    `${ROOT}main.ts`,
    ...loopbackServerArgs(port),
    "--log-level",
    logLevel,
    ...extra,
  ], tmp);
  const url = `http://127.0.0.1:${port}`;
  let exited = false;
  proc.child.status.then(() => (exited = true));
  await waitUntil(async () => {
    if (exited) throw new Error(`The server exited early:\n${await readLog(proc)}`);
    try {
      const response = await fetch(`${url}/healthz`);
      await response.body?.cancel();
      return response.ok;
    } catch {
      return false;
    }
  }, `server ${url}`);
  return { proc, url };
}

/** A running client and the webhook URL it printed. */
interface ClientChild extends Child {
  webhookUrl: string;
}

/** `extra`: the inspector is off unless a run asks for it (the matrix measures the tunnel). */
async function startClient(
  tmp: string,
  serverUrl: string,
  appUrl: string,
  extra: string[] = HAS_INSPECTOR ? ["--inspect-addr", "off"] : [],
): Promise<ClientChild> {
  const stateDir = await Deno.makeTempDir({ dir: tmp, prefix: "state-" });
  const proc = spawnDeno("client", [
    `${ROOT}main.ts`,
    "client",
    "--server-url",
    serverUrl,
    "--target-url",
    appUrl,
    "--state-file",
    `${stateDir}/s.json`,
    "--log-level",
    "ERROR",
    ...extra,
  ], tmp) as ClientChild;
  let exited = false;
  proc.child.status.then(() => (exited = true));
  const url = await waitUntil(async () => {
    const text = await readLog(proc);
    if (exited) throw new Error(`The client exited early:\n${text}`);
    if (!/A tunnel to the server has been established/.test(text)) return undefined;
    return text.match(/^Please set the webhook destination as follows: (\S+)$/m)?.[1];
  }, "client tunnel");
  proc.webhookUrl = url;
  return proc;
}

// ---------------------------------------------------------------- memory

interface MemInfo {
  /** Resident set of the process and its descendants, bytes. */
  rss: number;
  /** Peak resident set (VmHWM) of the process and its descendants, bytes. */
  hwm: number;
}

function descendants(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    try {
      for (const task of Deno.readDirSync(`/proc/${out[i]}/task`)) {
        const text = Deno.readTextFileSync(`/proc/${out[i]}/task/${task.name}/children`).trim();
        if (text) out.push(...text.split(/\s+/).map(Number));
      }
    } catch { /* exited */ }
  }
  return [...new Set(out)];
}

function memOf(pid: number): MemInfo {
  let rss = 0;
  let hwm = 0;
  for (const p of descendants(pid)) {
    try {
      const status = Deno.readTextFileSync(`/proc/${p}/status`);
      rss += Number(status.match(/VmRSS:\s+(\d+)/)?.[1] ?? 0) * KIB;
      hwm += Number(status.match(/VmHWM:\s+(\d+)/)?.[1] ?? 0) * KIB;
    } catch { /* exited */ }
  }
  return { rss, hwm };
}

/** Resets VmHWM to the current RSS (Linux clear_refs 5), so a phase's own peak can be read. */
function resetPeak(pid: number): void {
  for (const p of descendants(pid)) {
    try {
      Deno.writeTextFileSync(`/proc/${p}/clear_refs`, "5");
    } catch { /* not permitted or exited */ }
  }
}

/** Samples RSS of a set of processes every 50 ms, keeping the peak per name. */
class MemSampler {
  #pids = new Map<string, number>();
  #peak = new Map<string, number>();
  #timer: ReturnType<typeof setInterval>;
  constructor() {
    this.#timer = setInterval(() => this.sample(), 50);
  }
  watch(name: string, pid: number): void {
    this.#pids.set(name, pid);
  }
  sample(): void {
    for (const [name, pid] of this.#pids) {
      const { rss } = memOf(pid);
      if (rss > (this.#peak.get(name) ?? 0)) this.#peak.set(name, rss);
    }
  }
  /** Peak RSS since the last reset, the larger of sampling and VmHWM. */
  peak(name: string): number {
    this.sample();
    const pid = this.#pids.get(name);
    return Math.max(this.#peak.get(name) ?? 0, pid ? memOf(pid).hwm : 0);
  }
  reset(name: string): void {
    const pid = this.#pids.get(name);
    if (pid) resetPeak(pid);
    this.#peak.set(name, pid ? memOf(pid).rss : 0);
  }
  stop(): void {
    clearInterval(this.#timer);
  }
}

// ---------------------------------------------------------------- load

interface LoadResult {
  requests: number;
  duration_us: number;
  errors: { connect: number; read: number; write: number; status: number; timeout: number };
  p50_us: number;
  p90_us: number;
  p99_us: number;
  max_us: number;
  rps: number;
}

const luaScripts = new Map<number, string>();

async function luaScript(tmp: string, size: number): Promise<string> {
  let path = luaScripts.get(size);
  if (path) return path;
  path = `${tmp}/post-${size}.lua`;
  await Deno.writeTextFile(
    path,
    `wrk.method = "POST"
wrk.headers["Content-Type"] = "application/octet-stream"
wrk.body = string.rep("a", ${size})
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
`,
  );
  luaScripts.set(size, path);
  return path;
}

async function runLoad(
  options: BenchOptions,
  tmp: string,
  url: string,
  size: number,
  concurrency: number,
  seconds: number,
): Promise<LoadResult> {
  const cmd = options.loadgen === "wrk"
    ? new Deno.Command("wrk", {
      args: [
        "-t1",
        `-c${concurrency}`,
        `-d${seconds}s`,
        "--timeout",
        "10s",
        "-s",
        await luaScript(tmp, size),
        url,
      ],
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout((seconds + 30) * 1000),
    })
    : new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        `${BENCH}loadgen.ts`,
        url,
        String(size),
        String(concurrency),
        String(seconds),
      ],
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout((seconds + 30) * 1000),
    });
  const output = await cmd.output();
  const text = new TextDecoder().decode(output.stdout);
  const line = text.split("\n").find((l) => l.startsWith("WRKJSON "));
  if (!line) {
    throw new Error(
      `Load generator gave no result for ${url} (${size} B, c=${concurrency}):\n${text}\n${
        new TextDecoder().decode(output.stderr)
      }`,
    );
  }
  const result = JSON.parse(line.slice("WRKJSON ".length)) as LoadResult;
  result.rps = result.requests / (result.duration_us / 1e6);
  return result;
}

async function ensureWrk(): Promise<boolean> {
  const has = async () => {
    try {
      return (await new Deno.Command("wrk", { args: ["-v"], stdout: "null", stderr: "null" })
        .output()) !== undefined;
    } catch {
      return false;
    }
  };
  if (await has()) return true;
  console.log("wrk not found: installing it with apt-get …");
  const apt = (args: string[]) =>
    new Deno.Command("apt-get", {
      args,
      stdout: "null",
      stderr: "null",
      signal: AbortSignal.timeout(180_000),
    }).output().catch(() => undefined);
  await apt(["install", "-y", "wrk"]);
  if (await has()) return true;
  await apt(["update"]);
  await apt(["install", "-y", "wrk"]);
  return await has();
}

// ---------------------------------------------------------------- formatting

const fmtSize = (n: number) => n >= MIB ? `${n / MIB} MiB` : `${n / KIB} KiB`;
const fmtMiB = (n: number) => `${(n / MIB).toFixed(1)} MiB`;
const fmtMs = (us: number) => (us / 1000).toFixed(2);
const pad = (s: string, n: number) => s.padStart(n);

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// ---------------------------------------------------------------- phases

/** CPU microseconds per request each process spent during one load run. */
interface CpuPerRequest {
  server?: number;
  client?: number;
  app: number;
}

interface Cell {
  size: number;
  concurrency: number;
  direct: LoadResult;
  tunnel: LoadResult;
  ratio: number;
  addedP50Ms: number;
  /** CPU µs per request: the app alone on the direct run, and each process on the tunnel run. */
  cpu: { direct: CpuPerRequest; tunnel: CpuPerRequest };
}

/**
 * Runs `load` and divides each watched process's CPU time during it by the requests served.
 * @param pids The processes to account, by name.
 * @param load The load run.
 * @returns The load result and CPU µs per request by name.
 */
async function withCpu(
  pids: Record<string, number>,
  load: () => Promise<LoadResult>,
): Promise<{ result: LoadResult; cpu: Record<string, number> }> {
  const before = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpuMicros(pid)]));
  const result = await load();
  const cpu: Record<string, number> = {};
  for (const [name, pid] of Object.entries(pids)) {
    cpu[name] = (cpuMicros(pid) - before[name]) / Math.max(1, result.requests);
  }
  return { result, cpu };
}

/** One feature cell: req/s, its cost against all features off, and CPU µs per webhook. */
interface FeatureCell {
  rps: number;
  cost: number;
  serverCpu: number;
  clientCpu: number;
}

/** {@linkcode measureFeatures}' answer: cells by name ("all off", "inspector", …). */
interface FeatureCosts {
  cells: Record<string, FeatureCell>;
}

/** Rounds of the feature cells, alternated; each cell's figures are the median over them. */
const FEATURE_ROUNDS = 3;

/**
 * Measures the optional features' cost at 1 KiB c=64 (see the call site): a second server with
 * `--queue sqlite:` and `--metrics-per-channel`, clients with the inspector off and on, and a
 * scraper reading `/metrics` every second while a cell runs.
 */
async function measureFeatures(
  options: BenchOptions,
  tmp: string,
  setup: {
    serverUrl: string;
    serverPid: number;
    appUrl: string;
    plain: ClientChild;
    children: Child[];
  },
): Promise<FeatureCosts> {
  const queued = await startServer(tmp, "server-queue", options.serverLogLevel, [
    ...options.serverArgs,
    "--queue",
    `sqlite:${tmp}/queue.db`,
    "--metrics-per-channel",
  ]);
  setup.children.push(queued.proc);
  const clients: ClientChild[] = [];
  const inspecting = () => ["--inspect-addr", `127.0.0.1:${freePort()}`];
  try {
    clients.push(await startClient(tmp, setup.serverUrl, setup.appUrl, inspecting()));
    clients.push(await startClient(tmp, queued.url, setup.appUrl));
    clients.push(await startClient(tmp, queued.url, setup.appUrl, inspecting()));
    const [inspected, queuePlain, queueInspected] = clients;
    const plainServer = { url: setup.serverUrl, pid: setup.serverPid };
    const queueServer = { url: queued.url, pid: queued.proc.pid };
    const cells: {
      name: string;
      client: ClientChild;
      server: typeof plainServer;
      scrape: boolean;
    }[] = [
      { name: "all off", client: setup.plain, server: plainServer, scrape: false },
      { name: "inspector", client: inspected, server: plainServer, scrape: false },
      { name: "metrics scraped every 1 s", client: setup.plain, server: plainServer, scrape: true },
      { name: "--queue sqlite:", client: queuePlain, server: queueServer, scrape: false },
      { name: "all on", client: queueInspected, server: queueServer, scrape: true },
    ];
    for (const cell of cells) {
      await runLoad(options, tmp, cell.client.webhookUrl, KIB, 64, options.warmup);
    }
    const runs = new Map<string, { rps: number; serverCpu: number; clientCpu: number }[]>();
    for (let round = 0; round < FEATURE_ROUNDS; round++) {
      for (const cell of cells) {
        const scraper = cell.scrape ? scrapeEverySecond(`${cell.server.url}/metrics`) : undefined;
        try {
          const { result, cpu } = await withCpu(
            { server: cell.server.pid, client: cell.client.pid },
            () => runLoad(options, tmp, cell.client.webhookUrl, KIB, 64, options.duration),
          );
          const list = runs.get(cell.name) ?? [];
          list.push({ rps: result.rps, serverCpu: cpu.server, clientCpu: cpu.client });
          runs.set(cell.name, list);
        } finally {
          await scraper?.stop();
        }
      }
    }
    const median = (values: number[]) => values.sort((a, b) => a - b)[values.length >> 1];
    const summary = new Map([...runs].map(([name, list]) => [name, {
      rps: median(list.map((r) => r.rps)),
      serverCpu: median(list.map((r) => r.serverCpu)),
      clientCpu: median(list.map((r) => r.clientCpu)),
    }]));
    const off = summary.get("all off")!.rps;
    return {
      cells: Object.fromEntries(
        [...summary].map(([name, value]) => [name, { ...value, cost: 1 - value.rps / off }]),
      ),
    };
  } finally {
    for (const client of clients) await client.stop();
  }
}

/** Reads `url` every second until stopped, as a Prometheus server scraping it would. */
function scrapeEverySecond(url: string): { stop(): Promise<void> } {
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      try {
        const response = await fetch(url);
        await response.arrayBuffer();
      } catch {
        // Counted by nobody: the load's own figures tell whether the server suffered.
      }
      await sleep(1000);
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await loop;
    },
  };
}

async function main(): Promise<void> {
  const options = parseArgs(Deno.args);
  const started = performance.now();
  if (options.loadgen === "wrk" && !(await ensureWrk())) {
    console.log("wrk could not be installed: falling back to bench/loadgen.ts (node:http, Deno)");
    options.loadgen = "deno";
  }
  const busy = new TextDecoder().decode(
    (await new Deno.Command("pgrep", { args: ["-af", "deno test"], stdout: "piped" }).output())
      .stdout,
  ).trim();
  if (busy) console.log(`warning: a test run is active, figures will be noisy:\n${busy}`);
  console.log(
    `load generator: ${
      options.loadgen === "wrk" ? "wrk -t1 (Debian)" : "bench/loadgen.ts (node:http, fallback)"
    }; ${options.duration}s per cell; deno ${Deno.version.deno}; ${navigator.hardwareConcurrency} cores`,
  );

  const tmp = await Deno.makeTempDir({ prefix: "wow-bench-" });
  const sampler = new MemSampler();
  const children: Child[] = [];
  let client: ClientChild | undefined;
  const cleanup = async () => {
    sampler.stop();
    if (client) await client.stop();
    for (const c of children) await c.stop();
  };
  Deno.addSignalListener("SIGINT", () => cleanup().then(() => Deno.exit(130)));

  try {
    const app = await startApp(tmp);
    children.push(app.proc);
    // One channel takes every sender: lift the per-channel in-flight limit (default 64, a 429
    // beyond it) above the largest concurrency, so c=256 measures the tunnel, not refusals.
    const inFlight = (await serverFlags()).includes("--max-in-flight")
      ? ["--max-in-flight", String(Math.max(64, ...options.concurrencies) * 2)]
      : [];
    const server = await startServer(tmp, "server", options.serverLogLevel, [
      ...inFlight,
      ...options.serverArgs,
    ]);
    children.push(server.proc);
    client = await startClient(tmp, server.url, app.url);
    sampler.watch("server", server.proc.pid);
    sampler.watch("client", client.pid);
    sampler.watch("app", app.proc.pid);
    const tunnelUrl = client.webhookUrl;
    const directUrl = `${app.url}/`;
    const startRss = { server: memOf(server.proc.pid).rss, client: memOf(client.pid).rss };

    // (a) Server memory growth while 64 concurrent 1 MiB requests stream, on fresh processes
    // after a short small-body warm-up (JIT, connections), so the growth is the streaming's own.
    let streaming: Record<string, unknown> & { serverGrowth: number } | undefined;
    if (!options.skipStream) {
      await runLoad(options, tmp, tunnelUrl, KIB, 64, options.warmup);
      await sleep(1000);
      const streamBase = { server: memOf(server.proc.pid).rss, client: memOf(client.pid).rss };
      sampler.reset("server");
      sampler.reset("client");
      const streamSeconds = Math.max(options.quick ? 2 : 5, options.duration);
      const streamLoad = await runLoad(options, tmp, tunnelUrl, MIB, 64, streamSeconds);
      const streamPeak = { server: sampler.peak("server"), client: sampler.peak("client") };
      streaming = {
        seconds: streamSeconds,
        requests: streamLoad.requests,
        rps: streamLoad.rps,
        errors: streamLoad.errors,
        serverBaselineRss: streamBase.server,
        serverPeakRss: streamPeak.server,
        serverGrowth: streamPeak.server - streamBase.server,
        clientBaselineRss: streamBase.client,
        clientPeakRss: streamPeak.client,
        clientGrowth: streamPeak.client - streamBase.client,
      };
      console.log(
        `\n64 × 1 MiB streaming (${streamSeconds}s, ${streamLoad.rps.toFixed(0)} req/s): server ${
          fmtMiB(streamBase.server)
        } → peak ${fmtMiB(streamPeak.server)} (growth ${fmtMiB(streaming.serverGrowth)}); client ${
          fmtMiB(streamBase.client)
        } → peak ${fmtMiB(streamPeak.client)} (growth ${
          fmtMiB(streamPeak.client - streamBase.client)
        })`,
      );
    }

    // Throughput/latency matrix.
    sampler.reset("server");
    sampler.reset("client");
    sampler.reset("app");
    const cells: Cell[] = [];
    console.log(
      `\n${pad("size", 7)} ${pad("conc", 4)} ${pad("direct/s", 9)} ${pad("tunnel/s", 9)} ${
        pad("ratio", 5)
      } ${pad("dir p50", 8)} ${pad("dir p99", 8)} ${pad("tun p50", 8)} ${pad("tun p99", 8)} ${
        pad("+p50 ms", 8)
      } ${pad("app µs", 6)} ${pad("srv µs", 6)} ${pad("cli µs", 6)} ${pad("app µs", 6)}  errors`,
    );
    for (const size of options.sizes) {
      await runLoad(options, tmp, directUrl, size, 16, options.warmup);
      await runLoad(options, tmp, tunnelUrl, size, 16, options.warmup);
      for (const concurrency of options.concurrencies) {
        const direct = await withCpu(
          { app: app.proc.pid },
          () => runLoad(options, tmp, directUrl, size, concurrency, options.duration),
        );
        const tunnel = await withCpu(
          { server: server.proc.pid, client: client!.pid, app: app.proc.pid },
          () => runLoad(options, tmp, tunnelUrl, size, concurrency, options.duration),
        );
        const cell: Cell = {
          size,
          concurrency,
          direct: direct.result,
          tunnel: tunnel.result,
          ratio: tunnel.result.rps / direct.result.rps,
          addedP50Ms: (tunnel.result.p50_us - direct.result.p50_us) / 1000,
          cpu: {
            direct: direct.cpu as unknown as CpuPerRequest,
            tunnel: tunnel.cpu as unknown as CpuPerRequest,
          },
        };
        cells.push(cell);
        const us = (n: number | undefined) => pad(n === undefined ? "-" : n.toFixed(0), 6);
        const errs = (r: LoadResult) => Object.values(r.errors).reduce((a, b) => a + b, 0);
        console.log(
          `${pad(fmtSize(size), 7)} ${pad(String(concurrency), 4)} ${
            pad(cell.direct.rps.toFixed(0), 9)
          } ${pad(cell.tunnel.rps.toFixed(0), 9)} ${pad(cell.ratio.toFixed(2), 5)} ${
            pad(fmtMs(cell.direct.p50_us), 8)
          } ${pad(fmtMs(cell.direct.p99_us), 8)} ${pad(fmtMs(cell.tunnel.p50_us), 8)} ${
            pad(fmtMs(cell.tunnel.p99_us), 8)
          } ${pad(cell.addedP50Ms.toFixed(2), 8)} ${us(cell.cpu.direct.app)} ${
            us(cell.cpu.tunnel.server)
          } ${us(cell.cpu.tunnel.client)} ${us(cell.cpu.tunnel.app)}  ${errs(cell.direct)}/${
            errs(cell.tunnel)
          }`,
        );
      }
    }
    const matrixPeak = {
      server: sampler.peak("server"),
      client: sampler.peak("client"),
      app: sampler.peak("app"),
    };
    const serverHwm = memOf(server.proc.pid).hwm;
    console.log(
      `\npeak RSS during the matrix: server ${fmtMiB(matrixPeak.server)}, client ${
        fmtMiB(matrixPeak.client)
      }, app ${fmtMiB(matrixPeak.app)} (at start: server ${fmtMiB(startRss.server)}, client ${
        fmtMiB(startRss.client)
      })`,
    );
    const serverLog = (await readLog(server.proc)).split("\n").filter((l) => /ERROR|WARN/.test(l))
      .slice(0, 5);
    if (serverLog.length) console.log(`server warnings/errors:\n  ${serverLog.join("\n  ")}`);

    // What the optional features cost (issue #14.5): the inspector recording every delivery, a
    // Prometheus scrape of /metrics every second with per-channel series, and `--queue sqlite:`
    // while the client is attached, each alone and all at once, against all of them off; 1 KiB
    // c=64, rounds alternated so drift hits every cell alike.
    let features: FeatureCosts | undefined;
    if (!options.skipFeatures && HAS_INSPECTOR && (await serverFlags()).includes("--queue ")) {
      features = await measureFeatures(options, tmp, {
        serverUrl: server.url,
        serverPid: server.proc.pid,
        appUrl: app.url,
        plain: client,
        children,
      });
      console.log(
        `\nfeatures at 1 KiB c=64 (medians of ${FEATURE_ROUNDS} alternated rounds; cost against all off):`,
      );
      for (const [name, cell] of Object.entries(features.cells)) {
        console.log(
          `  ${name.padEnd(28)} ${cell.rps.toFixed(0).padStart(7)}/s  ${
            (name === "all off" ? "" : `${(cell.cost * 100).toFixed(1)}%`).padStart(6)
          }   server ${cell.serverCpu.toFixed(0)} µs, client ${
            cell.clientCpu.toFixed(0)
          } µs per webhook`,
        );
      }
    }

    await client.stop();
    client = undefined;
    await server.proc.stop();
    await app.proc.stop();

    // (b) Server memory per idle connected channel, on a fresh server.
    let idle: Record<string, number> | undefined;
    if (!options.skipChannels) {
      // Thousands of channels from one address: lift the per-IP `GET /new` limits where they exist.
      const flags = await serverFlags();
      const unlimited = [
        ...(flags.includes("--new-rate-limit") ? ["--new-rate-limit", "0"] : []),
        ...(flags.includes("--max-channels-per-ip") ? ["--max-channels-per-ip", "0"] : []),
      ];
      const fresh = await startServer(tmp, "server-idle", options.serverLogLevel, unlimited);
      children.push(fresh.proc);
      const opener = startChannelOpener(fresh.url);
      const openTo = opener.openTo;
      try {
        // Warm the paths once with a few channels, then settle and take the baseline.
        const warm = 20;
        await openTo(warm);
        await sleep(2000);
        const base = memOf(fresh.proc.pid).rss;
        const half = Math.floor(options.channels / 2);
        const openedHalf = await openTo(warm + half);
        await sleep(2000);
        const rssHalf = memOf(fresh.proc.pid).rss;
        const opened = await openTo(warm + options.channels);
        await sleep(3000);
        const rssFull = memOf(fresh.proc.pid).rss;
        const attached = await (await fetch(`${fresh.url}/internal/channels`)).json();
        idle = {
          channels: opened - warm,
          attachedOnServer: attached.webhook_channels.length,
          baselineRss: base,
          rssAtHalf: rssHalf,
          rssAtFull: rssFull,
          perChannelBytes: (rssFull - base) / (opened - warm),
          marginalPerChannelBytes: (rssFull - rssHalf) / (opened - openedHalf),
        };
        console.log(
          `\nidle channels: ${idle.channels} open (${
            idle.attachedOnServer - warm
          } attached): server ${fmtMiB(base)} → ${fmtMiB(rssFull)}; ${
            (idle.perChannelBytes / KIB).toFixed(1)
          } KiB per channel (marginal over the second half: ${
            (idle.marginalPerChannelBytes / KIB).toFixed(1)
          } KiB)`,
        );
      } finally {
        await opener.stop();
        await fresh.proc.stop();
      }
    }

    // Targets.
    const find = (size: number, c: number) =>
      cells.find((x) => x.size === size && x.concurrency === c);
    const c64 = find(KIB, 64);
    const c32 = find(KIB, 32);
    const c1 = find(KIB, 1);
    const big16 = find(MIB, 16);
    const cpuAt = (role: "server" | "client") =>
      [c32, c64].filter((c) => c !== undefined).map((c) => c!.cpu.tunnel[role] ?? Infinity);
    const cpuTarget = (role: "server" | "client", limit: number) => {
      const values = cpuAt(role);
      return {
        name: `${role} CPU ≤ ${limit} µs per webhook at 1 KiB c=32 and c=64`,
        value: values.length ? values.map((v) => `${v.toFixed(0)} µs`).join(", ") : "n/a",
        pass: values.length ? values.every((v) => v <= limit) : undefined,
      };
    };
    const inspectorCost = features?.cells["inspector"]?.cost;
    const allCost = features?.cells["all on"]?.cost;
    const targets = [
      cpuTarget("server", 35),
      cpuTarget("client", 30),
      {
        name: "tunnel/direct req/s ≥ 0.3 at 1 MiB c=16",
        value: big16 ? big16.ratio.toFixed(2) : "n/a",
        pass: big16 ? big16.ratio >= 0.3 : undefined,
      },
      {
        name: "tunnel req/s ≥ 50% of direct at 1 KiB c=64",
        value: c64 ? `${(c64.ratio * 100).toFixed(0)}%` : "n/a",
        pass: c64 ? c64.ratio >= 0.5 : undefined,
      },
      {
        name: "p50 added latency ≤ 0.35 ms at 1 KiB c=1",
        value: c1 ? `${c1.addedP50Ms.toFixed(2)} ms` : "n/a",
        pass: c1 ? c1.addedP50Ms <= 0.35 : undefined,
      },
      {
        name: "inspector on costs ≤ 10% of req/s at 1 KiB c=64",
        value: inspectorCost !== undefined ? `${(inspectorCost * 100).toFixed(1)}%` : "n/a",
        pass: inspectorCost !== undefined ? inspectorCost <= 0.1 : undefined,
      },
      {
        name: "inspector, metrics scraped and --queue sqlite: together cost ≤ 15% at 1 KiB c=64",
        value: allCost !== undefined ? `${(allCost * 100).toFixed(1)}%` : "n/a",
        pass: allCost !== undefined ? allCost <= 0.15 : undefined,
      },
      {
        name: "server memory growth ≤ 96 MiB while 64 × 1 MiB stream",
        value: streaming ? fmtMiB(streaming.serverGrowth) : "skipped",
        pass: streaming ? streaming.serverGrowth <= 96 * MIB : undefined,
      },
      {
        name: `≤ 20 KiB marginal server memory per idle channel at ${options.channels} channels`,
        value: idle
          ? `${(idle.marginalPerChannelBytes / KIB).toFixed(1)} KiB (average ${
            (idle.perChannelBytes / KIB).toFixed(1)
          } KiB)`
          : "skipped",
        pass: idle ? idle.marginalPerChannelBytes <= 20 * KIB : undefined,
      },
    ];
    console.log("\ntargets:");
    for (const t of targets) {
      console.log(
        `  ${t.pass === undefined ? "SKIP" : t.pass ? "PASS" : "MISS"}  ${t.name}: ${t.value}`,
      );
    }

    // The cluster: real replicas on 127.0.0.81–.86 and the simulation (bench/cluster.ts).
    let cluster: ClusterBenchResults | undefined;
    if (!options.skipCluster) {
      console.log("");
      cluster = await runClusterBench({ trials: options.quick ? 4 : 12, quick: options.quick });
      console.log(formatClusterBench(cluster));
    }

    // The queue (issue #10): drain rates, memory while draining, passthrough with a store.
    let queue: QueueBenchResults | undefined;
    if (!options.skipQueue) {
      console.log("");
      queue = await runQueueBench(
        options.quick ? { count: 2_000, big: 200, seconds: 2 } : {},
      );
    }

    await Deno.mkdir(OUT_DIR, { recursive: true });
    const results = {
      cluster,
      queue,
      date: new Date().toISOString(),
      deno: Deno.version.deno,
      cores: navigator.hardwareConcurrency,
      loadgen: options.loadgen,
      durationPerCell: options.duration,
      serverLogLevel: options.serverLogLevel,
      cells,
      memory: { startRss, matrixPeak, serverHwm, streaming, idle },
      features,
      targets,
      elapsedSeconds: (performance.now() - started) / 1000,
    };
    await Deno.writeTextFile(`${OUT_DIR}/results.json`, JSON.stringify(results, null, 2) + "\n");
    console.log(
      `\nwrote .bench-out/results.json (${results.elapsedSeconds.toFixed(0)} s)`,
    );
  } finally {
    await cleanup();
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) await main();
