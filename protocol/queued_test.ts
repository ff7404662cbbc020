import assert from "node:assert/strict";
import {
  decodeAck,
  decodeNack,
  decodeNotice,
  encodeAck,
  encodeNack,
  encodeNotice,
} from "./queued.ts";
import { decodeRequestHead, encodeRequestHead } from "./head.ts";
import { ProtocolError } from "./errors.ts";
import { encodeFrames, type Frame, FrameType } from "./frame.ts";
import { TunnelSession } from "./session.ts";

const bytes = (text: string) => new TextEncoder().encode(text);

Deno.test("encodeAck, encodeNack and encodeNotice round-trip", () => {
  assert.deepEqual(decodeAck(encodeAck({ id: "d-1", status: 404 })), { id: "d-1", status: 404 });
  assert.deepEqual(decodeNack(encodeNack({ id: "d-1", reason: "timeout" })), {
    id: "d-1",
    reason: "timeout",
  });
  assert.deepEqual(decodeNotice(encodeNotice({ dropped: 3, queued: 7 })), {
    dropped: 3,
    queued: 7,
  });
});

Deno.test("decodeAck, decodeNack and decodeNotice reject malformed payloads", () => {
  for (const text of ['["d",700]', '["",200]', '["a b",200]', "[1,200]", '{"id":"d"}', "x"]) {
    assert.throws(() => decodeAck(bytes(text)), ProtocolError, text);
  }
  for (const text of ['["d","later"]', '["d"]', "null"]) {
    assert.throws(() => decodeNack(bytes(text)), ProtocolError, text);
  }
  for (const text of ['{"dropped":-1,"queued":0}', '{"dropped":1}', "[1,2]", "null"]) {
    assert.throws(() => decodeNotice(bytes(text)), ProtocolError, text);
  }
});

Deno.test("encodeRequestHead carries a queued delivery's id and attempt; plain heads keep 3 items", () => {
  const head = { method: "POST", target: "/gh", headers: [["a", "b"]] as [string, string][] };
  assert.equal(JSON.parse(new TextDecoder().decode(encodeRequestHead(head))).length, 3);
  const queued = { ...head, delivery: { id: "abc", attempt: 2 } };
  assert.deepEqual(decodeRequestHead(encodeRequestHead(queued)), queued);
  assert.throws(() => decodeRequestHead(bytes('["POST","/",[],"a b",1]')), /delivery id/);
  assert.throws(() => decodeRequestHead(bytes('["POST","/",[],"ab",0]')), /attempt/);
  assert.throws(() => decodeRequestHead(bytes('["POST","/",[],"ab"]')), ProtocolError);
});

Deno.test("encodeRequestHead marks a chained delivery with a 6th item; unchained ones keep 5", () => {
  const head = { method: "POST", target: "/gh", headers: [] as [string, string][] };
  const chained = { ...head, delivery: { id: "abc", attempt: 1, chained: true } };
  const encoded = JSON.parse(new TextDecoder().decode(encodeRequestHead(chained)));
  assert.deepEqual(encoded.slice(3), ["abc", 1, 1]);
  assert.deepEqual(decodeRequestHead(encodeRequestHead(chained)), chained);
  const plain = { ...head, delivery: { id: "abc", attempt: 1, chained: false } };
  assert.equal(JSON.parse(new TextDecoder().decode(encodeRequestHead(plain))).length, 5);
  assert.throws(() => decodeRequestHead(bytes('["POST","/",[],"ab",1,true]')), /chained/);
  assert.throws(() => decodeRequestHead(bytes('["POST","/",[],"ab",1,1,1]')), ProtocolError);
  assert.deepEqual(decodeNack(encodeNack({ id: "d", reason: "skipped" })), {
    id: "d",
    reason: "skipped",
  });
});

function message(...frames: Frame[]): Uint8Array {
  return encodeFrames(frames);
}

Deno.test("TunnelSession hands ACK, NACK and NOTICE to onControl, even after the stream ended", () => {
  const seen: Frame[] = [];
  const session = new TunnelSession({ send() {}, bufferedAmount: 0 }, {
    role: "server",
    onControl: (frame) => seen.push(frame),
  });
  session.receive(message(
    { type: FrameType.Ack, streamId: 5, payload: encodeAck({ id: "d", status: 200 }) },
    { type: FrameType.Notice, streamId: 0, payload: encodeNotice({ dropped: 0, queued: 0 }) },
  ));
  assert.deepEqual(seen.map((f) => [f.type, f.streamId]), [[FrameType.Ack, 5], [
    FrameType.Notice,
    0,
  ]]);
});

Deno.test("TunnelSession refuses queue frames when queueing was not negotiated", () => {
  const session = new TunnelSession({ send() {}, bufferedAmount: 0 }, { role: "client" });
  assert.throws(
    () =>
      session.receive(
        message({
          type: FrameType.Notice,
          streamId: 0,
          payload: encodeNotice({ dropped: 1, queued: 0 }),
        }),
      ),
    /queueing was not negotiated/,
  );
});
