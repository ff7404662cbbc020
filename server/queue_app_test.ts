// In-process tests of the webhook route with a queue (issue #10): which webhooks are stored and
// answered 202, which are refused 503, and that an attached client's webhooks pass through.
import assert from "node:assert/strict";
import { attachTestTunnel, testApp } from "./_test_app.ts";
import { openMemoryQueue, type QueueStore } from "./queue/mod.ts";
import { saveMode } from "./offline.ts";

const BASE = "http://wow.example";

function post(path: string, body = "hello", headers: HeadersInit = {}): Request {
  return new Request(BASE + path, { method: "POST", body, headers });
}

async function bodyOf(queue: QueueStore, channel: string, id: string): Promise<string> {
  return await new Response(queue.readBody(channel, id)).text();
}

Deno.test("webhook with --queue: a detached client's webhook is stored whole and answered 202 with its id", async () => {
  await using queue = openMemoryQueue();
  const { ctx, call } = testApp({}, queue);
  const id = ctx.secrets.issueId();
  attachTestTunnel(ctx, id).close();
  const response = await call(
    post(`/webhook/${id}/gh?x=1`, "payload", { "x-github-event": "push" }),
  );
  assert.equal(response.status, 202);
  const answer = await response.json();
  assert.equal(answer.queued, true);
  const [delivery] = await queue.lease(id, { consumer: "test" });
  assert.equal(delivery.id, answer.delivery_id);
  assert.equal(delivery.head.method, "POST");
  assert.equal(delivery.head.target, "/gh?x=1");
  const headers = new Map(delivery.head.headers);
  assert.equal(headers.get("x-github-event"), "push");
  assert.equal(headers.get("x-forwarded-for"), "203.0.113.9");
  assert.equal(await bodyOf(queue, id, delivery.id), "payload");
});

Deno.test("webhook with --queue: an issued channel whose client never came is queued; an unknown one is 404", async () => {
  await using queue = openMemoryQueue();
  const { ctx, call } = testApp({}, queue);
  const issued = ctx.secrets.issueId();
  ctx.channels.issue(issued);
  assert.equal((await call(post(`/webhook/${issued}`))).status, 202);
  const unknown = crypto.randomUUID();
  assert.equal((await call(post(`/webhook/${unknown}`))).status, 404);
});

Deno.test("webhook with --queue: reject mode and auto's expiring signatures get 503 + Retry-After; the stored mode applies", async () => {
  await using queue = openMemoryQueue();
  const { ctx, call } = testApp({}, queue);
  const id = ctx.secrets.issueId();
  ctx.channels.issue(id);
  const stripe = await call(post(`/webhook/${id}`, "{}", { "stripe-signature": "t=1,v1=0" }));
  assert.equal(stripe.status, 503);
  assert.ok(stripe.headers.get("retry-after"));
  assert.match((await stripe.json()).error, /Stripe webhook is not queued/);
  await saveMode(queue, id, "reject");
  const rejected = await call(post(`/webhook/${id}`));
  assert.equal(rejected.status, 503);
  await saveMode(queue, id, "queue");
  assert.equal(
    (await call(post(`/webhook/${id}`, "{}", { "stripe-signature": "t=1" }))).status,
    202,
  );
  // A replica that never saw the channel reads the mode from the store.
  const other = testApp({}, queue);
  assert.equal((await other.call(post(`/webhook/${id}`))).status, 202);
});

Deno.test("webhook with --queue: a webhook the store cannot take gets 503 + Retry-After, never 202", async () => {
  await using queue = openMemoryQueue({ maxBytes: 1024 });
  const { ctx, call } = testApp({}, queue);
  const id = ctx.secrets.issueId();
  ctx.channels.issue(id);
  const response = await call(post(`/webhook/${id}`, "x".repeat(4096)));
  assert.equal(response.status, 503);
  assert.ok(response.headers.get("retry-after"));
  assert.deepEqual(await queue.depth(id), { count: 0, bytes: 0 });
});

Deno.test("webhook with --queue: --queue-status 200 and the body limit apply to queued webhooks", async () => {
  await using queue = openMemoryQueue();
  const { ctx, call } = testApp({ queueStatus: 200, maxBodySize: 10 }, queue);
  const id = ctx.secrets.issueId();
  ctx.channels.issue(id);
  assert.equal((await call(post(`/webhook/${id}`, "small"))).status, 200);
  assert.equal((await call(post(`/webhook/${id}`, "x".repeat(11)))).status, 413);
  const chunked = new Request(`${BASE}/webhook/${id}`, {
    method: "POST",
    body: new Blob(["x".repeat(20)]).stream(),
  });
  assert.equal((await call(chunked)).status, 413);
  assert.equal((await queue.depth(id)).count, 1);
});

Deno.test("webhook with --queue: an attached client's webhooks pass through (nothing stored) unless its queue is draining", async () => {
  await using queue = openMemoryQueue();
  const { ctx, call } = testApp({}, queue);
  const id = ctx.secrets.issueId();
  const tunnel = attachTestTunnel(ctx, id);
  const channel = ctx.channels.get(id)!;
  channel.offline = "auto";
  const live = await call(post(`/webhook/${id}`));
  assert.equal(live.status, 200);
  assert.equal(await live.text(), "ok");
  assert.equal((await queue.depth(id)).count, 0);
  channel.draining = true;
  assert.equal((await call(post(`/webhook/${id}`))).status, 202);
  assert.equal((await queue.depth(id)).count, 1);
  tunnel.close();
});
