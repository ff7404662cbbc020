import assert from "node:assert/strict";
import {
  announceAttach,
  isAttachTime,
  MAX_CLAIM_SKEW,
  outranks,
  takenOverReason,
} from "./takeover.ts";
import { attachTestTunnel, PEER_IP, PEER_URL, testApp } from "./_test_app.ts";
import { ChannelRegistry } from "./channels.ts";
import type { TunnelSession } from "../protocol/mod.ts";

const BASE = "http://wow.example";

function claim(id: string, body: unknown): Request {
  return new Request(`${BASE}/internal/channels/${id}/takeover`, {
    method: "POST",
    body: JSON.stringify(body),
  });
}

Deno.test("outranks orders claims by attach time, then node name, the same way from both sides", () => {
  const a = { attached_at: 10, node: "a" };
  const b = { attached_at: 11, node: "a" };
  const c = { attached_at: 10, node: "b" };
  assert.ok(outranks(b, a) && !outranks(a, b));
  assert.ok(outranks(c, a) && !outranks(a, c));
  assert.ok(!outranks(a, a));
});

Deno.test("isAttachTime refuses non-numbers, negatives and times far in the future", () => {
  const now = 1_000_000;
  assert.ok(isAttachTime(now, now));
  assert.ok(isAttachTime(now + MAX_CLAIM_SKEW, now));
  for (const bad of [now + MAX_CLAIM_SKEW + 1, -1, NaN, Infinity, "5", null, undefined]) {
    assert.ok(!isAttachTime(bad, now), String(bad));
  }
});

Deno.test("ChannelRegistry.attach with takeOver evicts the attached session with the reason", () => {
  const registry = new ChannelRegistry({ now: () => 5 });
  const reasons: string[] = [];
  const first = {} as TunnelSession;
  const second = {} as TunnelSession;
  registry.attach("id", first, { evict: (reason) => reasons.push(`first: ${reason}`) });
  assert.equal(registry.attach("id", second), "busy", "no takeover without the option");
  assert.equal(registry.attach("id", second, { takeOver: "newer", attachedAt: 9 }), "attached");
  assert.deepEqual(reasons, ["first: newer"]);
  assert.equal(registry.get("id")!.session, second);
  assert.equal(registry.get("id")!.attachedAt, 9);
  assert.deepEqual(registry.attachTimes(), { id: 9 });
  assert.equal(registry.takeOver("id", "from a peer"), true);
  assert.equal(registry.get("id")!.session, undefined);
  assert.equal(registry.takeOver("id", "again"), false);
});

Deno.test("takeover: a peer's newer claim closes the client here; an older one gets 409 with this replica's claim", async () => {
  const { ctx, call } = testApp();
  const id = ctx.secrets.issueId();
  const tunnel = attachTestTunnel(ctx, id);
  const mine = ctx.channels.get(id)!.attachedAt!;

  const older = await call(claim(id, { attached_at: mine - 1, node: "peer" }), PEER_IP);
  assert.equal(older.status, 409);
  assert.deepEqual(await older.json(), { attached_at: mine, node: "self" });
  assert.ok(ctx.channels.get(id)!.session, "kept");

  const reasons: string[] = [];
  ctx.channels.get(id)!.evict = (reason) => reasons.push(reason);
  const newer = await call(claim(id, { attached_at: mine + 1, node: "peer" }), PEER_IP);
  assert.equal(newer.status, 200);
  assert.deepEqual(await newer.json(), { taken_over: true });
  assert.equal(ctx.channels.get(id)!.session, undefined);
  assert.deepEqual(reasons, [takenOverReason(PEER_URL)]);
  tunnel.close();
});

Deno.test("takeover: without a key a claim comes from a member's address or is confirmed by the member; claims are checked", async () => {
  const { ctx, call, replicas } = testApp();
  const id = ctx.secrets.issueId();
  const tunnel = attachTestTunnel(ctx, id);
  const future = { attached_at: Date.now() + 1_000, node: "peer" };
  const stranger = await call(claim(id, future), "203.0.113.9");
  assert.equal(stranger.status, 403);
  assert.match((await stranger.json()).error, /Only a cluster member may announce a takeover/);
  assert.ok(ctx.channels.get(id)!.session, "a stranger closes nobody");
  // The named member is asked at its gossip URL; a different answer is no confirmation.
  replicas.answer = () => ({ channel_id: id, attached: true, attached_at: future.attached_at - 1 });
  const unconfirmed = await call(claim(id, future), "203.0.113.9");
  assert.equal(unconfirmed.status, 403);
  await unconfirmed.body?.cancel();
  assert.equal(replicas.asked.at(-1), `${PEER_URL}/internal/channels/${id}`);
  assert.ok(ctx.channels.get(id)!.session);
  for (
    const body of [{ attached_at: Date.now() + 3_600_000, node: "peer" }, { node: "peer" }, "x"]
  ) {
    const bad = await call(claim(id, body), PEER_IP);
    assert.equal(bad.status, 400, JSON.stringify(body));
    await bad.body?.cancel();
  }
  assert.ok(ctx.channels.get(id)!.session, "a far-future claim closes nobody");
  const nothing = await call(claim(crypto.randomUUID(), future), PEER_IP);
  assert.deepEqual(await nothing.json(), { taken_over: false });
  // A claim the member confirms is accepted from any source address (replicas may call from
  // another address than the one they gossip on).
  replicas.answer = () => ({ channel_id: id, attached: true, attached_at: future.attached_at });
  const confirmed = await call(claim(id, future), "203.0.113.9");
  assert.deepEqual(await confirmed.json(), { taken_over: true });
  assert.equal(ctx.channels.get(id)!.session, undefined);
  tunnel.close();
});

Deno.test("announceAttach tells every peer; a peer stamped later (clock skew) makes it re-stamp once, then give up", async () => {
  const test = testApp();
  const { ctx, replicas } = test;
  const id = ctx.secrets.issueId();
  const tunnel = attachTestTunnel(ctx, id);
  const mine = ctx.channels.get(id)!.attachedAt!;
  const url = `${PEER_URL}/internal/channels/${id}/takeover`;

  // The peer's client is stamped later: re-stamp above it, announce again, the peer yields.
  let calls = 0;
  replicas.postAnswer = () =>
    calls++ === 0
      ? { status: 409, body: { attached_at: mine + 5_000, node: "peer" } }
      : { status: 200, body: { taken_over: true } };
  await announceAttach(ctx, id);
  assert.deepEqual(replicas.posted, [
    { url, body: { attached_at: mine, node: "self" } },
    { url, body: { attached_at: mine + 5_001, node: "self" } },
  ]);
  assert.equal(ctx.channels.get(id)!.attachedAt, mine + 5_001);
  assert.ok(ctx.channels.get(id)!.session, "kept");

  // Refused twice: this replica's client gives way, so only one client holds the channel.
  const reasons: string[] = [];
  ctx.channels.get(id)!.evict = (reason) => reasons.push(reason);
  replicas.postAnswer = (_url, body) => ({
    status: 409,
    body: { attached_at: (body as { attached_at: number }).attached_at + 1, node: "peer" },
  });
  await announceAttach(ctx, id);
  assert.equal(ctx.channels.get(id)!.session, undefined);
  assert.deepEqual(reasons, [takenOverReason(PEER_URL)]);

  // An unreachable peer or an implausible answer changes nothing.
  const other = ctx.secrets.issueId();
  const second = attachTestTunnel(ctx, other);
  replicas.postAnswer = () => ({
    status: 409,
    body: { attached_at: Date.now() + 3_600_000, node: "peer" },
  });
  await announceAttach(ctx, other);
  replicas.postAnswer = () => {
    throw new Error("unreachable");
  };
  await announceAttach(ctx, other);
  assert.ok(ctx.channels.get(other)!.session);
  tunnel.close();
  second.close();
});

Deno.test("/traefik-config closes a client here that a peer's newer claim outranks (a missed announcement)", async () => {
  const { ctx, call, replicas } = testApp();
  const id = ctx.secrets.issueId();
  const tunnel = attachTestTunnel(ctx, id);
  const mine = ctx.channels.get(id)!.attachedAt!;
  let theirs = mine - 10;
  replicas.answer = () => ({
    server_url: "http://elsewhere:1",
    ws_channels: [id],
    webhook_channels: [id],
    attached_at: { [id]: theirs },
  });
  const servers = async () =>
    (await (await call(new Request(`${BASE}/traefik-config`))).json())
      .http.services[`service-${id}`].loadBalancer.servers;
  assert.deepEqual(await servers(), [{ url: "http://10.0.0.1:8080" }], "older peer claim: here");
  assert.ok(ctx.channels.get(id)!.session);
  theirs = mine + 10;
  assert.deepEqual(await servers(), [{ url: PEER_URL }], "newer: the peer's gossip URL");
  assert.equal(ctx.channels.get(id)!.session, undefined, "the older client here was closed");
  tunnel.close();
});
