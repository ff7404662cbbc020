/**
 * End to end: a real client serves its Prometheus metrics on the inspector's port (`GET /metrics`)
 * and they follow what happened: deliveries by outcome and status, the app's latency, the tunnel
 * going down and up, reconnects. The scrape passes `promtool check metrics`.
 *
 * @module
 */
import assert from "node:assert/strict";
import { startApp, startClientProc, startServerProc, waitUntil } from "./_harness.ts";
import { promtoolCheckMetrics, scrape, sumOf } from "./_metrics.ts";

/** This file's loopback address (the range assigned to the metrics tests: 127.0.0.170–179). */
const INSPECT_HOST = "127.0.0.170";

Deno.test("client /metrics on the inspector's port follows deliveries, tunnel state and reconnects", async () => {
  await using app = startApp(async (request) => {
    const path = new URL(request.url).pathname;
    await request.body?.cancel();
    if (path === "/slow") await new Promise((resolve) => setTimeout(resolve, 2_000));
    return new Response("ok", { status: path === "/fail" ? 503 : 200 });
  });
  const serverArgs = ["--channel-key", "client-metrics-key", "--log-level", "WARN"];
  let server = await startServerProc(serverArgs);
  const port = server.port;
  await using client = await startClientProc(server.url, app.url, [
    "--inspect-addr",
    `${INSPECT_HOST}:0`,
    "--transfer-request-timeout",
    "300ms",
  ]);
  try {
    const inspector = (await client.waitFor(/^Inspector: (\S+)$/, { stream: "stdout" }))[1];
    const before = await (await scrape(inspector)).text();
    assert.equal(sumOf(before, "wow_client_tunnel_up"), 1);
    assert.equal(sumOf(before, "wow_client_deliveries_total"), 0);

    for (const path of ["/a", "/b", "/c", "/fail", "/slow"]) {
      const response = await fetch(client.webhookUrl + path, { method: "POST", body: "{}" });
      await response.body?.cancel();
      assert.equal(response.status, path === "/fail" ? 503 : path === "/slow" ? 504 : 200);
    }
    const text = await waitUntil(async () => {
      const text = await (await scrape(inspector)).text();
      return sumOf(text, "wow_client_deliveries_total") === 5 ? text : "";
    }, "5 client deliveries");
    assert.equal(sumOf(text, "wow_client_deliveries_total", 'outcome="answered",code="200"'), 3);
    assert.equal(sumOf(text, "wow_client_deliveries_total", 'outcome="answered",code="503"'), 1);
    assert.equal(
      sumOf(text, "wow_client_deliveries_total", 'outcome="target_timeout",code="none"'),
      1,
    );
    assert.equal(sumOf(text, "wow_client_app_duration_seconds_count"), 4, "answered only");
    assert.ok(sumOf(text, "wow_client_app_duration_seconds_sum") > 0);
    assert.equal(sumOf(text, "wow_client_reconnects_total"), 0);

    // The server goes away: the tunnel is down; it comes back on the same port and key: up again.
    await server.stop("SIGTERM");
    await waitUntil(async () => {
      const text = await (await scrape(inspector)).text();
      return sumOf(text, "wow_client_tunnel_up") === 0;
    }, "wow_client_tunnel_up 0");
    server = await startServerProc(serverArgs, { port });
    await client.waitFor(/^Reconnected/, { stream: "stdout", timeout: 30_000 });
    const after = await (await scrape(inspector)).text();
    assert.equal(sumOf(after, "wow_client_tunnel_up"), 1);
    assert.equal(sumOf(after, "wow_client_reconnects_total"), 1);

    const { code, output } = await promtoolCheckMetrics(after);
    assert.equal(code, 0, `promtool check metrics failed:\n${output}`);
  } finally {
    await server.stop();
  }
});

Deno.test("client /metrics obeys --inspect-token", async () => {
  await using app = startApp(() => new Response("ok"));
  await using server = await startServerProc(["--log-level", "WARN"]);
  await using client = await startClientProc(server.url, app.url, [
    "--inspect-addr",
    `${INSPECT_HOST}:0`,
    "--inspect-token",
    "scrape-token",
  ]);
  const inspector = (await client.waitFor(/^Inspector: (\S+)$/, { stream: "stdout" }))[1];
  const refused = await scrape(inspector);
  await refused.body?.cancel();
  assert.equal(refused.status, 401);
  const allowed = await scrape(inspector, "scrape-token");
  assert.equal(allowed.status, 200);
  assert.match(await allowed.text(), /^wow_client_tunnel_up 1$/m);
});
