/**
 * End to end, issue #10 on a cluster: three replicas share a Redis queue; webhooks accepted by one
 * replica while the client is away are delivered, once each and in order, after that replica is
 * killed and the client attaches to another.
 */
import assert from "node:assert/strict";
import {
  freePorts,
  pseudoRandomBytes,
  type ServerProc,
  startApp,
  startClientProc,
  startServerProc,
  tempStateFile,
  waitUntil,
} from "./_harness.ts";
import { startRedis } from "./_redis.ts";

/** This file's loopback range: Redis on .200, replicas on .201-.203. */
const FIRST_REPLICA = 201;

Deno.test("queue redis cluster: replica A accepts while the client is away, A is killed, the client attaches to B: all delivered once, in order", async () => {
  await using redis = await startRedis({ hostname: "127.0.0.200" });
  const received: { path: string; body: Uint8Array }[] = [];
  await using app = startApp(async (request) => {
    received.push({
      path: new URL(request.url).pathname,
      body: new Uint8Array(await request.arrayBuffer()),
    });
    return new Response("ok");
  });
  const [httpPort, gossipPort] = freePorts(2, `127.0.0.${FIRST_REPLICA}`);
  const replicas: ServerProc[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      replicas.push(
        await startServerProc([
          "--memberlist-port",
          String(gossipPort),
          "--node-name",
          `queue-replica-${i}`,
          "--channel-key",
          "queue-cluster-key",
          "--queue",
          redis.url,
          ...(i === 0 ? [] : ["--join", `127.0.0.${FIRST_REPLICA}:${gossipPort}`]),
        ], { host: `127.0.0.${FIRST_REPLICA + i}`, port: httpPort }),
      );
    }
    const [a, b, c] = replicas;
    const stateFile = await tempStateFile();
    // The client first attaches to C, which stores its offline mode in Redis.
    const first = await startClientProc(c.url, app.url, ["--state-file", stateFile]);
    const channelId = first.channelId;
    await first.stop("SIGKILL");
    const webhookUrl = `${a.url}/webhook/${channelId}`;
    await waitUntil(async () => {
      const response = await fetch(`${webhookUrl}/probe`, { method: "POST", body: "p" });
      await response.body?.cancel();
      return response.status === 202;
    }, "replica A to queue for the away client");
    const bodies = Array.from(
      { length: 20 },
      (_, i) => pseudoRandomBytes((i * 37_001) % 700_000, i + 1),
    );
    for (const [i, body] of bodies.entries()) {
      const response = await fetch(`${webhookUrl}/n${i}`, { method: "POST", body });
      assert.equal(response.status, 202, await response.text());
    }
    await a.stop("SIGKILL");
    // The same channel, now through B (the state file is keyed by server URL).
    const state = JSON.parse(await Deno.readTextFile(stateFile));
    const [[key, entry]] = Object.entries(state.channels);
    state.channels[key.replace(new URL(c.url).href, new URL(b.url).href)] = entry;
    await Deno.writeTextFile(stateFile, JSON.stringify(state));
    await using client = await startClientProc(b.url, app.url, ["--state-file", stateFile]);
    assert.equal(client.channelId, channelId);
    await waitUntil(() => received.length >= 21, "every queued webhook through B", 60_000);
    assert.deepEqual(received.map((r) => r.path), ["/probe", ...bodies.map((_, i) => `/n${i}`)]);
    for (const [i, body] of bodies.entries()) assert.deepEqual(received[i + 1].body, body);
    // Once each: B logged exactly 21 deliveries, and the next webhook passes through live.
    await waitUntil(
      () => b.stderr.some((line) => /is empty: webhooks pass through live/.test(line)),
      "B's drain to finish",
    );
    const live = await fetch(`${b.url}/webhook/${channelId}/live`, { method: "POST", body: "x" });
    assert.equal(live.status, 200, await live.text());
    assert.equal(received.length, 22);
    assert.equal(b.stderr.filter((line) => /Delivered queued webhook/.test(line)).length, 21);
  } finally {
    for (const replica of replicas) await replica.stop();
  }
});
