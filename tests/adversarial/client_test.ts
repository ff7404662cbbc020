/**
 * Adversarial suite, client side (issue 13, findings 6, 12, 13): real server and client
 * processes on loopback, fed by raw sockets where a sender misbehaves.
 */
import assert from "node:assert/strict";
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
