/**
 * Adversarial suite, slow request bodies: a sender that stops sending its webhook's body part way
 * cannot hold its connection (and the server's work on it) past `--request-timeout`.
 */
import assert from "node:assert/strict";
import { startApp, startClientProc, startServerProc, waitUntil } from "../_harness.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Sends `head` and the start of a body that is never finished, then reads until the server
 * closes the connection or `timeout` ms pass.
 * @returns The answer's status line (`""` for none) and how long the connection lasted.
 */
async function stalledUpload(
  port: number,
  path: string,
  timeout: number,
): Promise<{ status: string; closed: boolean; after: number }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const started = performance.now();
  let text = "";
  let closed = false;
  const timer = setTimeout(() => conn.close(), timeout);
  try {
    await conn.write(
      encoder.encode(
        `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
          `Content-Length: 100000\r\n\r\n{"partial":`,
      ),
    );
    const buffer = new Uint8Array(4096);
    for (let n = await conn.read(buffer); n !== null; n = await conn.read(buffer)) {
      text += decoder.decode(buffer.subarray(0, n));
    }
    closed = true;
  } catch (error) {
    closed =
      !(error instanceof Deno.errors.Interrupted || error instanceof Deno.errors.BadResource);
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch {
      // Closed by the timer.
    }
  }
  return { status: text.split("\r\n")[0], closed, after: performance.now() - started };
}

Deno.test("a webhook body that stops mid-way while the client is away (queued) is given up after --request-timeout", async () => {
  await using app = startApp(() => new Response("ok"));
  await using server = await startServerProc([
    "--queue",
    "memory:",
    "--channel-key",
    "slow-body-test-key",
    "--request-timeout",
    "1s",
    "--header-timeout",
    "1s",
  ]);
  const client = await startClientProc(server.url, app.url);
  const path = new URL(client.webhookUrl).pathname;
  await client.stop("SIGKILL");
  await waitUntil(async () => {
    const response = await fetch(`${client.webhookUrl}/probe`, { method: "POST", body: "{}" });
    await response.body?.cancel();
    return response.status === 202;
  }, "the server to queue webhooks for the away client");
  // Before the fix the store waited for the rest of the body forever: no timeout covered it.
  const { status, closed, after } = await stalledUpload(server.port, path, 6_000);
  assert.ok(closed, `the connection was still open after ${Math.round(after)} ms`);
  assert.match(status, /^HTTP\/1\.1 408 /);
});
