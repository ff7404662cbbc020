/**
 * End to end: every refusal reason of `wow_refusals_total{reason}` is provoked on a real server
 * process through its real routes (tokens, secrets, limits, draining), and each counter moves by
 * exactly what the test did.
 *
 * @module
 */
import assert from "node:assert/strict";
import { startApp, startClientProc, startServerProc, waitUntil } from "./_harness.ts";
import { scrape, sumOf } from "./_metrics.ts";
import { REFUSAL_REASONS } from "../server/metrics/definitions.ts";

const TOKEN = "refusals-client-token";
const HOST = "127.0.0.170";

Deno.test("wow_refusals_total counts each refusal reason the server is made to give", async () => {
  let release = () => {};
  const held = new Promise<void>((resolve) => (release = resolve));
  await using app = startApp(async (request) => {
    await request.body?.cancel();
    if (new URL(request.url).pathname === "/hold") await held;
    return new Response("ok");
  });
  await using server = await startServerProc([
    "--auth-token",
    TOKEN,
    "--new-rate-limit",
    "2",
    "--max-body-size",
    "100",
    "--max-header-count",
    "30",
    "--max-in-flight",
    "1",
    "--log-level",
    "ERROR",
  ], { host: HOST });
  await using client = await startClientProc(server.url, app.url, ["--auth-token", TOKEN]);
  const auth = { authorization: `Bearer ${TOKEN}` };
  const status = async (url: string, init: RequestInit = {}) => {
    const response = await fetch(url, init);
    await response.body?.cancel();
    return response.status;
  };

  // auth_token: /new without the token.
  assert.equal(await status(`${server.url}/new`), 401);
  // rate_limited: /new past --new-rate-limit (the client used one).
  const answers = [];
  for (let i = 0; i < 3; i++) answers.push(await status(`${server.url}/new`, { headers: auth }));
  assert.equal(answers.filter((code) => code === 429).length, 2, `answers ${answers}`);
  // channel_secret: attaching to an existing channel with a wrong secret.
  const socket = new WebSocket(`ws://${HOST}:${server.port}/ws/${client.channelId}`, {
    headers: { ...auth, "x-wow-protocol": "1", "x-channel-secret": "wrong" },
  });
  await new Promise((resolve) => socket.addEventListener("error", resolve, { once: true }));
  // unknown_channel: a webhook to a channel nobody holds.
  assert.equal(
    await status(`${server.url}/webhook/${crypto.randomUUID()}`, { method: "POST" }),
    404,
  );
  // too_large: a body over --max-body-size.
  assert.equal(await status(client.webhookUrl, { method: "POST", body: "x".repeat(500) }), 413);
  // header_limit: more header fields than --max-header-count.
  const many = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`x-h${i}`, "1"]));
  assert.equal(await status(client.webhookUrl, { method: "POST", headers: many }), 431);
  // in_flight_limit: a second webhook while --max-in-flight 1 is taken.
  const holding = fetch(`${client.webhookUrl}/hold`, { method: "POST" });
  await waitUntil(async () => {
    const text = await (await scrape(server.url)).text();
    return sumOf(text, "wow_in_flight") === 1;
  }, "one webhook in flight");
  assert.equal(await status(client.webhookUrl, { method: "POST" }), 429);
  const before = await (await scrape(server.url)).text();
  // draining: a webhook after SIGTERM, while the held one keeps the server draining.
  server.kill("SIGTERM");
  await waitUntil(
    async () => await status(client.webhookUrl, { method: "POST" }) === 503,
    "a 503 while draining",
  );
  const text = await (await scrape(server.url)).text();
  release();
  await (await holding).body?.cancel();

  const expected: Record<string, number> = {
    auth_token: 1,
    rate_limited: 2,
    channel_secret: 1,
    unknown_channel: 1,
    too_large: 1,
    header_limit: 1,
    in_flight_limit: 1,
  };
  for (const reason of REFUSAL_REASONS) {
    if (reason === "draining") continue;
    assert.equal(
      sumOf(before, "wow_refusals_total", `reason="${reason}"`),
      expected[reason],
      reason,
    );
  }
  assert.equal(sumOf(before, "wow_refusals_total", 'reason="draining"'), 0);
  // While draining, webhooks get 503 (polled until the first one did).
  assert.ok(sumOf(text, "wow_refusals_total", 'reason="draining"') >= 1);
});
