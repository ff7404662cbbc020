import assert from "node:assert/strict";
import { fromBase64, Recorder, toBase64 } from "./recorder.ts";

const enc = new TextEncoder();

function deliver(recorder: Recorder, path: string, body: Uint8Array, answer = new Uint8Array()) {
  const rec = recorder.begin({ method: "POST", path, headers: [["content-type", "text/plain"]] });
  rec.requestChunk(body);
  rec.responseHead(200, [["x-a", "1"], ["x-a", "2"]]);
  rec.responseChunk(answer);
  rec.finish("ok");
  return rec;
}

Deno.test("Recorder keeps bodies byte-exact across chunks and copies them", () => {
  const recorder = new Recorder();
  const rec = recorder.begin({ method: "PUT", path: "/a?b=1", headers: [["x", "1"], ["x", "2"]] });
  const chunk = new Uint8Array([0, 1, 2, 255]);
  rec.requestChunk(chunk);
  chunk[0] = 9; // the caller may reuse its buffer
  rec.requestChunk(new Uint8Array([3]));
  rec.responseHead(201, [["set-cookie", "a=1"], ["set-cookie", "b=2"]]);
  rec.responseChunk(enc.encode("done"));
  rec.finish("ok");
  const detail = recorder.get(rec.id)!.detail();
  assert.deepEqual([...fromBase64(detail.request_body_b64)], [0, 1, 2, 255, 3]);
  assert.equal(new TextDecoder().decode(fromBase64(detail.response_body_b64)), "done");
  assert.deepEqual(detail.request_headers, [["x", "1"], ["x", "2"]]);
  assert.deepEqual(detail.response_headers, [["set-cookie", "a=1"], ["set-cookie", "b=2"]]);
  assert.equal(detail.status, 201);
  assert.equal(detail.outcome, "ok");
  assert.equal(detail.request_bytes, 5);
  assert.equal(detail.response_bytes, 4);
  assert.equal(detail.path, "/a?b=1");
  assert.ok(detail.duration_ms! >= detail.ttfb_ms!);
});

Deno.test("Recorder ids sort by arrival and never repeat within one millisecond", () => {
  const recorder = new Recorder({ now: () => 1_700_000_000_000, history: 1000 });
  const ids = Array.from({ length: 200 }, () => deliver(recorder, "/", new Uint8Array()).id);
  assert.equal(new Set(ids).size, 200);
  assert.deepEqual([...ids].sort(), ids);
  assert.deepEqual(recorder.list().map((d) => d.id), [...ids].reverse());
  assert.deepEqual(recorder.list({ limit: 2, before: ids[10] }).map((d) => d.id), [
    ids[9],
    ids[8],
  ]);
});

Deno.test("Recorder evicts the oldest beyond its history count", () => {
  const recorder = new Recorder({ history: 3 });
  const ids = ["/1", "/2", "/3", "/4", "/5"].map((p) => deliver(recorder, p, enc.encode(p)).id);
  assert.equal(recorder.size, 3);
  assert.deepEqual(recorder.list().map((d) => d.request.path), ["/5", "/4", "/3"]);
  assert.equal(recorder.get(ids[0]), undefined);
  assert.equal(recorder.bytes, 6);
});

Deno.test("Recorder evicts the oldest when bodies exceed its byte bound", () => {
  const recorder = new Recorder({ maxBytes: 100 });
  deliver(recorder, "/a", new Uint8Array(40));
  deliver(recorder, "/b", new Uint8Array(40));
  deliver(recorder, "/c", new Uint8Array(40));
  assert.deepEqual(recorder.list().map((d) => d.request.path), ["/c", "/b"]);
  assert.equal(recorder.bytes, 80);
  assert.ok(recorder.bytes <= recorder.maxBytes);
});

Deno.test("Recorder truncates a body over its byte bound and marks it, counting the whole", () => {
  const recorder = new Recorder({ maxBytes: 1000 });
  deliver(recorder, "/old", new Uint8Array(10));
  const rec = recorder.begin({ method: "POST", path: "/big", headers: [] });
  for (let i = 0; i < 10; i++) rec.requestChunk(new Uint8Array(300).fill(i));
  rec.responseHead(200, []);
  rec.responseChunk(enc.encode("ok"));
  rec.finish("ok");
  const detail = recorder.get(rec.id)!.detail();
  assert.equal(detail.request_truncated, true);
  assert.equal(detail.response_truncated, true);
  assert.equal(detail.request_bytes, 3000);
  assert.equal(detail.response_bytes, 2);
  const kept = fromBase64(detail.request_body_b64);
  assert.equal(kept.length, 1000);
  assert.equal(kept[0], 0);
  assert.equal(kept[999], 3);
  assert.equal(recorder.bytes, 1000);
  assert.equal(recorder.get("/old"), undefined);
  assert.deepEqual(recorder.list().map((d) => d.request.path), ["/big"]);
});

Deno.test("Recorder stops storing for a cleared in-flight delivery", () => {
  const recorder = new Recorder();
  const rec = recorder.begin({ method: "POST", path: "/", headers: [] });
  rec.requestChunk(new Uint8Array(10));
  recorder.clear();
  rec.requestChunk(new Uint8Array(10));
  rec.finish("ok");
  assert.equal(recorder.size, 0);
  assert.equal(recorder.bytes, 0);
  assert.equal(rec.delivery.summary().request_bytes, 20);
});

Deno.test("Recorder notifies listeners of new, finished and cleared records", () => {
  const recorder = new Recorder();
  const seen: string[] = [];
  const off = recorder.subscribe((d) => seen.push(d ? d.outcome : "clear"));
  const rec = recorder.begin({ method: "GET", path: "/", headers: [] });
  rec.finish("target_unreachable", "refused");
  rec.finish("ok"); // ignored once finished
  recorder.clear();
  off();
  deliver(recorder, "/", new Uint8Array());
  assert.deepEqual(seen, ["pending", "target_unreachable", "clear"]);
});

Deno.test("Recorder recognises provider and event from headers and body", () => {
  const recorder = new Recorder();
  const github = recorder.begin({
    method: "POST",
    path: "/",
    headers: [["X-GitHub-Event", "push"]],
  });
  github.finish("ok");
  const stripe = recorder.begin({
    method: "POST",
    path: "/",
    headers: [["stripe-signature", "t=1,v1=x"], ["content-type", "application/json"]],
  });
  stripe.requestChunk(enc.encode('{"type":"checkout.session.completed"}'));
  stripe.finish("ok");
  const other = recorder.begin({ method: "POST", path: "/", headers: [] });
  other.finish("ok");
  assert.deepEqual(
    [github, stripe, other].map(({ id }) => {
      const { provider, event } = recorder.get(id)!.summary();
      return [provider, event];
    }),
    [["github", "push"], ["stripe", "checkout.session.completed"], ["", ""]],
  );
});

Deno.test("Recorder rejects bounds that cannot work", () => {
  assert.throws(() => new Recorder({ history: 0 }), RangeError);
  assert.throws(() => new Recorder({ maxBytes: -1 }), RangeError);
});

Deno.test("toBase64 and fromBase64 round-trip every byte value and large bodies", () => {
  const bytes = new Uint8Array(200_000).map((_, i) => (i * 7) & 0xff);
  assert.deepEqual(fromBase64(toBase64(bytes)), bytes);
  assert.throws(() => fromBase64("*"), SyntaxError);
});

Deno.test("Recorder keeps an owned whole chunk without copying, copies views of larger buffers", () => {
  const recorder = new Recorder();
  const rec = recorder.begin({ method: "POST", path: "/", headers: [] });
  const view = new Uint8Array(100).subarray(10, 20).fill(7);
  rec.requestChunk(view, true); // a view: copied even when offered
  view.fill(0);
  const owned = new Uint8Array([1, 2, 3]);
  rec.responseChunk(owned, true);
  rec.finish("ok");
  const delivery = recorder.get(rec.id)!;
  assert.deepEqual([...delivery.requestBytes()], new Array(10).fill(7));
  assert.equal(delivery.responseBytes(), owned);
});

Deno.test("Recorder keeps the signature verdict (null without one) in summary and detail", () => {
  const recorder = new Recorder();
  const plain = deliver(recorder, "/plain", enc.encode("{}"));
  assert.equal(plain.delivery.summary().verification, null);
  const rec = recorder.begin({ method: "POST", path: "/gh", headers: [] });
  const verdict = {
    result: "invalid",
    provider: "github",
    code: "bad_signature",
    reason: "bad signature: no configured secret matches",
  } as const;
  rec.verified(verdict);
  rec.finish("ok");
  rec.verified({ result: "valid", provider: "github", code: "ok", reason: "secret #1" });
  assert.deepEqual(recorder.get(rec.id)!.summary().verification, verdict);
  assert.deepEqual(recorder.get(rec.id)!.detail().verification, verdict);
});
