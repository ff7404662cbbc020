/**
 * End to end: every way a delivery can fail gives the sender a clear status and JSON error, and
 * never disturbs other channels.
 */
import assert from "node:assert/strict";
import {
  pseudoRandomBytes,
  startApp,
  startClientProc,
  startServerProc,
  waitUntil,
} from "./_harness.ts";

async function errorOf(response: Response): Promise<string> {
  assert.match(response.headers.get("content-type") ?? "", /application\/json/);
  const body = await response.json();
  assert.equal(typeof body.error, "string");
  return body.error;
}

Deno.test("server answers errors the sender can act on", async (t) => {
  let releaseHeld!: () => void;
  const held = new Promise<void>((resolve) => (releaseHeld = resolve));
  let holding = 0;
  await using app = startApp(async (request) => {
    const path = new URL(request.url).pathname;
    if (path === "/slow") await new Promise((resolve) => setTimeout(resolve, 3000));
    if (path === "/hold") {
      holding++;
      await held;
    }
    await request.body?.cancel();
    return new Response("ok");
  });
  await using server = await startServerProc([
    "--max-body-size",
    "1KiB",
    "--request-timeout",
    "1s",
  ]);
  await using client = await startClientProc(server.url, app.url, [
    "--disabled-transfer-request-timeout",
  ]);

  await t.step("unknown channel → 404", async () => {
    const response = await fetch(`${server.url}/webhook/00000000-0000-4000-8000-000000000000`, {
      method: "POST",
      body: "x",
    });
    assert.equal(response.status, 404);
    assert.match(await errorOf(response), /No client/);
  });

  await t.step("issued channel without a client → 404", async () => {
    const { channel_id } = await (await fetch(`${server.url}/new`)).json();
    const response = await fetch(`${server.url}/webhook/${channel_id}`, {
      method: "POST",
      body: "x",
    });
    assert.equal(response.status, 404);
    await errorOf(response);
  });

  await t.step("declared body over --max-body-size → 413 without reading it", async () => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    const path = new URL(client.webhookUrl).pathname;
    // Announce 100 MiB but send only the head: the answer must come anyway.
    await conn.write(new TextEncoder().encode(
      `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: 104857600\r\n\r\n`,
    ));
    const buf = new Uint8Array(4096);
    const n = await conn.read(buf);
    conn.close();
    const text = new TextDecoder().decode(buf.subarray(0, n ?? 0));
    assert.match(text, /^HTTP\/1\.1 413/);
    assert.match(text, /exceeds the limit of 1024 bytes/);
  });

  await t.step("chunked body over --max-body-size → 413", async () => {
    const body = ReadableStream.from([pseudoRandomBytes(600), pseudoRandomBytes(600)]);
    const response = await fetch(client.webhookUrl, { method: "POST", body });
    assert.equal(response.status, 413);
    await errorOf(response);
  });

  await t.step("local app slower than --request-timeout → 504", async () => {
    const response = await fetch(`${client.webhookUrl}/slow`, { method: "POST", body: "x" });
    assert.equal(response.status, 504);
    assert.match(await errorOf(response), /request timeout/);
  });

  await t.step("client gone mid-request → 502", async () => {
    const pending = fetch(`${client.webhookUrl}/hold`, { method: "POST", body: "x" });
    await waitUntil(() => holding === 1, "the request reached the app");
    await client.stop("SIGKILL");
    const response = await pending;
    assert.equal(response.status, 502);
    assert.match(await errorOf(response), /disconnected/);
    releaseHeld();
  });
});

Deno.test("client maps local-app failures to 502 and 504", async (t) => {
  await using app = startApp(async (request) => {
    await new Promise((resolve) => setTimeout(resolve, 2000));
    await request.body?.cancel();
    return new Response("late");
  });
  await using server = await startServerProc();
  await using slowClient = await startClientProc(server.url, app.url, [
    "--transfer-request-timeout",
    "300ms",
  ]);
  // A port nothing listens on: bind, note the port, close.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const deadPort = (listener.addr as Deno.NetAddr).port;
  listener.close();
  await using deadClient = await startClientProc(server.url, `http://127.0.0.1:${deadPort}`);

  await t.step("local app unreachable → 502", async () => {
    const response = await fetch(deadClient.webhookUrl, { method: "POST", body: "x" });
    assert.equal(response.status, 502);
    assert.match(await errorOf(response), /could not reach its local app/);
  });

  await t.step("local app slower than --transfer-request-timeout → 504", async () => {
    const response = await fetch(slowClient.webhookUrl, { method: "POST", body: "x" });
    assert.equal(response.status, 504);
    assert.match(await errorOf(response), /transfer timeout/);
  });
});

Deno.test("a client sending malformed frames is disconnected with 1008; others keep being served", async () => {
  await using app = startApp(() => new Response("fine"));
  await using server = await startServerProc();
  await using good = await startClientProc(server.url, app.url);
  const { channel_id, channel_secret } = await (await fetch(`${server.url}/new`)).json();
  const ws = new WebSocket(`${server.url.replace("http", "ws")}/ws/${channel_id}`, {
    headers: { "x-channel-secret": channel_secret, "x-wow-protocol": "1" },
  });
  const closed = new Promise<CloseEvent>((resolve) => (ws.onclose = resolve));
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = reject;
  });
  ws.send(new Uint8Array([0xff, 0, 0, 0, 0, 1, 0, 0, 0, 0]));
  const event = await closed;
  assert.equal(event.code, 1008);
  await server.waitFor(/Disconnecting the client of channel .*unknown type 255/, {
    stream: "stderr",
  });
  const response = await fetch(good.webhookUrl, { method: "POST", body: "x" });
  assert.equal(await response.text(), "fine");
  // The bad channel is now detached (503 for its webhooks), not gone.
  await waitUntil(async () => {
    const r = await fetch(`${server.url}/webhook/${channel_id}`, { method: "POST", body: "x" });
    await r.body?.cancel();
    return r.status === 503;
  }, "bad channel detached");
});
