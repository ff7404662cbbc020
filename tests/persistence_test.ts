/**
 * End to end: the webhook URL survives client and server restarts; the client reconnects by
 * itself; while it is away its channel answers 503 with Retry-After.
 */
import assert from "node:assert/strict";
import { freePort, startApp, startClientProc, startServerProc, waitUntil } from "./_harness.ts";

Deno.test("a restarted client reuses its saved channel and prints the same URL", async () => {
  await using app = startApp(() => new Response("ok"));
  await using server = await startServerProc();
  const first = await startClientProc(server.url, app.url);
  const mode = (await Deno.stat(first.stateFile)).mode! & 0o777;
  assert.equal(mode, 0o600);
  await first.stop("SIGTERM");
  await using second = await startClientProc(server.url, app.url, [
    "--state-file",
    first.stateFile,
  ]);
  assert.equal(second.webhookUrl, first.webhookUrl);
  assert.equal(await (await fetch(second.webhookUrl, { method: "POST", body: "x" })).text(), "ok");
  await second.stop("SIGTERM");
  await using third = await startClientProc(server.url, app.url, [
    "--state-file",
    first.stateFile,
    "--new-channel",
  ]);
  assert.notEqual(third.webhookUrl, first.webhookUrl);
});

Deno.test("after a server restart with the same --channel-key the running client comes back by itself", async () => {
  await using app = startApp(() => new Response("delivered"));
  const port = freePort();
  const key = ["--channel-key", "test-key-123"];
  const server = await startServerProc(key, { port });
  await using client = await startClientProc(server.url, app.url);
  await server.stop("SIGKILL");
  await using restarted = await startServerProc(key, { port });
  await client.waitFor(/^Reconnected: the tunnel to the server is re-established\.$/, {
    stream: "stdout",
  });
  const response = await fetch(client.webhookUrl, { method: "POST", body: "x" });
  assert.equal(await response.text(), "delivered");
  assert.equal(client.stdout.filter((l) => l.startsWith("Issued Channel ID")).length, 1);
  void restarted;
});

Deno.test("after a server restart with a new key the client gets a new channel and announces it", async () => {
  await using app = startApp(() => new Response("delivered"));
  const port = freePort();
  const server = await startServerProc([], { port });
  await using client = await startClientProc(server.url, app.url);
  const oldUrl = client.webhookUrl;
  await server.stop("SIGKILL");
  await using restarted = await startServerProc([], { port });
  const match = await client.waitFor(
    /^Please set the webhook destination as follows: (\S+)$/,
    { stream: "stdout", from: 2 },
  );
  assert.notEqual(match[1], oldUrl);
  await client.waitFor(/^Reconnected/, { stream: "stdout" });
  assert.equal(await (await fetch(match[1], { method: "POST", body: "x" })).text(), "delivered");
  const saved = JSON.parse(await Deno.readTextFile(client.stateFile));
  assert.ok(JSON.stringify(saved).includes(match[1].split("/").pop()!));
  void restarted;
});

Deno.test("a detached channel answers 503 with Retry-After until --channel-ttl, then 404", async () => {
  await using app = startApp(() => new Response("ok"));
  await using server = await startServerProc(["--channel-ttl", "2s"]);
  const client = await startClientProc(server.url, app.url);
  await client.stop("SIGKILL");
  const detached = await waitUntil(async () => {
    const response = await fetch(client.webhookUrl, { method: "POST", body: "x" });
    await response.body?.cancel();
    return response.status === 503 ? response : undefined;
  }, "503 while detached");
  assert.equal(detached!.headers.get("retry-after"), "30");
  await waitUntil(
    async () => {
      const response = await fetch(client.webhookUrl, { method: "POST", body: "x" });
      await response.body?.cancel();
      return response.status === 404;
    },
    "404 after the ttl",
    10_000,
  );
});
