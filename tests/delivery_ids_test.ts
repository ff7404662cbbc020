/**
 * End to end: the server's and the client's delivery log lines carry the provider's own delivery
 * id (`provider`, `provider_delivery`), in the text and the JSON log formats, so an operator can
 * grep the delivery a user asks about.
 *
 * @module
 */
import assert from "node:assert/strict";
import { startApp, startClientProc, startServerProc } from "./_harness.ts";

const GITHUB_DELIVERY = "72d3162e-cc78-11e3-81ab-4c9367dc0958";
const SVIX_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const STRIPE_EVENT = "evt_1NG8Du2eZvKYlo2CUI79vXWy";

Deno.test("delivery log lines carry provider and provider_delivery", async () => {
  await using app = startApp(() => new Response("ok"));
  await using server = await startServerProc([]);
  await using client = await startClientProc(server.url, app.url);
  const send = async (path: string, headers: Record<string, string>) => {
    const response = await fetch(client.webhookUrl + path, { method: "POST", headers, body: "{}" });
    await response.body?.cancel();
    assert.equal(response.status, 200);
  };
  await send("/gh", { "x-github-event": "push", "x-github-delivery": GITHUB_DELIVERY });
  await send("/svix", { "svix-id": SVIX_ID });
  await send("/none", {});
  const stripe = await fetch(client.webhookUrl + "/stripe", {
    method: "POST",
    headers: { "stripe-signature": "t=1,v1=ab", "content-type": "application/json" },
    body: `{\n  "id": "${STRIPE_EVENT}",\n  "object": "event",\n  "type": "charge.succeeded"\n}`,
  });
  await stripe.body?.cancel();
  assert.equal(stripe.status, 200);

  const line = new RegExp(`/gh 200 .* provider=github provider_delivery=${GITHUB_DELIVERY}`);
  await server.waitFor(line, { stream: "stderr" });
  await client.waitFor(line, { stream: "stderr" });
  const svix = new RegExp(`/svix 200 .* provider=standard provider_delivery=${SVIX_ID}`);
  await server.waitFor(svix, { stream: "stderr" });
  await client.waitFor(svix, { stream: "stderr" });
  const stripeLine = new RegExp(`/stripe 200 .* provider=stripe provider_delivery=${STRIPE_EVENT}`);
  await server.waitFor(stripeLine, { stream: "stderr" });
  await client.waitFor(stripeLine, { stream: "stderr" });
  const none = await client.waitFor(/\/none 200 /, { stream: "stderr" });
  assert.doesNotMatch(none.input!, /provider/);
});

Deno.test("the JSON log format has provider and provider_delivery as properties", async () => {
  await using app = startApp(() => new Response("ok"));
  await using server = await startServerProc(["--log-format", "json"]);
  await using client = await startClientProc(server.url, app.url);
  const response = await fetch(client.webhookUrl, {
    method: "POST",
    headers: { "x-gitlab-event": "Push Hook", "x-gitlab-event-uuid": GITHUB_DELIVERY },
    body: "{}",
  });
  await response.body?.cancel();
  const line = await server.waitFor(/"method":"POST"/, { stream: "stderr" });
  const record = JSON.parse(line.input!);
  assert.equal(record.properties.provider, "gitlab");
  assert.equal(record.properties.provider_delivery, GITHUB_DELIVERY);
});
