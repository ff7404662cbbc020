/**
 * Adversarial suite, file descriptors: a flood of connections that takes every descriptor the
 * server may open must not stop it for good; once the flood is gone it serves again.
 */
import assert from "node:assert/strict";
import { freePorts, Proc, waitUntil } from "../_harness.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The server's open-files limit in this test: room for its own ~30 descriptors and a few more. */
const FILE_LIMIT = 128;

/** Starts `server` under `ulimit -n` {@linkcode FILE_LIMIT}, and waits until it answers. */
async function startLimitedServer(): Promise<Proc & { port: number }> {
  const [port, gossip] = freePorts(2);
  const main = new URL("../../main.ts", import.meta.url).pathname;
  const child = new Deno.Command("sh", {
    args: [
      "-c",
      `ulimit -n ${FILE_LIMIT} && exec "$0" run -A "$1" server --port ${port} ` +
      `--bind-addr 127.0.0.1 --memberlist-port ${gossip}`,
      Deno.execPath(),
      main,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const proc = Object.assign(new Proc(child), { port });
  await waitUntil(() => healthy(port, 1_000), "the limited server answering /healthz");
  return proc;
}

/** Whether `GET /healthz` on a fresh connection gets a 200 within `timeout` ms. */
async function healthy(port: number, timeout: number): Promise<boolean> {
  let conn: Deno.Conn;
  try {
    conn = await Deno.connect({ hostname: "127.0.0.1", port });
  } catch {
    return false;
  }
  const timer = setTimeout(() => conn.close(), timeout);
  try {
    await conn.write(
      encoder.encode("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
    );
    const buffer = new Uint8Array(1024);
    const n = await conn.read(buffer);
    return n !== null && decoder.decode(buffer.subarray(0, n)).startsWith("HTTP/1.1 200 ");
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch {
      // Closed by the timer.
    }
  }
}

Deno.test("a connection flood past the server's open-files limit does not stop it accepting for good", async () => {
  await using server = await startLimitedServer();
  // More connections than descriptors: the server accepts until it has none left (EMFILE).
  const flood: Deno.Conn[] = [];
  try {
    for (let i = 0; i < FILE_LIMIT + 64; i++) {
      flood.push(await Deno.connect({ hostname: "127.0.0.1", port: server.port }));
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
  } finally {
    for (const conn of flood) conn.close();
  }
  // The flood is gone: the server must serve again (before the fix its accept loop had ended).
  await waitUntil(() => healthy(server.port, 500), "the server answering after the flood", 10_000);
  assert.ok(await healthy(server.port, 2_000));
});
