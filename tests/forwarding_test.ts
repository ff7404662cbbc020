/**
 * End to end: a real server and client process deliver webhooks to a local app byte for byte.
 */
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { gzipSync } from "node:zlib";
import {
  bytesOf,
  dechunk,
  pseudoRandomBytes,
  startApp,
  startClientProc,
  startServerProc,
} from "./_harness.ts";

interface Seen {
  method: string;
  path: string;
  headers: [string, string][];
  body: Uint8Array;
}

const GITHUB_SECRET = "It's a Secret to Everybody";
const GZIPPED = new Uint8Array(
  gzipSync(new TextEncoder().encode("compressed answer ".repeat(100))),
);

Deno.test("tunnel delivers requests and answers unchanged", async (t) => {
  const seen: Seen[] = [];
  await using app = startApp(async (request) => {
    const url = new URL(request.url);
    const body = new Uint8Array(await request.arrayBuffer());
    seen.push({
      method: request.method,
      path: url.pathname + url.search,
      headers: [...request.headers],
      body,
    });
    if (url.pathname.endsWith("/github")) {
      const expected = "sha256=" +
        createHmac("sha256", GITHUB_SECRET).update(body).digest("hex");
      const ok = request.headers.get("x-hub-signature-256") === expected;
      return new Response(ok ? "signature ok" : "signature mismatch", { status: ok ? 200 : 401 });
    }
    if (url.pathname.endsWith("/cookies")) {
      const headers = new Headers({ "x-app": "yes", "content-type": "text/plain" });
      headers.append("set-cookie", "a=1; Path=/");
      headers.append("set-cookie", "b=2; HttpOnly");
      return new Response("cookies", { status: 201, headers });
    }
    if (url.pathname.endsWith("/gzip")) {
      return new Response(GZIPPED, {
        headers: { "content-encoding": "gzip", "content-type": "text/plain" },
      });
    }
    if (url.pathname.endsWith("/echo")) {
      return new Response(body, {
        status: 200,
        headers: { "content-type": "application/octet-stream" },
      });
    }
    if (url.pathname.endsWith("/nocontent")) return new Response(null, { status: 204 });
    if (url.pathname.endsWith("/teapot")) return new Response("short and stout", { status: 418 });
    return new Response("ok");
  });
  await using server = await startServerProc();
  await using client = await startClientProc(server.url, `${app.url}/base`);
  const hook = client.webhookUrl;
  const last = () => seen[seen.length - 1];

  await t.step("client prints the webhook URL of the server", () => {
    assert.equal(hook, `${server.url}/webhook/${client.channelId}`);
    assert.match(
      client.channelId,
      /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
  });

  await t.step("method, path suffix and query map onto the target's path", async () => {
    for (const method of ["POST", "PUT", "PATCH", "DELETE", "GET", "OPTIONS"]) {
      const response = await fetch(`${hook}/gh/events?x=1&y=%20z`, {
        method,
        body: method === "GET" || method === "OPTIONS" ? undefined : "x",
      });
      assert.equal(response.status, 200);
      await response.body?.cancel();
      assert.equal(last().method, method);
      assert.equal(last().path, "/base/gh/events?x=1&y=%20z");
    }
    await (await fetch(hook)).body?.cancel();
    assert.equal(last().path, "/base");
    await (await fetch(`${hook}?only=query`)).body?.cancel();
    assert.equal(last().path, "/base?only=query");
  });

  await t.step(
    "headers arrive unchanged; hop-by-hop dropped; Host is the target's; X-Forwarded-* added",
    async () => {
      const response = await fetch(`${hook}/h`, {
        method: "POST",
        headers: {
          "x-custom": "Value With  Spaces",
          "x-github-event": "push",
          "user-agent": "GitHub-Hookshot/abc",
          "connection": "keep-alive, x-drop-me",
          "x-drop-me": "1",
          "te": "trailers",
        },
        body: "{}",
      });
      await response.body?.cancel();
      const headers = new Map(last().headers);
      assert.equal(headers.get("x-custom"), "Value With  Spaces");
      assert.equal(headers.get("x-github-event"), "push");
      assert.equal(headers.get("user-agent"), "GitHub-Hookshot/abc");
      assert.equal(headers.get("x-drop-me"), undefined);
      assert.equal(headers.get("te"), undefined);
      assert.equal(headers.get("host"), new URL(app.url).host);
      assert.equal(headers.get("x-forwarded-for"), "127.0.0.1");
      assert.equal(headers.get("x-forwarded-proto"), "http");
      assert.equal(headers.get("x-forwarded-host"), new URL(server.url).host);
      assert.equal(headers.get("content-length"), "2");
    },
  );

  await t.step("no Accept-Encoding is added when the sender sent none", async () => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    const path = new URL(hook).pathname;
    await conn.write(new TextEncoder().encode(
      `POST ${path}/raw HTTP/1.1\r\nHost: example.test\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}`,
    ));
    const raw = new TextDecoder().decode(await new Response(conn.readable).arrayBuffer());
    assert.match(raw, /^HTTP\/1\.1 200/);
    assert.equal(new Map(last().headers).get("accept-encoding"), undefined);
    assert.equal(new Map(last().headers).get("x-forwarded-host"), "example.test");
  });

  await t.step("the sender's Accept-Encoding arrives as sent", async () => {
    const response = await fetch(`${hook}/ae`, {
      headers: { "accept-encoding": "br;q=1, identity" },
    });
    await response.body?.cancel();
    assert.equal(new Map(last().headers).get("accept-encoding"), "br;q=1, identity");
  });

  await t.step("a gzip answer reaches the sender as the same compressed bytes", async () => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    const path = new URL(hook).pathname;
    await conn.write(new TextEncoder().encode(
      `GET ${path}/gzip HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n`,
    ));
    const raw = new Uint8Array(await new Response(conn.readable).arrayBuffer());
    const text = new TextDecoder("latin1").decode(raw);
    const split = text.indexOf("\r\n\r\n");
    const head = text.slice(0, split).toLowerCase();
    assert.match(head, /content-encoding: gzip/);
    let body: Uint8Array = raw.subarray(split + 4);
    if (/transfer-encoding: chunked/.test(head)) body = dechunk(body);
    assert.deepEqual(body, new Uint8Array(GZIPPED));
  });

  await t.step(
    "a GitHub X-Hub-Signature-256 computed by the sender verifies at the app",
    async () => {
      const payload = new TextEncoder().encode(
        JSON.stringify({ zen: "Keep it logically awesome.", n: 1 }),
      );
      const signature = "sha256=" +
        createHmac("sha256", GITHUB_SECRET).update(payload).digest("hex");
      const response = await fetch(`${hook}/github`, {
        method: "POST",
        headers: { "x-hub-signature-256": signature, "content-type": "application/json" },
        body: payload,
      });
      assert.equal(await response.text(), "signature ok");
      assert.equal(response.status, 200);
    },
  );

  await t.step("binary, empty and large bodies are byte-identical both ways", async () => {
    for (const size of [0, 1, 255, 65_535, 65_536, 65_537, 1_000_000, 5 * 1024 * 1024 + 3]) {
      const body = pseudoRandomBytes(size, size + 7);
      const response = await fetch(`${hook}/echo`, { method: "POST", body });
      assert.equal(response.status, 200);
      const back = await bytesOf(response);
      assert.equal(back.length, size);
      assert.deepEqual(back, body, `size ${size}`);
      assert.deepEqual(last().body, body);
    }
  });

  await t.step("a chunked upload of unknown length arrives whole", async () => {
    const parts = [
      pseudoRandomBytes(70_000, 1),
      pseudoRandomBytes(3, 2),
      pseudoRandomBytes(200_000, 3),
    ];
    const stream = ReadableStream.from(parts);
    const response = await fetch(`${hook}/echo`, { method: "POST", body: stream });
    const back = await bytesOf(response);
    const expected = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let offset = 0;
    for (const part of parts) {
      expected.set(part, offset);
      offset += part.length;
    }
    assert.deepEqual(back, expected);
  });

  await t.step("status, repeated Set-Cookie and other headers come back unchanged", async () => {
    const response = await fetch(`${hook}/cookies`, { method: "POST", body: "x" });
    assert.equal(response.status, 201);
    assert.deepEqual(response.headers.getSetCookie(), ["a=1; Path=/", "b=2; HttpOnly"]);
    assert.equal(response.headers.get("x-app"), "yes");
    assert.equal(response.headers.get("content-type"), "text/plain");
    assert.equal(await response.text(), "cookies");
    const teapot = await fetch(`${hook}/teapot`);
    assert.equal(teapot.status, 418);
    assert.equal(await teapot.text(), "short and stout");
    const empty = await fetch(`${hook}/nocontent`, { method: "POST", body: "x" });
    assert.equal(empty.status, 204);
    assert.equal(await empty.text(), "");
    const head = await fetch(`${hook}/teapot`, { method: "HEAD" });
    assert.equal(head.status, 418);
    assert.equal(await head.text(), "");
  });
});
