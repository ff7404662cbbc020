/**
 * What an idle channel costs the server, step by step (issue #14): starts a server, opens idle
 * channels in steps (raw WebSockets from one process with bench/channels.ts, or real client
 * processes), and after each step prints the server's RSS (anonymous and file), V8 heap (used and
 * committed, per space) and external memory (ArrayBuffer backing stores) from /metrics. With
 * `--inspect <port>` it can write a heap snapshot (after a full GC) at each step.
 *
 * Usage: `deno run -A bench/idle_probe.ts --port 19110 [--mode raw|clients]
 *   [--steps 20,1000,2000] [--settle 2000] [--v8 "--max-semi-space-size=1"] [--inspect 19111]
 *   [--snapshots <dir>] [--gc] [--batch 10] [--server-args "..."] [--root <dir>] [--json <file>]`
 *
 * @module
 */
import { type ChannelOpener, loopbackServerArgs, startChannelOpener } from "./_util.ts";

const args = Deno.args;
const get = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const port = Number(get("--port") ?? 19110);
const mode = get("--mode") ?? "raw";
const steps = (get("--steps") ?? "20,1000,2000,3000,4000,5000").split(",").map(Number);
const settle = Number(get("--settle") ?? 2000);
const v8 = get("--v8");
const inspectPort = get("--inspect");
const snapshots = get("--snapshots");
const gcFirst = args.includes("--gc");
const batch = Number(get("--batch") ?? 10);
const serverArgs = get("--server-args")?.split(" ").filter(Boolean) ?? [];
const jsonOut = get("--json");
const ROOT = (() => {
  const dir = get("--root") ?? new URL("..", import.meta.url).pathname;
  return dir.endsWith("/") ? dir : `${dir}/`;
})();
const KIB = 1024;
const tmp = await Deno.makeTempDir({ prefix: "idle-probe-" });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function spawnServer(): Deno.ChildProcess {
  const denoArgs = [
    "run",
    "-A",
    ...(inspectPort ? [`--inspect=127.0.0.1:${inspectPort}`] : []),
    ...(v8 ? [`--v8-flags=${v8}`] : []),
    `${ROOT}main.ts`,
    ...loopbackServerArgs(port),
    "--log-level",
    get("--log-level") ?? "INFO",
    "--new-rate-limit",
    "0",
    "--max-channels-per-ip",
    "0",
    ...serverArgs,
  ];
  return new Deno.Command("bash", {
    args: [
      "-c",
      'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@" >"$LOGFILE" 2>&1',
      "bash",
      Deno.execPath(),
      ...denoArgs,
    ],
    cwd: ROOT,
    env: { LOGFILE: `${tmp}/server.log` },
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
}

const url = `http://127.0.0.1:${port}`;
const server = spawnServer();
const deadline = Date.now() + 30_000;
for (;;) {
  try {
    const r = await fetch(`${url}/healthz`);
    await r.body?.cancel();
    if (r.ok) break;
  } catch { /* not yet */ }
  if (Date.now() > deadline) throw new Error(await Deno.readTextFile(`${tmp}/server.log`));
  await sleep(100);
}
const pid = server.pid;

function status(): Record<string, number> {
  const text = Deno.readTextFileSync(`/proc/${pid}/status`);
  const out: Record<string, number> = {};
  for (const key of ["VmRSS", "RssAnon", "RssFile"]) {
    out[key] = Number(new RegExp(`${key}:\\s+(\\d+)`).exec(text)?.[1] ?? 0) * KIB;
  }
  return out;
}

/** RSS by kind of mapping: malloc's brk heap, 64 MiB-aligned malloc arenas, others. */
function smaps(): Record<string, number> {
  const text = Deno.readTextFileSync(`/proc/${pid}/smaps`);
  const out: Record<string, number> = { brkHeap: 0, bigAnon: 0, smallAnon: 0, file: 0 };
  let kind = "";
  for (const line of text.split("\n")) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ (\d+)\s*(.*)$/.exec(line);
    if (m) {
      const size = parseInt(m[2], 16) - parseInt(m[1], 16);
      const name = m[4];
      kind = name === "[heap]"
        ? "brkHeap"
        : name && !name.startsWith("[anon")
        ? "file"
        : size >= 32 * 2 ** 20
        ? "bigAnon"
        : "smallAnon";
    } else if (line.startsWith("Rss:")) {
      out[kind] += Number(/(\d+)/.exec(line)![1]) * KIB;
    }
  }
  return out;
}

async function metrics(): Promise<Record<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const out: Record<string, number> = {};
  const want = [
    ["nodejs_heap_size_used_bytes", "heapUsed"],
    ["nodejs_heap_size_total_bytes", "heapTotal"],
    ["nodejs_external_memory_bytes", "external"],
    ['nodejs_heap_space_size_total_bytes{space="new"}', "newTotal"],
    ['nodejs_heap_space_size_total_bytes{space="old"}', "oldTotal"],
    ['nodejs_heap_space_size_used_bytes{space="old"}', "oldUsed"],
    ['nodejs_heap_space_size_total_bytes{space="large_object"}', "loTotal"],
  ];
  for (const line of text.split("\n")) {
    for (const [name, key] of want) {
      if (line.startsWith(name + " ")) out[key] = Number(line.slice(name.length + 1));
    }
  }
  return out;
}

// ---- DevTools protocol (only with --inspect)
let cdp: WebSocket | undefined;
let cdpId = 0;
const cdpWaiters = new Map<number, (v: unknown) => void>();
let chunkSink: string[] | undefined;
async function cdpConnect(): Promise<void> {
  const list = await (await fetch(`http://127.0.0.1:${inspectPort}/json/list`)).json();
  cdp = new WebSocket(list[0].webSocketDebuggerUrl);
  await new Promise((r) => (cdp!.onopen = r));
  cdp.onmessage = (e) => {
    const msg = JSON.parse(e.data);
    if (msg.id !== undefined) cdpWaiters.get(msg.id)?.(msg.result);
    else if (msg.method === "HeapProfiler.addHeapSnapshotChunk") chunkSink?.push(msg.params.chunk);
  };
}
function cdpCall(method: string, params: unknown = {}): Promise<unknown> {
  const id = ++cdpId;
  cdp!.send(JSON.stringify({ id, method, params }));
  return new Promise((r) => cdpWaiters.set(id, r));
}
async function snapshot(file: string): Promise<void> {
  chunkSink = [];
  await cdpCall("HeapProfiler.takeHeapSnapshot", { reportProgress: false });
  await Deno.writeTextFile(file, chunkSink.join(""));
  chunkSink = undefined;
}
if (inspectPort) {
  await cdpConnect();
  await cdpCall("HeapProfiler.enable");
}

// ---- openers
let opened = 0;
let openTo: (n: number) => Promise<number>;
const clients: Deno.ChildProcess[] = [];
let opener: ChannelOpener | undefined;
if (mode === "raw") {
  opener = startChannelOpener(url);
  openTo = opener.openTo;
} else {
  const attached = async () =>
    (await (await fetch(`${url}/internal/channels`)).json()).webhook_channels.length as number;
  openTo = async (n) => {
    while (clients.length < n) {
      const k = Math.min(batch, n - clients.length);
      for (let i = 0; i < k; i++) {
        const index = clients.length;
        clients.push(
          new Deno.Command("bash", {
            args: [
              "-c",
              'exec "$@" >"$LOGFILE" 2>&1',
              "bash",
              Deno.execPath(),
              "run",
              "-A",
              `${ROOT}main.ts`,
              "client",
              "--server-url",
              url,
              "--target-url",
              `http://127.0.0.1:${port + 9}`,
              "--state-file",
              `${tmp}/${index}.json`,
              "--inspect-addr",
              "off",
              "--log-level",
              "ERROR",
            ],
            cwd: ROOT,
            env: { LOGFILE: `${tmp}/client-${index}.log` },
            stdin: "null",
            stdout: "null",
            stderr: "null",
          }).spawn(),
        );
      }
      const until = Date.now() + 60_000;
      while ((await attached()) < clients.length && Date.now() < until) await sleep(200);
    }
    return await attached();
  };
}

// ---- steps
const rows: Record<string, number>[] = [];
try {
  for (const step of steps) {
    opened = step === 0 ? 0 : await openTo(step);
    await sleep(settle);
    if (gcFirst && cdp) await cdpCall("HeapProfiler.collectGarbage");
    if (snapshots && cdp) await snapshot(`${snapshots}/snap-${mode}-${step}.heapsnapshot`);
    if (gcFirst || snapshots) await sleep(500);
    const row: Record<string, number> = {
      channels: opened,
      ...status(),
      ...(await metrics()),
      ...smaps(),
    };
    rows.push(row);
    const prev = rows.length > 1 ? rows[rows.length - 2] : undefined;
    const d = (k: string) =>
      prev && row.channels > prev.channels
        ? ((row[k] - prev[k]) / (row.channels - prev.channels) / KIB).toFixed(1)
        : "-";
    console.log(
      `${String(opened).padStart(5)} ch  rss ${(row.VmRSS / 2 ** 20).toFixed(1)} MiB (anon ${
        (row.RssAnon / 2 ** 20).toFixed(1)
      })  heapUsed ${(row.heapUsed / 2 ** 20).toFixed(1)} heapTotal ${
        (row.heapTotal / 2 ** 20).toFixed(1)
      } new ${(row.newTotal / 2 ** 20).toFixed(1)} ext ${(row.external / 2 ** 20).toFixed(1)}` +
        `  | per ch since prev: rss ${d("VmRSS")} anon ${d("RssAnon")} heapUsed ${
          d("heapUsed")
        } heapTotal ${d("heapTotal")} ext ${d("external")} brk ${d("brkHeap")} big ${
          d("bigAnon")
        } small ${d("smallAnon")} KiB`,
    );
  }
  const hold = Number(get("--hold") ?? 0);
  for (let t = 10; t <= hold; t += 10) {
    await sleep(10_000);
    const row: Record<string, number> = { channels: opened, ...status(), ...(await metrics()) };
    console.log(
      `  +${t}s  rss ${(row.VmRSS / 2 ** 20).toFixed(1)} MiB heapUsed ${
        (row.heapUsed / 2 ** 20).toFixed(1)
      } heapTotal ${(row.heapTotal / 2 ** 20).toFixed(1)} new ${
        (row.newTotal / 2 ** 20).toFixed(1)
      } old ${(row.oldTotal / 2 ** 20).toFixed(1)} ext ${(row.external / 2 ** 20).toFixed(1)}`,
    );
  }
} finally {
  if (jsonOut) await Deno.writeTextFile(jsonOut, JSON.stringify(rows, null, 1));
  cdp?.close();
  await opener?.stop();
  for (const c of clients) {
    try {
      c.kill("SIGTERM");
    } catch { /* gone */ }
  }
  await Promise.all(clients.map((c) => c.status));
  try {
    server.kill("SIGTERM");
  } catch { /* gone */ }
  await server.status;
  await Deno.remove(tmp, { recursive: true }).catch(() => {});
}
