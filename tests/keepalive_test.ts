/**
 * End to end: the client notices a frozen server within 30 s (it pings on silence) and
 * reconnects once the server is back.
 */
import assert from "node:assert/strict";
import { startApp, startClientProc, startServerProc } from "./_harness.ts";

Deno.test("keep-alive: the client notices a frozen server within 30 s", async () => {
  await using app = startApp(() => new Response("ok"));
  await using server = await startServerProc();
  await using client = await startClientProc(server.url, app.url);
  server.kill("SIGSTOP");
  const frozenAt = performance.now();
  try {
    await client.waitFor(/The tunnel closed/, { stream: "stderr", timeout: 35_000 });
  } finally {
    server.kill("SIGCONT");
  }
  const noticed = performance.now() - frozenAt;
  assert.ok(noticed < 30_000, `client noticed after ${noticed} ms`);
  await client.waitFor(/^Reconnected/, { stream: "stdout", timeout: 35_000 });
  const response = await fetch(client.webhookUrl, { method: "POST", body: "x" });
  assert.equal(await response.text(), "ok");
});
