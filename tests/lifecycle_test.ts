/**
 * End to end: delivery log lines, log levels and formats, and graceful shutdown.
 */
import assert from "node:assert/strict";
import { startApp, startClientProc, startServerProc, waitUntil } from "./_harness.ts";

Deno.test("server and client log one line per delivery; operator endpoints are not logged", async () => {
  await using app = startApp(() => new Response("12345"));
  await using server = await startServerProc(["--log-format", "json"]);
  await using client = await startClientProc(server.url, app.url);
  const response = await fetch(`${client.webhookUrl}/hook?q=1`, { method: "POST", body: "abc" });
  assert.equal(await response.text(), "12345");
  for (const path of ["/healthz", "/traefik-config", "/internal/channels"]) {
    await (await fetch(`${server.url}${path}`)).body?.cancel();
  }
  const serverLine = await server.waitFor(/"method":"POST"/, { stream: "stderr" });
  const record = JSON.parse(serverLine.input!);
  assert.equal(record.level, "INFO");
  assert.equal(record.properties.status, 200);
  assert.equal(record.properties.path, `/webhook/${client.channelId}/hook`);
  assert.equal(record.properties.requestBytes, 3);
  assert.equal(record.properties.responseBytes, 5);
  assert.equal(typeof record.properties.durationMs, "number");
  const clientLine = await client.waitFor(/POST \/hook\?q=1 200 [\d.]+ms req=3B resp=5B/, {
    stream: "stderr",
  });
  assert.ok(clientLine);
  const logged = server.stderr.join("\n");
  assert.doesNotMatch(logged, /healthz|traefik-config|internal\/channels/);
  assert.equal(server.stderr.filter((l) => l.includes('"method":"POST"')).length, 1);
});

Deno.test("--log-level WARN hides delivery lines", async () => {
  await using app = startApp(() => new Response("ok"));
  await using server = await startServerProc(["--log-level", "WARN"]);
  await using client = await startClientProc(server.url, app.url, ["--log-level", "warn"]);
  await (await fetch(client.webhookUrl, { method: "POST", body: "x" })).body?.cancel();
  await client.stop("SIGTERM");
  await server.stop("SIGTERM");
  assert.deepEqual(server.stderr.filter((l) => l.includes("[INF]")), []);
  assert.deepEqual(client.stderr.filter((l) => l.includes("[INF]")), []);
});

Deno.test("SIGTERM lets in-flight requests finish, closes tunnels normally and exits 0", async () => {
  let entered = false;
  await using app = startApp(async () => {
    entered = true;
    await new Promise((resolve) => setTimeout(resolve, 1000));
    return new Response("finished");
  });
  const server = await startServerProc();
  await using client = await startClientProc(server.url, app.url);
  const pending = fetch(client.webhookUrl, { method: "POST", body: "x" });
  await waitUntil(() => entered, "request reached the app");
  server.kill("SIGTERM");
  const response = await pending;
  assert.equal(response.status, 200);
  assert.equal(await response.text(), "finished");
  const status = await server.status;
  assert.equal(status.code, 0);
  await client.waitFor(/The tunnel closed \(code 1000: Server shutting down\)/, {
    stream: "stderr",
  });
});

Deno.test("client SIGINT finishes in-flight requests and exits 0", async () => {
  let entered = false;
  await using app = startApp(async () => {
    entered = true;
    await new Promise((resolve) => setTimeout(resolve, 800));
    return new Response("done");
  });
  await using server = await startServerProc();
  const client = await startClientProc(server.url, app.url);
  const pending = fetch(client.webhookUrl, { method: "POST", body: "x" });
  await waitUntil(() => entered, "request reached the app");
  client.kill("SIGINT");
  const response = await pending;
  assert.equal(await response.text(), "done");
  assert.equal((await client.status).code, 0);
});

Deno.test("keep-alive: the server notices a frozen client within 30 s", async () => {
  await using app = startApp(() => new Response("ok"));
  await using server = await startServerProc();
  const client = await startClientProc(server.url, app.url);
  // Freeze the client: its TCP connection stays open but it answers no ping.
  client.kill("SIGSTOP");
  const frozenAt = performance.now();
  await server.waitFor(/Client left channel/, { stream: "stderr", timeout: 35_000 });
  const serverNoticed = performance.now() - frozenAt;
  assert.ok(serverNoticed < 30_000, `server noticed after ${serverNoticed} ms`);
  const response = await fetch(client.webhookUrl, { method: "POST", body: "x" });
  assert.equal(response.status, 503);
  await response.body?.cancel();
  client.kill("SIGCONT");
  // The thawed client finds its socket closed and comes back by itself.
  await client.waitFor(/^Reconnected/, { stream: "stdout", timeout: 35_000 });
  await client.stop();
});
