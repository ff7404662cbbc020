import assert from "node:assert/strict";
import { TunnelSession } from "../protocol/mod.ts";
import { deliverWebhook } from "./deliver.ts";

/** A transport that records what would be sent. */
function recordingTransport() {
  const sent: Uint8Array[] = [];
  return { sent, transport: { send: (m: Uint8Array) => sent.push(m), bufferedAmount: 0 } };
}

const OPTIONS = {
  target: "/",
  remoteIp: "127.0.0.1",
  proto: "http",
  maxBodySize: 1024 * 1024,
  requestTimeout: 1000,
  retryAfterSeconds: 30,
};

Deno.test("deliverWebhook answers 431 for a head too large to tunnel and sends no frame", async () => {
  const { sent, transport } = recordingTransport();
  const session = new TunnelSession(transport, { role: "server" });
  // JSON escaping doubles quotes: 70,000 of them exceed the 128 KiB head limit.
  const request = new Request("http://server/webhook/x", {
    method: "POST",
    headers: { "x-quotes": '"'.repeat(70_000) },
    body: "x",
  });
  const { response } = await deliverWebhook(request, session, OPTIONS);
  assert.equal(response.status, 431);
  assert.match((await response.json()).error, /too large to tunnel/);
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(sent.length, 0, "no HEAD and no RESET reached the client");
  assert.equal(session.activeStreams, 0);
  session.close();
});

Deno.test("deliverWebhook answers 503 with Retry-After when the tunnel cannot open a stream", async () => {
  const { transport } = recordingTransport();
  const session = new TunnelSession(transport, { role: "server" });
  session.close();
  const request = new Request("http://server/webhook/x", { method: "POST", body: "x" });
  const { response } = await deliverWebhook(request, session, OPTIONS);
  assert.equal(response.status, 503);
  assert.equal(response.headers.get("retry-after"), "30");
  await response.body?.cancel();
});
