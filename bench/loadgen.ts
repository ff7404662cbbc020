/**
 * Fallback load generator, used only when `wrk` is not installed: a separate Deno process that
 * POSTs a fixed body over `node:http` keep-alive connections (not the code under test).
 *
 * Usage: `deno run -A bench/loadgen.ts <url> <bodyBytes> <concurrency> <seconds>`; prints one JSON
 * line in the same shape as the wrk Lua `done()` output.
 *
 * @module
 */
import http from "node:http";

const [urlArg, sizeArg, concArg, secondsArg] = Deno.args;
const url = new URL(urlArg);
const body = new Uint8Array(Number(sizeArg)).fill(97);
const concurrency = Number(concArg);
const deadline = performance.now() + Number(secondsArg) * 1000;
const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
const latencies: number[] = [];
const errors = { connect: 0, read: 0, write: 0, status: 0, timeout: 0 };
const started = performance.now();

function once(): Promise<void> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const request = http.request({
      hostname: url.hostname,
      port: url.port,
      path: url.pathname + url.search,
      method: "POST",
      agent,
      headers: { "content-type": "application/octet-stream", "content-length": body.length },
    }, (response) => {
      response.on("data", () => {});
      response.on("end", () => {
        if ((response.statusCode ?? 0) >= 400) errors.status++;
        latencies.push((performance.now() - t0) * 1000);
        resolve();
      });
    });
    request.on("error", () => {
      errors.read++;
      resolve();
    });
    request.end(body);
  });
}

async function worker(): Promise<void> {
  while (performance.now() < deadline) await once();
}

await Promise.all(Array.from({ length: concurrency }, worker));
const durationUs = (performance.now() - started) * 1000;
latencies.sort((a, b) => a - b);
const pct = (p: number) =>
  latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] ?? 0;
console.log(
  "WRKJSON " + JSON.stringify({
    requests: latencies.length,
    duration_us: Math.round(durationUs),
    errors,
    p50_us: Math.round(pct(0.5)),
    p90_us: Math.round(pct(0.9)),
    p99_us: Math.round(pct(0.99)),
    max_us: Math.round(latencies.at(-1) ?? 0),
  }),
);
agent.destroy();
Deno.exit(0);
