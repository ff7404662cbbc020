/**
 * Adversarial suite, the header guard (issue 13, finding 4): kept-alive connections through
 * `--header-timeout` are cheap and time out when idle; slow-loris heads still get 408.
 */
import assert from "node:assert/strict";
import { startServerProc, waitUntil } from "../_harness.ts";
import { assertServerOptions } from "../../server/options.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Opens a connection, sends one `GET /healthz` and reads its whole answer; the socket stays open. */
async function keptAlive(port: number): Promise<Deno.Conn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(encoder.encode("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
  const buffer = new Uint8Array(4096);
  let text = "";
  for (;;) {
    const end = text.indexOf("\r\n\r\n");
    const length = Number(text.match(/content-length: (\d+)/i)?.[1] ?? NaN);
    if (end >= 0 && text.length - end - 4 >= length) break;
    const n = await conn.read(buffer);
    if (n === null) throw new Error(`Closed before the answer was complete: ${text}`);
    text += decoder.decode(buffer.subarray(0, n));
  }
  assert.match(text, /^HTTP\/1\.1 200 /);
  return conn;
}

/** The resident set size of `pid`, KiB. */
async function rssKib(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  return Number(status.match(/VmRSS:\s+(\d+) kB/)![1]);
}

Deno.test("header guard closes a kept-alive connection idle for --idle-timeout; a busy one stays", async () => {
  await using server = await startServerProc([
    "--header-timeout",
    "5s",
    "--request-timeout",
    "500ms",
    "--idle-timeout",
    "1s",
  ]);
  const idle = await keptAlive(server.port);
  const busy = await keptAlive(server.port);
  const started = performance.now();
  const closed = idle.read(new Uint8Array(16)).then(() => performance.now() - started, () => 0);
  // The busy one sends a request every 300 ms, each well inside the idle timeout.
  const buffer = new Uint8Array(4096);
  for (let i = 0; i < 8; i++) {
    await new Promise((resolve) => setTimeout(resolve, 300));
    await busy.write(encoder.encode("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
    assert.ok((await busy.read(buffer)) !== null, `busy connection closed at request ${i}`);
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  const after = await Promise.race([
    closed,
    new Promise<number>((resolve) => (timer = setTimeout(() => resolve(Infinity), 5_000))),
  ]);
  clearTimeout(timer);
  assert.ok(after >= 900 && after < 2_000, `the idle connection closed after ${after} ms`);
  idle.close();
  await closed;
  busy.close();
});

Deno.test("header guard still answers a slow-loris head with 408 after --header-timeout", async () => {
  await using server = await startServerProc(["--header-timeout", "500ms"]);
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  await conn.write(encoder.encode("POST /webhook/x HTTP/1.1\r\nHost: x\r\n"));
  const answer = decoder.decode(await new Response(conn.readable).arrayBuffer());
  assert.match(answer, /^HTTP\/1\.1 408/);
});

Deno.test("header guard: 300 idle kept-alive connections cost under 100 KiB each", async () => {
  await using server = await startServerProc(["--header-timeout", "10s"]);
  const count = 300;
  // Warm up the paths (first connections allocate arenas the rest reuse).
  for (let i = 0; i < 30; i++) (await keptAlive(server.port)).close();
  const before = await rssKib(server.pid);
  const conns: Deno.Conn[] = [];
  try {
    for (let i = 0; i < count; i += 50) {
      conns.push(...await Promise.all(Array.from({ length: 50 }, () => keptAlive(server.port))));
    }
    // The figure only needs to settle below the bound (≈ 50 KiB each with the byte pump; two
    // pipeTo()s per connection cost ≈ 160 KiB).
    await waitUntil(
      async () => (await rssKib(server.pid) - before) / count < 100,
      "server RSS per connection under 100 KiB",
    );
  } finally {
    for (const conn of conns) conn.close();
  }
});

Deno.test("assertServerOptions refuses --idle-timeout not longer than --request-timeout with the guard on", () => {
  assert.throws(
    () =>
      assertServerOptions({ headerTimeout: 5_000, idleTimeout: 30_000, requestTimeout: 30_000 }),
    /set --idle-timeout longer than --request-timeout/,
  );
  assertServerOptions({ headerTimeout: 5_000, idleTimeout: 0, requestTimeout: 30_000 });
  assertServerOptions({ headerTimeout: 0, idleTimeout: 1_000, requestTimeout: 30_000 });
});
