/**
 * End to end: `GET /metrics` and `GET /readyz` on a real server process with a real client and
 * app; the scrape passes `promtool check metrics`.
 */
import assert from "node:assert/strict";
import { freePorts, startApp, startClientProc, startServerProc, waitUntil } from "./_harness.ts";
import { promtoolCheckMetrics as promtoolCheck, scrape, sumOf } from "./_metrics.ts";

const ADMIN_TOKEN = "metrics-admin-token";

Deno.test("server /metrics and /readyz", async (t) => {
  await using app = startApp(async (request) =>
    new Response(`got ${(await request.text()).length}`)
  );
  await using server = await startServerProc(["--admin-token", ADMIN_TOKEN]);
  await using client = await startClientProc(server.url, app.url);

  await t.step("/metrics: 401 without the admin token or with a wrong one", async () => {
    for (const token of [undefined, "wrong"]) {
      const response = await scrape(server.url, token);
      await response.body?.cancel();
      assert.equal(response.status, 401);
    }
  });

  await t.step("/readyz: 200 on a single server; /healthz unchanged", async () => {
    const ready = await fetch(`${server.url}/readyz`);
    assert.equal(ready.status, 200);
    assert.deepEqual(await ready.json(), { status: "READY" });
    const health = await fetch(`${server.url}/healthz`);
    assert.deepEqual(await health.json(), { status: "OK" });
  });

  const delivered = 7;
  const body = "x".repeat(100);
  for (let i = 0; i < delivered; i++) {
    const response = await fetch(`${client.webhookUrl}/hook?i=${i}`, { method: "POST", body });
    assert.equal(response.status, 200);
    assert.equal(await response.text(), `got ${body.length}`);
  }
  // One to a channel nobody holds: a 404 refusal, counted as a webhook too.
  const missing = await fetch(`${server.url}/webhook/${crypto.randomUUID()}`, { method: "POST" });
  await missing.body?.cancel();
  assert.equal(missing.status, 404);
  const sent = delivered + 1;

  await t.step("/metrics: counters match the traffic", async () => {
    // Webhooks are recorded once their bytes are counted: poll until every one is in.
    const text = await waitUntil(async () => {
      const response = await scrape(server.url, ADMIN_TOKEN);
      assert.equal(response.status, 200);
      const text = await response.text();
      return sumOf(text, "wow_webhooks_total") === sent ? text : "";
    }, `wow_webhooks_total = ${sent}`);
    assert.equal(sumOf(text, "wow_webhooks_total", 'code="200"'), delivered);
    assert.equal(sumOf(text, "wow_webhooks_total", 'code="404"'), 1);
    assert.equal(sumOf(text, "wow_webhook_duration_seconds_count"), sent);
    // One sample per webhook the client answered through this replica's tunnel.
    assert.equal(sumOf(text, "wow_tunnel_added_seconds_count"), delivered);
    assert.ok(
      sumOf(text, "wow_tunnel_added_seconds_sum") < sumOf(text, "wow_webhook_duration_seconds_sum"),
    );
    assert.equal(sumOf(text, "wow_webhook_request_bytes_total"), delivered * body.length);
    assert.ok(sumOf(text, "wow_webhook_response_bytes_total") >= delivered * 7);
    assert.equal(sumOf(text, "wow_in_flight"), 0);
    assert.equal(sumOf(text, "wow_refusals_total", 'reason="unknown_channel"'), 1);
    assert.equal(sumOf(text, "wow_channels", 'state="attached"'), 1);
    assert.equal(sumOf(text, "wow_tunnel_sessions_total"), 1);
    assert.equal(sumOf(text, "wow_cluster_members", 'state="alive"'), 1);
  });

  await t.step("/traefik-config gathers are counted", async () => {
    const traefik = await fetch(`${server.url}/traefik-config`, {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    await traefik.body?.cancel();
    assert.equal(traefik.status, 200);
    const text = await (await scrape(server.url, ADMIN_TOKEN)).text();
    assert.equal(sumOf(text, "wow_traefik_config_gathers_total", 'result="ok"'), 1);
    assert.equal(sumOf(text, "wow_traefik_config_gather_duration_seconds_count"), 1);
  });

  await t.step("promtool check metrics accepts the scrape", async () => {
    const response = await scrape(server.url, ADMIN_TOKEN);
    assert.match(response.headers.get("content-type") ?? "", /^text\/plain/);
    const { code, output } = await promtoolCheck(await response.text());
    assert.equal(code, 0, `promtool check metrics failed:\n${output}`);
  });

  await t.step("/readyz: 503 with a reason before the first cluster sync", async () => {
    // A replica told to join a peer that is not there never syncs.
    const [deadGossip] = freePorts(1);
    await using joining = await startServerProc(["--join", `127.0.0.1:${deadGossip}`]);
    const response = await fetch(`${joining.url}/readyz`);
    assert.equal(response.status, 503);
    const doc = await response.json();
    assert.equal(doc.status, "NOT_READY");
    assert.match(doc.reason, /not synced/);
    const health = await fetch(`${joining.url}/healthz`);
    await health.body?.cancel();
    assert.equal(health.status, 200);
    const traefik = await fetch(`${joining.url}/traefik-config`);
    await traefik.body?.cancel();
    assert.equal(traefik.status, 503);
    const text = await (await scrape(joining.url)).text();
    assert.equal(sumOf(text, "wow_traefik_config_gathers_total", 'result="not_synced"'), 1);
  });

  await t.step(
    "--metrics-addr: /metrics on its own listener, without the admin token",
    async () => {
      const [metricsPort] = freePorts(1);
      await using own = await startServerProc([
        "--admin-token",
        ADMIN_TOKEN,
        "--metrics-addr",
        `127.0.0.1:${metricsPort}`,
      ]);
      const response = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
      assert.equal(response.status, 200);
      const text = await response.text();
      assert.equal(sumOf(text, "wow_webhooks_total"), 0);
      assert.match(text, /# TYPE wow_webhooks_total counter/);
      const other = await fetch(`http://127.0.0.1:${metricsPort}/new`);
      await other.body?.cancel();
      assert.equal(other.status, 404);
      // The main port still requires the token.
      const main = await scrape(own.url);
      await main.body?.cancel();
      assert.equal(main.status, 401);
    },
  );

  await t.step("a client that leaves is counted as a disconnect", async () => {
    await client.stop("SIGTERM");
    await waitUntil(async () => {
      const text = await (await scrape(server.url, ADMIN_TOKEN)).text();
      return sumOf(text, "wow_tunnel_disconnects_total") === 1 &&
        sumOf(text, "wow_channels", 'state="attached"') === 0;
    }, "one tunnel disconnect");
  });
});

Deno.test("--metrics-per-channel labels the webhook counters with channels this replica holds", async () => {
  await using app = startApp(() => new Response("ok"));
  await using server = await startServerProc(["--metrics-per-channel", "--log-level", "WARN"]);
  await using client = await startClientProc(server.url, app.url);
  for (let i = 0; i < 3; i++) {
    const response = await fetch(client.webhookUrl, { method: "POST", body: "abc" });
    await response.body?.cancel();
    assert.equal(response.status, 200);
  }
  const stranger = await fetch(`${server.url}/webhook/${crypto.randomUUID()}`, { method: "POST" });
  await stranger.body?.cancel();
  assert.equal(stranger.status, 404);
  const text = await waitUntil(async () => {
    const text = await (await scrape(server.url)).text();
    return sumOf(text, "wow_webhooks_total") === 4 ? text : "";
  }, "4 webhooks counted");
  const channel = `channel="${client.channelId}"`;
  assert.equal(sumOf(text, "wow_webhooks_total", channel), 3);
  assert.equal(sumOf(text, "wow_webhook_request_bytes_total", channel), 9);
  // A channel nobody holds gets no series of its own.
  assert.equal(sumOf(text, "wow_webhooks_total", 'code="404",channel=""'), 1);
  const { code, output } = await promtoolCheck(text);
  assert.equal(code, 0, output);
});
