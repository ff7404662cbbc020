// In-process tests of the server's app (route table, middleware, handlers): Request objects in,
// Responses out, with a fake cluster, fake peers and an in-memory tunnel client; no socket.
import assert from "node:assert/strict";
import { Http1Error } from "../http1/mod.ts";
import { CLUSTER_AUTH_HEADER, FORWARDED_HEADER, PROTOCOL_HEADER } from "../protocol/mod.ts";
import { attachTestTunnel, PEER_IP, PEER_URL, relayResponse, testApp } from "./_test_app.ts";
import { clusterCredential } from "./replicas.ts";
import { clientIp } from "./rate_limit.ts";
import { CidrSet } from "./cidr.ts";

const BASE = "http://wow.example";
const GOSSIP_KEY = new Uint8Array(32).fill(7);

function get(path: string, headers: HeadersInit = {}): Request {
  return new Request(BASE + path, { headers });
}

function post(path: string, body = "hello", headers: HeadersInit = {}): Request {
  return new Request(BASE + path, { method: "POST", body, headers });
}

async function errorOf(response: Response): Promise<string> {
  return (await response.json()).error;
}

/** Lets the in-memory tunnel and the release of in-flight slots run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setTimeout(resolve, 0));
}

Deno.test("app while draining: webhooks, /new and /ws get 503 with Retry-After; /healthz says SHUTTING_DOWN", async () => {
  const { ctx, call } = testApp();
  const id = ctx.secrets.issueId();
  const tunnel = attachTestTunnel(ctx, id);
  const healthy = await call(get("/healthz"));
  assert.equal(healthy.status, 200);
  assert.deepEqual(await healthy.json(), { status: "OK" });

  ctx.draining = true;
  for (
    const request of [
      post(`/webhook/${id}/gh`),
      get("/new"),
      get(`/ws/${id}`, { upgrade: "websocket", [PROTOCOL_HEADER]: "1" }),
    ]
  ) {
    const response = await call(request);
    assert.equal(response.status, 503, request.url);
    assert.equal(response.headers.get("retry-after"), "5", request.url);
    assert.equal(await errorOf(response), "The server is shutting down; retry shortly");
  }
  assert.equal(tunnel.heads.length, 0, "nothing reached the client");
  assert.equal(ctx.channels.ids().length, 1, "/new issued nothing");
  const health = await call(get("/healthz"));
  assert.equal(health.status, 503);
  assert.deepEqual(await health.json(), { status: "SHUTTING_DOWN" });
  tunnel.close();
});

Deno.test("app answers 405 for other methods and 400 for /ws without an upgrade", async () => {
  const { ctx, call } = testApp();
  for (
    const [method, path] of [
      ["POST", "/new"],
      ["DELETE", "/healthz"],
      ["HEAD", "/healthz"],
      ["PUT", "/traefik-config"],
      ["POST", "/internal/channels"],
      ["POST", `/ws/${crypto.randomUUID()}`],
      ["PATCH", "/nowhere"],
    ]
  ) {
    const response = await call(new Request(BASE + path, { method }));
    assert.equal(response.status, 405, `${method} ${path}`);
    if (method !== "HEAD") assert.equal(await errorOf(response), `Method ${method} not allowed`);
  }
  const id = ctx.secrets.issueId();
  const noUpgrade = await call(get(`/ws/${id}`, { [PROTOCOL_HEADER]: "1" }));
  assert.equal(noUpgrade.status, 400);
  assert.equal(await errorOf(noUpgrade), "Expected a WebSocket upgrade request");
  const missing = await call(get("/nowhere"));
  assert.equal(missing.status, 404);
  assert.equal(await errorOf(missing), "No route for GET /nowhere");
  for (const path of ["/ws/not-a-channel", `/ws/${id}/extra`]) {
    const unknown = await call(get(path, { upgrade: "websocket" }));
    assert.equal(unknown.status, 403, path);
    assert.equal((await unknown.json()).reason, "unknown_channel");
  }
  const wrongVersion = await call(
    get(`/ws/${id}`, { upgrade: "websocket", [PROTOCOL_HEADER]: "9" }),
  );
  assert.equal(wrongVersion.status, 426);
  assert.equal(wrongVersion.headers.get(PROTOCOL_HEADER), "1");
  await wrongVersion.body?.cancel();
});

Deno.test("app ignores a forwarded marker from a non-member: the sender's X-Forwarded-For is not trusted", async () => {
  const { ctx, call } = testApp();
  const id = ctx.secrets.issueId();
  const tunnel = attachTestTunnel(ctx, id);
  const headers = { [FORWARDED_HEADER]: "1", "x-forwarded-for": "6.6.6.6" };
  const spoofed = await call(post(`/webhook/${id}`, "x", headers), "203.0.113.9");
  assert.equal(spoofed.status, 200);
  assert.equal(await spoofed.text(), "ok");
  const fromMember = await call(post(`/webhook/${id}`, "x", headers), PEER_IP);
  assert.equal(fromMember.status, 200);
  await fromMember.body?.cancel();
  const [first, second] = tunnel.heads.map((head) => new Map(head.headers));
  assert.equal(first.get("x-forwarded-for"), "6.6.6.6, 203.0.113.9");
  assert.equal(first.has(FORWARDED_HEADER), false);
  // Without a gossip key a known member's relay is trusted as final.
  assert.equal(second.get("x-forwarded-for"), "6.6.6.6");
  assert.equal(second.has(FORWARDED_HEADER), false);
  tunnel.close();
});

Deno.test("app relays a spoofed-marker webhook from a non-member to the owner, but never a member's relay", async () => {
  const { ctx, call, replicas, relays } = testApp();
  const id = ctx.secrets.issueId();
  replicas.answer = () => ({ channel_id: id, attached: true, server_url: PEER_URL });
  const spoofed = await call(post(`/webhook/${id}`, "x", { [FORWARDED_HEADER]: "1" }));
  assert.equal(spoofed.status, 200);
  assert.equal(await spoofed.text(), "relayed");
  assert.equal(relays.length, 1);
  const relayed = await call(post(`/webhook/${id}`, "x", { [FORWARDED_HEADER]: "1" }), PEER_IP);
  assert.equal(relayed.status, 503, "a relayed webhook is never relayed again");
  await relayed.body?.cancel();
  assert.equal(relays.length, 1);
});

Deno.test("app strips the cluster credential and marker before the local app sees a relayed webhook", async () => {
  const credential = clusterCredential(GOSSIP_KEY);
  // The relaying replica: sends the marker and the credential to the owner.
  const relaying = testApp({ gossipKey: GOSSIP_KEY });
  const id = relaying.ctx.secrets.issueId();
  relaying.replicas.answer = () => ({ channel_id: id, attached: true, server_url: PEER_URL });
  const relayedResponse = await relaying.call(
    post(`/webhook/${id}/gh?x=1`, "body", { "x-forwarded-for": "6.6.6.6", "x-app": "a" }),
  );
  assert.equal(relayedResponse.status, 200);
  await relayedResponse.body?.cancel();
  const [sent] = relaying.relays;
  assert.equal(sent.origin.origin, PEER_URL);
  assert.equal(sent.init.path, `/webhook/${id}/gh?x=1`);
  const sentHeaders = new Map(sent.init.headers as [string, string][]);
  assert.equal(sentHeaders.get(FORWARDED_HEADER), "1");
  assert.equal(sentHeaders.get(CLUSTER_AUTH_HEADER), credential);
  assert.equal(sentHeaders.get("x-forwarded-for"), "6.6.6.6, 203.0.113.9");

  // The owner (same gossip key): delivers it with the headers as relayed, minus the replica marks.
  const owner = testApp({ gossipKey: GOSSIP_KEY });
  const tunnel = attachTestTunnel(owner.ctx, id);
  const response = await owner.call(
    new Request(`${BASE}/webhook/${id}/gh?x=1`, {
      method: "POST",
      body: "body",
      headers: sent.init.headers as [string, string][],
    }),
    "10.9.9.9",
  );
  assert.equal(response.status, 200);
  assert.equal(await response.text(), "ok");
  const [head] = tunnel.heads;
  assert.equal(head.target, "/gh?x=1");
  const names = head.headers.map(([name]) => name);
  assert.ok(!names.includes(CLUSTER_AUTH_HEADER), `credential leaked: ${names}`);
  assert.ok(!names.includes(FORWARDED_HEADER), `marker leaked: ${names}`);
  const seen = new Map(head.headers);
  assert.equal(seen.get("x-forwarded-for"), "6.6.6.6, 203.0.113.9", "trusted as relayed");
  assert.equal(seen.get("x-app"), "a");
  tunnel.close();
});

Deno.test("app answers 504 and 502 when the owning replica times out or is unreachable", async () => {
  const test = testApp();
  const id = test.ctx.secrets.issueId();
  test.replicas.answer = () => ({ channel_id: id, attached: true, server_url: PEER_URL });
  test.relayAnswer = () => {
    throw new Http1Error("timeout", "Timed out: the owner is silent");
  };
  const slow = await test.call(post(`/webhook/${id}`));
  assert.equal(slow.status, 504);
  assert.equal(
    await errorOf(slow),
    `The replica holding this channel (${PEER_URL}) did not answer in time`,
  );
  test.relayAnswer = () => {
    throw new Http1Error("connect", "Connection refused");
  };
  const gone = await test.call(post(`/webhook/${id}`));
  assert.equal(gone.status, 502);
  assert.equal(
    await errorOf(gone),
    `The replica holding this channel (${PEER_URL}) is unreachable: Connection refused`,
  );
  assert.equal(test.ctx.inFlight, 0);
});

Deno.test("app forgets a channel's owner when the owner answers 404 or 503, and only then", async () => {
  const test = testApp();
  const id = test.ctx.secrets.issueId();
  test.replicas.answer = () => ({ channel_id: id, attached: true, server_url: PEER_URL });
  const ownerAsks = () =>
    test.replicas.asked.filter((url) => url === `${PEER_URL}/internal/channels/${id}`).length;
  for (let i = 0; i < 2; i++) await (await test.call(post(`/webhook/${id}`))).body?.cancel();
  assert.equal(ownerAsks(), 1, "a found owner is cached");
  assert.equal(test.relays.length, 2);
  for (const status of [404, 503]) {
    test.relayAnswer = () => relayResponse(status, "moved");
    const response = await test.call(post(`/webhook/${id}`));
    assert.equal(response.status, status);
    await response.body?.cancel();
  }
  // The channel moved: the owner is asked again, and now nobody holds it.
  test.replicas.answer = () => ({ channel_id: id, attached: false, server_url: PEER_URL });
  const after = await test.call(post(`/webhook/${id}`));
  assert.equal(ownerAsks(), 3, "asked again after each 404/503");
  assert.equal(test.relays.length, 4, "not relayed to the old owner");
  assert.equal(after.status, 503, "issued here, client not connected (yet)");
  await after.body?.cancel();
});

Deno.test("clientIp trusts X-Forwarded-For only from a --trusted-proxy, taking the right-most untrusted hop", () => {
  const request = get("/new", { "x-forwarded-for": "198.51.100.1, 192.0.2.44" });
  // No trusted proxy (the default): private and loopback peers are clients like any other.
  assert.equal(clientIp(request.headers, "203.0.113.9"), "203.0.113.9");
  assert.equal(clientIp(request.headers, "10.0.0.3"), "10.0.0.3");
  assert.equal(clientIp(request.headers, "127.0.0.1"), "127.0.0.1");
  const trusted = new CidrSet(["10.0.0.0/8", "::1"]);
  assert.equal(
    clientIp(request.headers, "203.0.113.9", trusted),
    "203.0.113.9",
    "peer not trusted",
  );
  assert.equal(clientIp(request.headers, "10.0.0.3", trusted), "192.0.2.44");
  assert.equal(clientIp(request.headers, "::1", trusted), "192.0.2.44");
  assert.equal(
    clientIp(request.headers, "::ffff:10.0.0.3", trusted),
    "192.0.2.44",
    "v4-mapped peer",
  );
  assert.equal(clientIp(get("/new").headers, "10.0.0.3", trusted), "10.0.0.3", "no header");
  // Trusted hops are skipped; the first untrusted one from the right is the client.
  const chained = get("/new", { "x-forwarded-for": "6.6.6.6, 192.0.2.44, 10.1.1.1" });
  assert.equal(clientIp(chained.headers, "10.0.0.3", trusted), "192.0.2.44");
  // A garbage hop stops the walk at the trusted hop right of it.
  const garbage = get("/new", { "x-forwarded-for": "6.6.6.6, not-an-ip, 10.1.1.1" });
  assert.equal(clientIp(garbage.headers, "10.0.0.3", trusted), "10.1.1.1");
  const ported = get("/new", { "x-forwarded-for": "[2001:db8::7]:443" });
  assert.equal(clientIp(ported.headers, "10.0.0.3", trusted), "2001:db8::7");
});

Deno.test("app rate-limits /new by the peer address when an untrusted peer sends X-Forwarded-For", async () => {
  const { call } = testApp({ newRateLimit: 1, trustedProxies: ["10.0.0.0/8"] });
  const first = await call(get("/new", { "x-forwarded-for": "198.51.100.1" }), "203.0.113.9");
  assert.equal(first.status, 200);
  await first.body?.cancel();
  const second = await call(get("/new", { "x-forwarded-for": "198.51.100.2" }), "203.0.113.9");
  assert.equal(second.status, 429, "a forged X-Forwarded-For does not buy a new bucket");
  assert.match(
    await errorOf(second),
    /^Too many new channels from 203\.0\.113\.9; retry in \d+ s$/,
  );
  // A private peer that is not a --trusted-proxy is limited as itself.
  const natted = testApp({ newRateLimit: 1 });
  for (const [i, expected] of [[1, 200], [2, 429]]) {
    const answer = await natted.call(
      get("/new", { "x-forwarded-for": `198.51.100.${i}` }),
      "10.0.0.3",
    );
    assert.equal(answer.status, expected);
    await answer.body?.cancel();
  }
  // Behind a trusted proxy the forwarded client is limited, not the proxy.
  const proxied = await call(get("/new", { "x-forwarded-for": "198.51.100.3" }), "10.0.0.3");
  assert.equal(proxied.status, 200);
  await proxied.body?.cancel();
});

Deno.test("app caps the channels one address holds (--max-channels-per-ip) with a clear 429", async () => {
  const { ctx, call } = testApp({ newRateLimit: 0, maxChannelsPerIp: 2 });
  for (let i = 0; i < 2; i++) {
    const ok = await call(get("/new"), "203.0.113.9");
    assert.equal(ok.status, 200);
    await ok.body?.cancel();
  }
  const refused = await call(get("/new"), "203.0.113.9");
  assert.equal(refused.status, 429);
  assert.ok(Number(refused.headers.get("retry-after")) >= 1);
  assert.match(
    await errorOf(refused),
    /^203\.0\.113\.9 already holds 2 channels on this server \(--max-channels-per-ip\)/,
  );
  const other = await call(get("/new"), "203.0.113.10");
  assert.equal(other.status, 200, "another address is not affected");
  await other.body?.cancel();
  // Expired channels no longer count.
  ctx.channels.sweep(0, 0);
  const again = await call(get("/new"), "203.0.113.9");
  assert.equal(again.status, 200);
  await again.body?.cancel();
});

Deno.test("app holds a webhook's in-flight slot until its upload has stopped", async () => {
  const test = testApp({ requestTimeout: 50, maxInFlight: 1 });
  const id = test.ctx.secrets.issueId();
  // The client reads the head and never answers or reads the body.
  const tunnel = attachTestTunnel(test.ctx, id, () => new Promise(() => {}));
  let cancelled = false;
  let pulls = 0;
  const body = new ReadableStream<Uint8Array>({
    type: "bytes",
    pull: (controller) => {
      // One chunk, then the sender goes quiet (a read stays pending).
      if (pulls++ === 0) controller.enqueue(new Uint8Array(100_000));
      return new Promise(() => {});
    },
    cancel: () => {
      cancelled = true;
    },
  });
  const response = await test.call(
    new Request(`${BASE}/webhook/${id}`, { method: "POST", body, duplex: "half" } as RequestInit),
  );
  assert.equal(response.status, 504);
  await response.body?.cancel();
  const deadline = Date.now() + 2_000;
  while (!cancelled && Date.now() < deadline) await settle();
  assert.equal(cancelled, true, "the sender's body is cancelled once the stream is over");
  await settle();
  assert.equal(test.ctx.channels.get(id)!.inFlight, 0);
  assert.equal(test.ctx.inFlight, 0);
  tunnel.close();
});
