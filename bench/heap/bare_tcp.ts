// bench/heap/bare_tcp.ts (issue #14): the memory floor of an idle accepted connection in bare
// Deno (accept, keep one pending read with a `buf`-byte buffer), to compare with what
// bench/idle_probe.ts measures per idle channel of the server.
// deno run -A --v8-flags=--expose-gc bench/heap/bare_tcp.ts <port> <count> <bufBytes> [steps]
const [portArg, countArg, bufArg] = Deno.args;
const port = Number(portArg), count = Number(countArg), bufBytes = Number(bufArg);
const KIB = 1024;
const listener = Deno.listen({ hostname: "127.0.0.1", port });
const conns: Deno.Conn[] = [];
(async () => {
  for await (const conn of listener) {
    conns.push(conn);
    const buf = new Uint8Array(bufBytes);
    (async () => {
      try {
        while ((await conn.read(buf)) !== null);
      } catch { /* closed */ }
    })();
  }
})();
function mem() {
  (globalThis as unknown as { gc: () => void }).gc();
  const s = Deno.readTextFileSync("/proc/self/status");
  const rss = Number(/VmRSS:\s+(\d+)/.exec(s)![1]) * KIB;
  const m = Deno.memoryUsage();
  let brk = 0;
  const smaps = Deno.readTextFileSync("/proc/self/smaps").split("\n");
  let inHeap = false;
  for (const l of smaps) {
    if (/^[0-9a-f]+-/.test(l)) inHeap = l.endsWith("[heap]");
    else if (inHeap && l.startsWith("Rss:")) brk += Number(/(\d+)/.exec(l)![1]) * KIB;
  }
  const slab = Number(/Slab:\s+(\d+)/.exec(Deno.readTextFileSync("/proc/meminfo"))![1]) * KIB;
  return { rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, brk, slab };
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
// The clients live in a child process so their memory is not ours.
await sleep(1500);
const before = mem();
const child = new Deno.Command(Deno.execPath(), {
  args: [
    "eval",
    `const cs=[];const n=${count};for(let i=0;i<n;i+=50){await Promise.all(Array.from({length:Math.min(50,n-i)},async()=>cs.push(await Deno.connect({hostname:"127.0.0.1",port:${port}}))));}console.log("ok");setInterval(()=>{},1e6);`,
  ],
  stdout: "piped",
}).spawn();
const reader = child.stdout.getReader();
await reader.read();
while (conns.length < count) await sleep(100);
await sleep(2000);
const after = mem();
const per = (k: keyof typeof before) => ((after[k] - before[k]) / count / KIB).toFixed(2);
console.log(
  `buf ${bufBytes}: ${count} conns: rss ${per("rss")} KiB/conn, heapUsed ${
    per("heapUsed")
  }, heapTotal ${per("heapTotal")}, external ${per("external")}, brk ${
    per("brk")
  }, kernel slab (both ends) ${per("slab")}`,
);
try {
  child.kill("SIGKILL");
} catch { /* gone */ }
await child.status;
Deno.exit(0);
