/**
 * Adversarial suite, client side (issue 13, findings 6, 12, 13): real server and client
 * processes on loopback, fed by raw sockets where a sender misbehaves.
 */
import assert from "node:assert/strict";
import { connectWebSocket } from "../../client/_ws_client.ts";
import { MAX_MESSAGE_SIZE, PROTOCOL_HEADER, PROTOCOL_VERSION } from "../../protocol/mod.ts";
import { startApp, startClientProc, startServerProc } from "../_harness.ts";

Deno.test("client merges --target-url's query first, then the webhook's", async () => {
  const seen: string[] = [];
  await using app = startApp((request) => {
    const url = new URL(request.url);
    seen.push(url.pathname + url.search);
    return new Response("ok");
  });
  await using server = await startServerProc();
  await using client = await startClientProc(server.url, `${app.url}/hook?token=abc`);
  for (const suffix of ["/p?x=1", "/p", ""]) {
    const response = await fetch(`${client.webhookUrl}${suffix}`, { method: "POST", body: "a" });
    assert.equal(response.status, 200);
    await response.body?.cancel();
  }
  assert.deepEqual(seen, ["/hook/p?token=abc&x=1", "/hook/p?token=abc", "/hook?token=abc"]);
});

/** The server process's resident set size, bytes. */
async function rssOf(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  return Number(status.match(/VmRSS:\s+(\d+) kB/)![1]) * 1024;
}

Deno.test("server closes a tunnel with 1009 on a message over MAX_MESSAGE_SIZE", async () => {
  await using server = await startServerProc();
  const rounds = 8;
  let before = 0;
  for (let i = 0; i < rounds; i++) {
    const issued = await (await fetch(`${server.url}/new`)).json();
    const ws = await connectWebSocket(
      `${server.url.replace("http", "ws")}/ws/${issued.channel_id}`,
      {
        headers: {
          [PROTOCOL_HEADER]: String(PROTOCOL_VERSION),
          "x-channel-secret": issued.channel_secret,
        },
      },
    );
    ws.send(new Uint8Array(MAX_MESSAGE_SIZE + 1));
    const closed = await ws.closed;
    assert.equal(closed.code, 1009, `round ${i}: ${closed.code} ${closed.reason}`);
    if (i === 0) before = await rssOf(server.pid);
  }
  const growth = (await rssOf(server.pid)) - before;
  console.log(
    `server RSS growth after ${rounds - 1} oversize messages: ${(growth / 2 ** 20).toFixed(1)} MiB`,
  );
  assert.ok(growth < 8 * 2 ** 20, `RSS grew by ${growth} bytes`);
});
