// Hardening #13.1 (server half): a tunnel client that attaches and then never reads its socket
// (while still sending pongs, so keep-alive never fires) must not pin the uploads sent to it.
import assert from "node:assert/strict";
import { CHANNEL_SECRET_HEADER, PROTOCOL_HEADER, PROTOCOL_VERSION } from "../protocol/mod.ts";
import { startServer } from "./mod.ts";

const REQUEST_TIMEOUT = 1_000;
/** Concurrent senders: 40 streams × a 256 KiB window is about twice what loopback buffers hold. */
const SENDERS = 40;
const BODY = new Uint8Array(300 * 1024);

/** Opens a WebSocket on a raw TCP socket and stops reading after the 101; sends pongs. */
async function rogueClient(port: number, id: string, secret: string) {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const request = [
    `GET /ws/${id} HTTP/1.1`,
    `Host: 127.0.0.1:${port}`,
    "Upgrade: websocket",
    "Connection: Upgrade",
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Version: 13",
    `${CHANNEL_SECRET_HEADER}: ${secret}`,
    `${PROTOCOL_HEADER}: ${PROTOCOL_VERSION}`,
    "",
    "",
  ].join("\r\n");
  await conn.write(new TextEncoder().encode(request));
  let head = "";
  const buffer = new Uint8Array(1024);
  while (!head.includes("\r\n\r\n")) {
    const n = await conn.read(buffer);
    if (n === null) throw new Error("The server closed the upgrade");
    head += new TextDecoder().decode(buffer.subarray(0, n));
  }
  assert.match(head, /^HTTP\/1\.1 101/);
  // An unsolicited, masked, empty PONG now and then; nothing is ever read again.
  const pong = new Uint8Array([0x8a, 0x80, 1, 2, 3, 4]);
  const timer = setInterval(() => conn.write(pong).catch(() => {}), 300);
  return {
    close() {
      clearInterval(timer);
      try {
        conn.close();
      } catch {
        // Already closed.
      }
    },
  };
}

Deno.test("server closes a tunnel whose client stopped reading and frees its channel and in-flight slots", async () => {
  const server = await startServer({
    port: 0,
    bindAddr: "127.0.0.1",
    memberlistPort: 0,
    requestTimeout: REQUEST_TIMEOUT,
  });
  const base = `http://127.0.0.1:${server.addr.port}`;
  const { channel_id: id, channel_secret: secret } = await (await fetch(`${base}/new`)).json();
  const rogue = await rogueClient(server.addr.port, id, secret);
  try {
    const post = async () => {
      const response = await fetch(`${base}/webhook/${id}`, { method: "POST", body: BODY });
      await response.body?.cancel();
      return response.status;
    };
    const firstWave = await Promise.all(Array.from({ length: SENDERS }, post));
    // 504 (the request timeout), or 502 for the last ones when the stall is noticed first.
    assert.ok(firstWave.every((status) => status === 504 || status === 502), `${firstWave}`);
    assert.ok(firstWave.includes(504), `statuses: ${firstWave}`);
    // The socket is still full: the next upload finds it stalled past the request timeout.
    const later: number[] = [];
    const deadline = Date.now() + 10_000;
    while (server.channels.get(id)?.session && Date.now() < deadline) later.push(await post());
    assert.equal(server.channels.get(id)?.session, undefined, "the stalled tunnel was dropped");
    assert.ok(later.every((status) => status >= 500), `statuses: ${later}`);
    const channel = server.channels.get(id)!;
    const slotsDeadline = Date.now() + 5_000;
    while (channel.inFlight > 0 && Date.now() < slotsDeadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.equal(channel.inFlight, 0, "every in-flight slot came back");
    // The channel is free again: a webhook now says the client is disconnected, not 504.
    assert.equal(await post(), 503);
  } finally {
    rogue.close();
    await server.shutdown();
  }
});
