import assert from "node:assert/strict";
import { encodeResponseHead, TunnelSession, type TunnelStream } from "../protocol/mod.ts";
import { type DeliverOptions, deliverWebhook } from "./deliver.ts";
import { ServerRequest } from "../http1/mod.ts";
import { toResponse } from "./_test_app.ts";

/** Delivers a `Request` as the server would read it, and answers a `Response`. */
async function deliver(
  request: Request,
  session: TunnelSession,
  options: DeliverOptions,
): Promise<Response> {
  const { response } = await deliverWebhook(
    ServerRequest.fromRequest(request, "127.0.0.1"),
    session,
    options,
  );
  return toResponse(response);
}

/** A transport that records what would be sent. */
function recordingTransport() {
  const sent: Uint8Array[] = [];
  return { sent, transport: { send: (m: Uint8Array) => sent.push(m), bufferedAmount: 0 } };
}

/**
 * A server session linked to a client session in memory; the client answers each stream with
 * `answer`.
 */
function linkedPair(answer: (stream: TunnelStream) => void) {
  const toClient = {
    send: (m: Uint8Array) => queueMicrotask(() => client.receive(m)),
    bufferedAmount: 0,
  };
  const toServer = {
    send: (m: Uint8Array) => queueMicrotask(() => server.receive(m)),
    bufferedAmount: 0,
  };
  const server = new TunnelSession(toClient, { role: "server" });
  const client: TunnelSession = new TunnelSession(toServer, { role: "client", onStream: answer });
  return { server, client };
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
  const response = await deliver(request, session, OPTIONS);
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
  const response = await deliver(request, session, OPTIONS);
  assert.equal(response.status, 503);
  assert.equal(response.headers.get("retry-after"), "30");
  await response.body?.cancel();
});

Deno.test("deliverWebhook strips hop-by-hop headers from the client's answer (issue 13 #15)", async () => {
  // The "client" end answers with hop-by-hop headers, as a rogue or older client might; the
  // sender must get only the end-to-end ones.
  const { server, client } = linkedPair((stream) => {
    stream.sendHead(encodeResponseHead({
      status: 200,
      headers: [
        ["connection", "close, x-named-by-connection"],
        ["upgrade", "h2c"],
        ["keep-alive", "timeout=5"],
        ["proxy-connection", "keep-alive"],
        ["x-named-by-connection", "1"],
        ["x-end-to-end", "kept"],
        ["set-cookie", "a=1"],
        ["set-cookie", "b=2"],
      ],
    }));
    stream.sendEnd();
  });
  const request = new Request("http://server/webhook/x", { method: "POST", body: "x" });
  const response = await deliver(request, server, OPTIONS);
  await response.body?.cancel();
  assert.equal(response.status, 200);
  const names = [...response.headers.keys()];
  for (
    const hop of [
      "connection",
      "upgrade",
      "keep-alive",
      "proxy-connection",
      "x-named-by-connection",
    ]
  ) {
    assert.ok(!names.includes(hop), `${hop} must not reach the sender: ${names}`);
  }
  assert.equal(response.headers.get("x-end-to-end"), "kept");
  assert.deepEqual(response.headers.getSetCookie(), ["a=1", "b=2"]);
  server.close();
  client.close();
});

Deno.test("deliverWebhook reports the server's own share of the wait, not the client's answer time", async () => {
  const appTime = 300;
  const { server, client } = linkedPair((stream) => {
    setTimeout(() => {
      stream.sendHead(encodeResponseHead({ status: 200, headers: [] }));
      stream.sendEnd();
    }, appTime);
  });
  // Arrived 50 ms before delivery began (routing, a busy loop): counted; the app's 300 ms: not.
  const arrivedAt = performance.now() - 50;
  const request = new Request("http://server/webhook/x", { method: "POST", body: "x" });
  const { response, outcome } = await deliverWebhook(
    ServerRequest.fromRequest(request, "127.0.0.1"),
    server,
    { ...OPTIONS, arrivedAt },
  );
  await toResponse(response).body?.cancel();
  assert.equal(response.status, 200);
  assert.ok(outcome.addedSeconds !== undefined);
  assert.ok(
    outcome.addedSeconds >= 0.05 && outcome.addedSeconds < 0.05 + appTime / 2000,
    `added ${outcome.addedSeconds}`,
  );
  const refused = await deliverWebhook(
    ServerRequest.fromRequest(
      new Request("http://server/webhook/x", { method: "POST", body: "x".repeat(10) }),
      "127.0.0.1",
    ),
    server,
    { ...OPTIONS, maxBodySize: 1 },
  );
  await toResponse(refused.response).body?.cancel();
  assert.equal(refused.outcome.addedSeconds, undefined, "no answer from the client: no sample");
  server.close();
  client.close();
});
