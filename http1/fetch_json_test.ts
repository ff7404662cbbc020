import assert from "node:assert/strict";
import { fetchJson } from "./mod.ts";
import { makeCertificates } from "../client/_test_certs.ts";

/** A Deno.serve server: `/new` answers JSON echoing the request's headers; others answer 401. */
function startServer(tls?: { cert: string; key: string }) {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {}, ...tls }, (req) => {
    const url = new URL(req.url);
    if (url.pathname === "/big") return new Response(new Uint8Array(2 * 1024 * 1024));
    if (url.pathname !== "/new") return Response.json({ error: "nope" }, { status: 401 });
    return Response.json({
      channel_id: "abc",
      authorization: req.headers.get("authorization"),
      accept: req.headers.get("accept"),
    });
  });
  return {
    origin: `${tls ? "https" : "http"}://127.0.0.1:${server.addr.port}`,
    shutdown: () => server.shutdown(),
  };
}

Deno.test("fetchJson with insecure reads an answer signed by an unknown CA", async () => {
  const { cert, key } = await makeCertificates();
  const server = startServer({ cert, key });
  const result = await fetchJson(`${server.origin}/new`, {
    headers: { authorization: "Bearer t0ken" },
    insecure: true,
  });
  assert.equal(result.status, 200);
  assert.deepEqual(JSON.parse(result.text), {
    channel_id: "abc",
    authorization: "Bearer t0ken",
    accept: "application/json",
  });
  const refused = await fetchJson(`${server.origin}/other`, { insecure: true });
  assert.deepEqual(refused, { status: 401, text: '{"error":"nope"}' });
  await server.shutdown();
});

Deno.test("fetchJson without insecure rejects an unknown CA and trusts it given caCerts", async () => {
  const { ca, cert, key } = await makeCertificates();
  const server = startServer({ cert, key });
  await assert.rejects(fetchJson(`${server.origin}/new`), (err) => {
    assert.ok(err instanceof TypeError, String(err));
    assert.match(String(err.cause ?? err.message), /certificate|UnknownIssuer/i);
    return true;
  });
  await assert.rejects(fetchJson(`${server.origin}/new`, { insecure: false }), TypeError);
  const trusted = await fetchJson(`${server.origin}/new`, {
    caCerts: [ca],
    headers: { accept: "application/json; q=1" },
  });
  assert.equal(trusted.status, 200);
  assert.equal(JSON.parse(trusted.text).accept, "application/json; q=1");
  await server.shutdown();
});

Deno.test("fetchJson reads plain http:// the same, insecure or not", async () => {
  const server = startServer();
  for (const insecure of [false, true]) {
    const result = await fetchJson(`${server.origin}/new`, { insecure });
    assert.equal(result.status, 200);
    assert.equal(JSON.parse(result.text).channel_id, "abc");
  }
  await server.shutdown();
});

Deno.test("fetchJson rejects a body over 1 MiB with RangeError on both paths", async () => {
  const { cert, key } = await makeCertificates();
  const server = startServer({ cert, key });
  await assert.rejects(fetchJson(`${server.origin}/big`, { insecure: true }), RangeError);
  const plain = startServer();
  await assert.rejects(fetchJson(`${plain.origin}/big`), RangeError);
  await plain.shutdown();
  await server.shutdown();
});

Deno.test("fetchJson rejects with TimeoutError or the abort reason when stuck", async () => {
  const { ca, cert, key } = await makeCertificates();
  // Completes TLS, then never answers.
  const listener = Deno.listenTls({ hostname: "127.0.0.1", port: 0, cert, key });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of listener) held.push(conn);
  })();
  const url = `https://127.0.0.1:${listener.addr.port}/new`;
  const isTimeout = (err: unknown) => err instanceof DOMException && err.name === "TimeoutError";
  await assert.rejects(fetchJson(url, { insecure: true, timeout: 100 }), isTimeout);
  await assert.rejects(fetchJson(url, { caCerts: [ca], timeout: 100 }), isTimeout);
  const reason = new Error("user gave up");
  const controller = new AbortController();
  setTimeout(() => controller.abort(reason), 50);
  await assert.rejects(
    fetchJson(url, { insecure: true, signal: controller.signal }),
    (err) => err === reason,
  );
  await assert.rejects(
    fetchJson(url, { insecure: true, signal: AbortSignal.abort(reason) }),
    (err) => err === reason,
  );
  await assert.rejects(fetchJson("ftp://example.com/new"), TypeError);
  await assert.rejects(fetchJson(url, { timeout: -1 }), RangeError);
  listener.close();
  await accepting;
  for (const conn of held) conn.close();
});
