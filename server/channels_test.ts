import assert from "node:assert/strict";
import { ChannelRegistry } from "./channels.ts";
import { TunnelSession } from "../protocol/mod.ts";

function session(): TunnelSession {
  return new TunnelSession({ send: () => {}, bufferedAmount: 0 }, { role: "server" });
}

/** A registry on a manual clock. */
function registry(maxChannels?: number) {
  const clock = { now: 1_000_000 };
  const channels = new ChannelRegistry({ maxChannels, now: () => clock.now });
  return { channels, clock };
}

Deno.test("ChannelRegistry.issue records a channel with its creation time", () => {
  const { channels, clock } = registry();
  const channel = channels.issue("a");
  assert.deepEqual(channel, { id: "a", createdAt: clock.now, inFlight: 0 });
  assert.equal(channels.get("a"), channel);
  assert.equal(channels.size, 1);
  assert.deepEqual(channels.ids(), ["a"]);
  assert.deepEqual(channels.attachedIds(), []);
});

Deno.test("ChannelRegistry.attach attaches a session to an issued channel", () => {
  const { channels } = registry();
  channels.issue("a");
  const s = session();
  assert.equal(channels.attach("a", s), "attached");
  assert.equal(channels.get("a")?.session, s);
  assert.deepEqual(channels.attachedIds(), ["a"]);
  assert.deepEqual(channels.sessions(), [s]);
});

Deno.test("ChannelRegistry.attach creates a channel it does not know", () => {
  const { channels, clock } = registry();
  assert.equal(channels.attach("returning", session()), "attached");
  assert.equal(channels.get("returning")?.createdAt, clock.now);
});

Deno.test("ChannelRegistry.attach answers busy while another session holds the channel", () => {
  const { channels } = registry();
  const first = session();
  channels.attach("a", first);
  assert.equal(channels.attach("a", session()), "busy");
  assert.equal(channels.get("a")?.session, first);
});

Deno.test("ChannelRegistry.attach answers full when a new channel would exceed maxChannels", () => {
  const { channels } = registry(2);
  assert.ok(channels.issue("a"));
  assert.ok(channels.issue("b"));
  assert.equal(channels.full, true);
  assert.equal(channels.issue("c"), undefined);
  assert.equal(channels.attach("c", session()), "full");
  // Known channels can still be attached when the registry is full.
  assert.equal(channels.attach("a", session()), "attached");
  assert.equal(channels.size, 2);
});

Deno.test("ChannelRegistry.detach frees the channel and records when", () => {
  const { channels, clock } = registry();
  const s = session();
  channels.attach("a", s);
  clock.now += 500;
  channels.detach("a", s);
  assert.equal(channels.get("a")?.session, undefined);
  assert.equal(channels.get("a")?.detachedAt, clock.now);
  assert.deepEqual(channels.attachedIds(), []);
  // Another client may take it now; attaching clears detachedAt.
  assert.equal(channels.attach("a", session()), "attached");
  assert.equal(channels.get("a")?.detachedAt, undefined);
});

Deno.test("ChannelRegistry.detach ignores a session that is no longer current", () => {
  const { channels } = registry();
  const old = session();
  const current = session();
  channels.attach("a", old);
  channels.detach("a", old);
  channels.attach("a", current);
  channels.detach("a", old); // the old socket's late close handler
  assert.equal(channels.get("a")?.session, current);
  channels.detach("unknown", old); // no throw
});

Deno.test("ChannelRegistry.sweep removes never-attached channels after cleanupAfter", () => {
  const { channels, clock } = registry();
  channels.issue("old");
  clock.now += 1000;
  channels.issue("young");
  assert.deepEqual(channels.sweep(1001, 10), []);
  clock.now += 1;
  assert.deepEqual(channels.sweep(1001, 10), ["old"]);
  assert.deepEqual(channels.ids(), ["young"]);
});

Deno.test("ChannelRegistry.sweep removes detached channels after detachedTtl", () => {
  const { channels, clock } = registry();
  const s = session();
  channels.attach("a", s);
  clock.now += 10_000; // older than cleanupAfter, but it was attached
  channels.detach("a", s);
  assert.deepEqual(channels.sweep(5_000, 3_000), []);
  clock.now += 2_999;
  assert.deepEqual(channels.sweep(5_000, 3_000), []);
  clock.now += 1;
  assert.deepEqual(channels.sweep(5_000, 3_000), ["a"]);
  assert.equal(channels.get("a"), undefined);
});

Deno.test("ChannelRegistry.sweep keeps attached channels and channels with deliveries in flight", () => {
  const { channels, clock } = registry();
  channels.attach("attached", session());
  const busy = channels.issue("busy")!;
  busy.inFlight = 1;
  clock.now += 1_000_000;
  assert.deepEqual(channels.sweep(1, 1), []);
  busy.inFlight = 0;
  assert.deepEqual(channels.sweep(1, 1), ["busy"]);
  assert.deepEqual(channels.ids(), ["attached"]);
});

Deno.test("ChannelRegistry.ids and attachedIds are sorted", () => {
  const { channels } = registry();
  for (const id of ["c", "a", "b"]) channels.issue(id);
  channels.attach("c", session());
  channels.attach("a", session());
  assert.deepEqual(channels.ids(), ["a", "b", "c"]);
  assert.deepEqual(channels.attachedIds(), ["a", "c"]);
});
