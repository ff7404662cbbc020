/**
 * Adversarial inputs from issue #13 against a real server process over raw sockets: each test
 * fails without its fix.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  CHANNEL_SECRET_HEADER,
  encodeResponseHead,
  PROTOCOL_HEADER,
  PROTOCOL_VERSION,
  TunnelSession,
  type TunnelStream,
} from "../protocol/mod.ts";
import {
  freePorts,
  rawRequest,
  startApp,
  startClientProc,
  startServerProc,
  waitUntil,
} from "./_harness.ts";

Deno.test("#13.9: a Host header that makes no valid URL gets 400 on every route, never 500 or an error log", async () => {
  await using server = await startServerProc(["--log-level", "debug"]);
  for (const host of ["[", "a:99999", "%zz"]) {
    for (const target of ["GET /healthz", "POST /new", "POST /webhook/x"]) {
      const answer = await rawRequest(
        server.port,
        `${target} HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`,
      );
      assert.match(
        answer,
        /^HTTP\/1\.1 400 /,
        `${target} with Host: ${host} → ${answer.split("\r\n")[0]}`,
      );
      assert.match(answer, /Host header does not make a valid URL/);
    }
  }
  const logs = [...server.stdout, ...server.stderr].join("\n");
  assert.doesNotMatch(logs, /Unhandled error/);
  assert.doesNotMatch(logs, /\bERR(OR)?\b.*Invalid URL/);
  // The server still serves well-formed requests.
  const healthy = await fetch(`${server.url}/healthz`);
  await healthy.body?.cancel();
  assert.equal(healthy.status, 200);
});

Deno.test("#13.2: --admin-token without --gossip-key: replicas still relay and /traefik-config lists every channel", async () => {
  const token = "operator-secret-13-2";
  await using app = startApp((request) => new Response(`app:${new URL(request.url).pathname}`));
  const [httpPort, gossipPort] = freePorts(2, "127.0.0.151");
  const replica = (i: number, extra: string[] = []) =>
    startServerProc([
      "--memberlist-port",
      String(gossipPort),
      "--node-name",
      `replica-${i}`,
      "--admin-token",
      token,
      ...extra,
    ], { host: `127.0.0.${151 + i}`, port: httpPort });
  await using a = await replica(0);
  await using b = await replica(1, ["--join", `127.0.0.151:${gossipPort}`]);
  const auth = { authorization: `Bearer ${token}` };
  await using client = await startClientProc(a.url, app.url);

  // Sent to B, the replica without the client: relayed to A.
  const viaB = `${b.url}/webhook/${client.channelId}/relayed`;
  const answer = await waitUntil(async () => {
    const response = await fetch(viaB, { method: "POST", body: "x" });
    const text = await response.text();
    return response.status === 200 ? text : undefined;
  }, "a webhook sent to B relayed to A");
  assert.equal(answer, "app:/relayed");

  // B's /traefik-config names the channel (it gathered A's channels with the credential).
  const config = await waitUntil(async () => {
    const response = await fetch(`${b.url}/traefik-config`, { headers: auth });
    const text = await response.text();
    return response.status === 200 && text.includes(client.channelId) ? text : undefined;
  }, "B's /traefik-config listing the channel held on A");
  assert.ok(config?.includes(a.url), `B routes the channel to A (${a.url}): ${config}`);
});

Deno.test("#13.8: two identical Content-Length headers reach the app as one; differing ones get 400", async () => {
  const seen: (string | null)[] = [];
  await using app = startApp(async (request) => {
    seen.push(request.headers.get("content-length"));
    return new Response(`got:${await request.text()}`);
  });
  await using server = await startServerProc(["--max-body-size", "1024"]);
  await using client = await startClientProc(server.url, app.url);
  const path = `/webhook/${client.channelId}/cl`;
  // The declared length is the parsed one, repeats or not: over the limit is 413 at once (a
  // second parse of the joined "2048, 2048" made NaN and let the request wait for its body).
  for (const lines of ["Content-Length: 2048\r\n", "Content-Length: 2048\r\n".repeat(2)]) {
    const tooLarge = await rawRequest(
      server.port,
      `POST ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${lines}\r\n`,
    );
    assert.match(tooLarge, /^HTTP\/1\.1 413 /, tooLarge.split("\r\n")[0]);
  }
  const twice = await rawRequest(
    server.port,
    `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello`,
  );
  assert.match(twice, /^HTTP\/1\.1 200 /, twice.split("\r\n")[0]);
  assert.match(twice, /got:hello/);
  assert.deepEqual(seen, ["5"]);
  const differing = await rawRequest(
    server.port,
    `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\nConnection: close\r\n\r\nhello!`,
  );
  assert.match(differing, /^HTTP\/1\.1 400 /, differing.split("\r\n")[0]);
  assert.equal(seen.length, 1, "the app never saw the ambiguous request");
});

Deno.test("#13.7: a GET or HEAD webhook with a body gets a clear 400, never 502; without one it is delivered", async () => {
  const seen: string[] = [];
  await using app = startApp((request) => {
    seen.push(request.method);
    return new Response("ok");
  });
  await using server = await startServerProc();
  await using client = await startClientProc(server.url, app.url);
  const path = `/webhook/${client.channelId}/get`;
  for (const method of ["GET", "HEAD"]) {
    const answer = await rawRequest(
      server.port,
      `${method} ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello`,
    );
    assert.match(answer, /^HTTP\/1\.1 400 /, `${method} with a body: ${answer.split("\r\n")[0]}`);
    if (method === "GET") assert.match(answer, /cannot carry a body/);
  }
  assert.deepEqual(seen, [], "the app got no request with a missing body");
  const plain = await fetch(`${server.url}${path}`);
  assert.equal(await plain.text(), "ok");
  assert.deepEqual(seen, ["GET"]);
});

Deno.test("#13.10: a tunnel client cannot forge server log lines with a RESET message", async () => {
  await using server = await startServerProc();
  const { channel_id: id, channel_secret: secret } = await (await fetch(`${server.url}/new`))
    .json();
  // A rogue client speaking the tunnel protocol: answers a head, then resets the
  // stream with a message that carries a newline and a fake log line.
  const ws = new WebSocket(`${server.url.replace("http", "ws")}/ws/${id}`, {
    headers: { [CHANNEL_SECRET_HEADER]: secret, [PROTOCOL_HEADER]: String(PROTOCOL_VERSION) },
  });
  ws.binaryType = "arraybuffer";
  const session = new TunnelSession({
    send: (message: Uint8Array) => ws.send(message),
    get bufferedAmount() {
      return ws.bufferedAmount;
    },
  }, {
    role: "client",
    onStream: (stream: TunnelStream) => {
      stream.sendHead(
        encodeResponseHead({ status: 200, headers: [["content-type", "text/plain"]] }),
      );
      setTimeout(() => stream.reset("target_error", "evil\n2026-12-04 ERR FORGED LINE"), 50);
    },
  });
  ws.onmessage = (event) => session.receive(new Uint8Array(event.data as ArrayBuffer));
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = reject;
  });
  try {
    const response = await fetch(`${server.url}/webhook/${id}/x`, { method: "POST", body: "x" });
    await response.text().catch(() => "");
    await waitUntil(
      () => server.stderr.some((line) => line.includes("FORGED")),
      "the server logging the reset",
      5_000,
    );
    const forged = server.stderr.filter((line) => /^\S*\s*2026-12-04 ERR FORGED LINE/.test(line));
    assert.deepEqual(forged, [], "a peer's text started a log line of its own");
    const logged = server.stderr.find((line) => line.includes("FORGED"))!;
    assert.doesNotMatch(logged, /Unhandled error|\bERR(OR)?\b.*Unhandled/);
    assert.match(logged, /evil\\n2026/, `escaped on one line: ${logged}`);
  } finally {
    session.close();
    ws.close();
  }
});
