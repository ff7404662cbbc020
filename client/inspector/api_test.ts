import assert from "node:assert/strict";
import { Http1Client } from "../../http1/mod.ts";
import { createInspectorHandler, CSP, TOKEN_COOKIE } from "./api.ts";
import { fromBase64, Recorder, toBase64 } from "./recorder.ts";
import { replayDelivery } from "./replay.ts";
import { InspectorListenError, parseInspectAddr, startInspector } from "./server.ts";

const enc = new TextEncoder();
const HOST = "127.0.0.1:4040";

/** A local app that keeps what it received and answers `answer`. */
function startApp() {
  const seen: { method: string; path: string; headers: [string, string][]; body: Uint8Array }[] =
    [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const url = new URL(req.url);
    const body = new Uint8Array(await req.arrayBuffer());
    seen.push({
      method: req.method,
      path: url.pathname + url.search,
      headers: [...req.headers],
      body,
    });
    return new Response(`got ${body.length}`, { status: 202, headers: { "x-app": "yes" } });
  });
  return {
    url: new URL(`http://127.0.0.1:${server.addr.port}`),
    seen,
    close: () => server.shutdown(),
  };
}

function setup(options: { token?: string; history?: number; maxBytes?: number } = {}) {
  const app = startApp();
  const recorder = new Recorder({ history: options.history, maxBytes: options.maxBytes });
  const http = new Http1Client();
  const handler = createInspectorHandler({
    recorder,
    targetUrl: app.url,
    allowedHosts: new Set([HOST, "localhost:4040"]),
    token: options.token,
    replay: (original, edits) =>
      replayDelivery(original, edits, { recorder, http, target: app.url }),
  });
  const call = (path: string, init: RequestInit & { host?: string } = {}) => {
    const headers = new Headers(init.headers);
    headers.set("host", init.host ?? HOST);
    return handler(new Request(`http://${HOST}${path}`, { ...init, headers }));
  };
  return {
    app,
    recorder,
    handler,
    call,
    async [Symbol.asyncDispose]() {
      handler.closeStreams();
      await http.close();
      await app.close();
    },
  };
}

function record(recorder: Recorder, body: Uint8Array, headers: [string, string][] = []) {
  const rec = recorder.begin({ method: "POST", path: "/hooks/gh?x=1", headers });
  rec.requestChunk(body);
  rec.responseHead(200, [["content-type", "text/plain"]]);
  rec.responseChunk(enc.encode("thanks"));
  rec.finish("ok");
  return rec.id;
}

Deno.test("inspector API lists deliveries newest first with the summary fields", async () => {
  await using t = setup();
  const a = record(t.recorder, enc.encode("{}"), [["x-github-event", "push"]]);
  const b = record(t.recorder, new Uint8Array(5));
  const res = await t.call("/api/deliveries");
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-security-policy"), CSP);
  const { deliveries } = await res.json();
  assert.deepEqual(deliveries.map((d: { id: string }) => d.id), [b, a]);
  assert.deepEqual(Object.keys(deliveries[1]).sort(), [
    "duration_ms",
    "event",
    "id",
    "method",
    "outcome",
    "path",
    "provider",
    "queued",
    "received_at",
    "replay_of",
    "request_bytes",
    "response_bytes",
    "status",
    "verification",
  ]);
  assert.equal(deliveries[1].verification, null);
  assert.equal(deliveries[1].provider, "github");
  assert.equal(deliveries[1].event, "push");
  assert.equal(deliveries[1].status, 200);
  assert.equal(deliveries[1].request_bytes, 2);
  const limited = await (await t.call(`/api/deliveries?limit=1&before=${b}`)).json();
  assert.deepEqual(limited.deliveries.map((d: { id: string }) => d.id), [a]);
  assert.equal((await t.call("/api/deliveries?limit=0")).status, 400);
});

Deno.test("inspector API serves one record and its raw bodies byte-exact", async () => {
  await using t = setup();
  const body = new Uint8Array(70_000).map((_, i) => (i * 31) & 0xff);
  const id = record(t.recorder, body, [["content-type", "text/html"]]);
  const detail = await (await t.call(`/api/deliveries/${id}`)).json();
  assert.deepEqual(fromBase64(detail.request_body_b64), body);
  assert.equal(detail.response_body_b64, toBase64(enc.encode("thanks")));
  assert.deepEqual(detail.request_headers, [["content-type", "text/html"]]);
  const raw = await t.call(`/api/deliveries/${id}/request-body`);
  // Never the body's own type: an HTML body must not render on the inspector's origin.
  assert.equal(raw.headers.get("content-type"), "application/octet-stream");
  assert.equal(raw.headers.get("x-content-type-options"), "nosniff");
  assert.deepEqual(new Uint8Array(await raw.arrayBuffer()), body);
  const resp = await t.call(`/api/deliveries/${id}/response-body`);
  assert.equal(await resp.text(), "thanks");
  assert.equal((await t.call("/api/deliveries/zzz")).status, 404);
  assert.equal((await t.call(`/api/deliveries/${id}/replay`)).status, 405);
});

Deno.test("inspector replay re-sends method, path, headers and body bytes to the app", async () => {
  await using t = setup();
  const body = new Uint8Array(300_000).map((_, i) => (i * 13) & 0xff);
  const headers: [string, string][] = [
    ["host", t.app.url.host],
    ["content-type", "application/octet-stream"],
    ["x-sig", "a"],
    ["x-sig", "b"],
    ["content-length", String(body.length)],
  ];
  const id = record(t.recorder, body, headers);
  const res = await t.call(`/api/deliveries/${id}/replay`, { method: "POST" });
  assert.equal(res.status, 201);
  const replayed = await res.json();
  assert.equal(replayed.replay_of, id);
  assert.equal(replayed.status, 202);
  assert.equal(replayed.outcome, "ok");
  assert.equal(new TextDecoder().decode(fromBase64(replayed.response_body_b64)), "got 300000");
  assert.deepEqual(replayed.response_headers.find(([n]: string[]) => n === "x-app"), [
    "x-app",
    "yes",
  ]);
  const got = t.app.seen[0];
  assert.equal(got.method, "POST");
  assert.equal(got.path, "/hooks/gh?x=1");
  assert.deepEqual(got.body, body);
  assert.deepEqual(got.headers, [
    ["content-length", "300000"],
    ["content-type", "application/octet-stream"],
    ["host", t.app.url.host],
    ["x-sig", "a, b"],
  ]);
  // The replay is in the history, newest first.
  const list = await (await t.call("/api/deliveries")).json();
  assert.equal(list.deliveries[0].id, replayed.id);
});

Deno.test("inspector edited replay carries the edited headers and body", async () => {
  await using t = setup();
  const id = record(t.recorder, enc.encode('{"a":1}'), [["content-length", "7"], ["x-old", "1"]]);
  const res = await t.call(`/api/deliveries/${id}/replay`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      headers: [["x-new", "2"], ["content-length", "7"]],
      body_b64: toBase64(enc.encode('{"a":"edited"}')),
    }),
  });
  assert.equal(res.status, 201);
  const got = t.app.seen[0];
  assert.equal(new TextDecoder().decode(got.body), '{"a":"edited"}');
  assert.equal(got.headers.find(([n]) => n === "x-new")?.[1], "2");
  assert.equal(got.headers.find(([n]) => n === "x-old"), undefined);
  assert.equal(got.headers.find(([n]) => n === "content-length")?.[1], "14");
});

Deno.test("inspector replay to another target_url, and bad replay requests", async () => {
  await using t = setup();
  const other = startApp();
  try {
    const id = record(t.recorder, enc.encode("x"));
    const res = await t.call(`/api/deliveries/${id}/replay`, {
      method: "POST",
      body: JSON.stringify({ target_url: `${other.url.origin}/elsewhere?q=2` }),
    });
    assert.equal(res.status, 201);
    assert.equal(t.app.seen.length, 0);
    assert.equal(other.seen[0].path, "/elsewhere?q=2");
    assert.equal(other.seen[0].headers.find(([n]) => n === "host")?.[1], other.url.host);
    for (
      const bad of ['{"headers":[["a"]]}', '{"body_b64":"*"}', '{"target_url":"ftp://x"}', "[1"]
    ) {
      const r = await t.call(`/api/deliveries/${id}/replay`, { method: "POST", body: bad });
      assert.equal(r.status, 400, bad);
      await r.body?.cancel();
    }
  } finally {
    await other.close();
  }
});

Deno.test("inspector replay of an unreachable app records target_unreachable", async () => {
  await using t = setup();
  const id = record(t.recorder, enc.encode("x"));
  const res = await t.call(`/api/deliveries/${id}/replay`, {
    method: "POST",
    body: JSON.stringify({ target_url: "http://127.0.0.1:1" }),
  });
  assert.equal(res.status, 201);
  const replayed = await res.json();
  assert.equal(replayed.outcome, "target_unreachable");
  assert.equal(replayed.status, null);
});

Deno.test("inspector refuses to replay a truncated body (409) unless a body is given", async () => {
  await using t = setup({ maxBytes: 10 });
  const id = record(t.recorder, new Uint8Array(50));
  const res = await t.call(`/api/deliveries/${id}/replay`, { method: "POST" });
  assert.equal(res.status, 409);
  await res.body?.cancel();
  const edited = await t.call(`/api/deliveries/${id}/replay`, {
    method: "POST",
    body: JSON.stringify({ body_b64: toBase64(enc.encode("new")) }),
  });
  assert.equal(edited.status, 201);
  await edited.body?.cancel();
  assert.equal(new TextDecoder().decode(t.app.seen[0].body), "new");
});

Deno.test("inspector refuses cross-site replays and clears (CSRF) and foreign Host (DNS rebinding)", async () => {
  await using t = setup();
  const id = record(t.recorder, enc.encode("x"));
  const evilOrigin = await t.call(`/api/deliveries/${id}/replay`, {
    method: "POST",
    headers: { origin: "https://evil.example" },
  });
  assert.equal(evilOrigin.status, 403);
  await evilOrigin.body?.cancel();
  const evilHost = await t.call(`/api/deliveries/${id}/replay`, {
    method: "POST",
    host: "evil.example:4040",
  });
  assert.equal(evilHost.status, 403);
  await evilHost.body?.cancel();
  const crossSite = await t.call("/api/deliveries", {
    method: "DELETE",
    headers: { "sec-fetch-site": "cross-site" },
  });
  assert.equal(crossSite.status, 403);
  await crossSite.body?.cancel();
  const rebindRead = await t.call(`/api/deliveries/${id}`, { host: "evil.example:4040" });
  assert.equal(rebindRead.status, 403);
  await rebindRead.body?.cancel();
  assert.equal(t.app.seen.length, 0);
  assert.equal(t.recorder.size, 1);
  // Our own page (same origin) may.
  const own = await t.call("/api/deliveries", {
    method: "DELETE",
    headers: { origin: `http://${HOST}`, "sec-fetch-site": "same-origin" },
  });
  assert.equal(own.status, 204);
  assert.equal(t.recorder.size, 0);
});

Deno.test("inspector token: Bearer, or ?token= once then the cookie", async () => {
  await using t = setup({ token: "s3cret" });
  assert.equal((await t.call("/api/deliveries")).status, 401);
  assert.equal(
    (await t.call("/api/deliveries", { headers: { authorization: "Bearer wrong" } })).status,
    401,
  );
  const bearer = await t.call("/api/deliveries", { headers: { authorization: "Bearer s3cret" } });
  assert.equal(bearer.status, 200);
  await bearer.body?.cancel();
  const login = await t.call("/?token=s3cret");
  assert.equal(login.status, 303);
  assert.equal(login.headers.get("location"), "/");
  const cookie = login.headers.get("set-cookie")!;
  assert.match(cookie, /HttpOnly/);
  assert.match(cookie, /SameSite=Strict/);
  const page = await t.call("/", { headers: { cookie: `${TOKEN_COOKIE}=s3cret` } });
  assert.equal(page.status, 200);
  assert.match(await page.text(), /<title>/);
  assert.equal((await t.call("/?token=nope")).status, 401);
});

Deno.test("inspector page and assets carry a strict CSP and no inline script", async () => {
  await using t = setup();
  const page = await t.call("/");
  const html = await page.text();
  assert.equal(page.headers.get("content-security-policy"), CSP);
  assert.match(CSP, /script-src 'self'/);
  assert.doesNotMatch(CSP, /unsafe/);
  assert.doesNotMatch(html, /<script>(?!<)/);
  assert.doesNotMatch(html, /style=/);
  const js = await t.call("/app.js");
  assert.match(js.headers.get("content-type")!, /javascript/);
  const source = await js.text();
  assert.doesNotMatch(source, /innerHTML|outerHTML|insertAdjacentHTML|document\.write/);
  assert.equal((await t.call("/app.css")).status, 200);
});

Deno.test("inspector events stream one delivery event per new or updated record", async () => {
  await using t = setup();
  const res = await t.call("/api/events");
  assert.equal(res.headers.get("content-type"), "text/event-stream; charset=utf-8");
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  const id = record(t.recorder, enc.encode("x"));
  t.recorder.clear();
  let text = "";
  while ((text.match(/\n\n/g) ?? []).length < 4) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
  }
  const events = text.split("\n\n").filter((block) => block.includes("event:"));
  assert.equal(events.length, 3);
  assert.match(events[0], new RegExp(`event: delivery\ndata: .*"id":"${id}".*"outcome":"pending"`));
  assert.match(events[1], /"outcome":"ok"/);
  assert.match(events[2], /event: clear/);
  t.handler.closeStreams();
  assert.equal((await reader.read()).done, true);
});

Deno.test("startInspector tries the next port when busy, and refuses non-loopback without a token", async () => {
  const recorder = new Recorder();
  const targetUrl = new URL("http://127.0.0.1:1");
  const replay = () => Promise.reject(new Error("unused"));
  const busy = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (busy.addr as Deno.NetAddr).port;
  try {
    assert.throws(
      () => startInspector({ addr: { hostname: "127.0.0.1", port }, recorder, targetUrl, replay }),
      InspectorListenError,
    );
    const inspector = startInspector({
      addr: { hostname: "127.0.0.1", port },
      portTries: 5,
      recorder,
      targetUrl,
      replay,
    });
    try {
      assert.notEqual(inspector.addr.port, port);
      const res = await fetch(`${inspector.url}/api/deliveries`);
      assert.deepEqual(await res.json(), { deliveries: [] });
      const events = await fetch(`${inspector.url}/api/events`);
      assert.equal(events.status, 200);
      // Shutdown ends the open event stream instead of waiting for it.
      const draining = events.body!.pipeTo(new WritableStream());
      await inspector.shutdown();
      await draining.catch(() => {});
    } catch (error) {
      await inspector.shutdown();
      throw error;
    }
  } finally {
    busy.close();
  }
  assert.throws(
    () => startInspector({ addr: { hostname: "0.0.0.0", port: 0 }, recorder, targetUrl, replay }),
    /--inspect-token/,
  );
});

Deno.test("parseInspectAddr accepts host:port, [v6]:port, :port and a port", () => {
  assert.deepEqual(parseInspectAddr("127.0.0.1:4040"), { hostname: "127.0.0.1", port: 4040 });
  assert.deepEqual(parseInspectAddr("[::1]:5000"), { hostname: "::1", port: 5000 });
  assert.deepEqual(parseInspectAddr(":4041"), { hostname: "127.0.0.1", port: 4041 });
  assert.deepEqual(parseInspectAddr("4042"), { hostname: "127.0.0.1", port: 4042 });
  assert.deepEqual(parseInspectAddr("localhost:0"), { hostname: "localhost", port: 0 });
  for (const bad of ["", "host", "h:70000", "a:b:1", "1.2.3.4:x"]) {
    assert.throws(() => parseInspectAddr(bad), TypeError, bad);
  }
});
