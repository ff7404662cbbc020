/**
 * End to end: many requests share one tunnel, bodies stream in bounded chunks, and a stalled
 * request never holds up the others.
 */
import assert from "node:assert/strict";
import {
  bytesOf,
  pseudoRandomBytes,
  startApp,
  startClientProc,
  startServerProc,
  waitUntil,
} from "./_harness.ts";

Deno.test("tunnel streams concurrent requests independently", async (t) => {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let stalledBytesRead = 0;
  await using app = startApp(async (request) => {
    const path = new URL(request.url).pathname;
    if (path === "/stall") {
      // Reads one chunk, then stops reading and answers only when released.
      const reader = request.body!.getReader();
      const first = await reader.read();
      stalledBytesRead += first.value?.length ?? 0;
      await released;
      await reader.cancel();
      return new Response("released");
    }
    const body = new Uint8Array(await request.arrayBuffer());
    return new Response(body, { headers: { "x-size": String(body.length) } });
  });
  await using server = await startServerProc();
  await using client = await startClientProc(server.url, app.url);

  await t.step("32 concurrent requests with mixed sizes all come back intact", async () => {
    const sizes = [0, 10, 1024, 65_536, 200_000, 1_048_576, 3_000_000, 700];
    const results = await Promise.all(Array.from({ length: 32 }, async (_, i) => {
      const body = pseudoRandomBytes(sizes[i % sizes.length], i + 1);
      const response = await fetch(`${client.webhookUrl}/n/${i}`, { method: "POST", body });
      const back = await bytesOf(response);
      return { i, ok: response.status === 200, same: equal(back, body), size: body.length };
    }));
    for (const result of results) {
      assert.ok(result.ok, `request ${result.i} status`);
      assert.ok(result.same, `request ${result.i} (${result.size} bytes) body differs`);
    }
  });

  await t.step("a stalled upload does not hold up other requests on the same tunnel", async () => {
    const big = pseudoRandomBytes(8 * 1024 * 1024, 99);
    const stalled = fetch(`${client.webhookUrl}/stall`, { method: "POST", body: big });
    // While the app refuses to read the 8 MiB body, 20 other requests complete.
    for (let i = 0; i < 20; i++) {
      const body = pseudoRandomBytes(100_000, i);
      const response = await fetch(`${client.webhookUrl}/quick`, { method: "POST", body });
      assert.equal(response.status, 200);
      assert.ok(equal(await bytesOf(response), body));
    }
    assert.ok(stalledBytesRead > 0 && stalledBytesRead < big.length);
    release();
    const response = await stalled;
    assert.equal(await response.text(), "released");
  });
});

function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

Deno.test("an app that answers before reading a large body frees the stream on both sides", async () => {
  const { startServer } = await import("../server/mod.ts");
  const { startClient } = await import("../client/mod.ts");
  await using app = startApp(() => new Response("no thanks", { status: 401 }));
  const server = await startServer({ port: 0, bindAddr: "127.0.0.1", memberlistPort: 0 });
  const client = await startClient({
    serverUrl: server.url,
    targetUrl: app.url,
    print: () => {},
  });
  try {
    for (let i = 0; i < 3; i++) {
      const response = await fetch(client.webhookUrl, {
        method: "POST",
        body: pseudoRandomBytes(8 * 1024 * 1024, i),
      });
      assert.equal(response.status, 401);
      assert.equal(await response.text(), "no thanks");
    }
    const session = server.channels.get(client.channelId)!.session!;
    await waitUntil(() => session.activeStreams === 0, "no stream left open on the server");
  } finally {
    await client.shutdown();
    await server.shutdown();
  }
});
