import assert from "node:assert/strict";
import { decodeFrames, encodeFrames, type Frame, FRAME_HEADER_SIZE, FrameType } from "./frame.ts";
import { ProtocolError } from "./errors.ts";
import { MAX_CHUNK_SIZE, MAX_HEAD_SIZE, MAX_MESSAGE_SIZE } from "./limits.ts";

const ALL_TYPES = [
  FrameType.Head,
  FrameType.Data,
  FrameType.End,
  FrameType.Reset,
  FrameType.Window,
  FrameType.Ack,
  FrameType.Nack,
  FrameType.Notice,
] as const;

/** Builds a raw frame header by hand, bypassing the encoder's trust in its input. */
function rawHeader(type: number, flags: number, streamId: number, length: number): Uint8Array {
  const out = new Uint8Array(FRAME_HEADER_SIZE);
  const view = new DataView(out.buffer);
  out[0] = type;
  out[1] = flags;
  view.setUint32(2, streamId);
  view.setUint32(6, length);
  return out;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

function samplePayload(type: FrameType): Uint8Array {
  switch (type) {
    case FrameType.Head:
      return new TextEncoder().encode('["POST","/x",[]]');
    case FrameType.Data:
      return Uint8Array.from({ length: 1000 }, (_, i) => i % 251);
    case FrameType.End:
      return new Uint8Array(0);
    case FrameType.Reset:
      return new TextEncoder().encode('["cancelled","bye"]');
    case FrameType.Window:
      return Uint8Array.of(0, 1, 0, 0);
    case FrameType.Ack:
      return new TextEncoder().encode('["d1",200]');
    case FrameType.Nack:
      return new TextEncoder().encode('["d1","unreachable"]');
    case FrameType.Notice:
      return new TextEncoder().encode('{"dropped":0,"queued":1}');
  }
}

function plain(frames: Frame[]): { type: number; streamId: number; payload: number[] }[] {
  return frames.map((f) => ({ type: f.type, streamId: f.streamId, payload: [...f.payload] }));
}

Deno.test("encodeFrames and decodeFrames round-trip every frame type", () => {
  for (const type of ALL_TYPES) {
    const frame: Frame = { type, streamId: 7, payload: samplePayload(type) };
    const message = encodeFrames([frame]);
    assert.equal(message.length, FRAME_HEADER_SIZE + frame.payload.length);
    assert.deepEqual(plain(decodeFrames(message)), plain([frame]), `type ${type}`);
  }
});

Deno.test("encodeFrames writes the documented header layout", () => {
  const message = encodeFrames([{
    type: FrameType.Data,
    streamId: 0x01020304,
    payload: Uint8Array.of(9, 8),
  }]);
  assert.deepEqual([...message], [2, 0, 1, 2, 3, 4, 0, 0, 0, 2, 9, 8]);
});

Deno.test("decodeFrames reads several frames from one message in order", () => {
  const frames: Frame[] = ALL_TYPES.map((type, i) => ({
    type,
    streamId: 2 ** 32 - 1 - i,
    payload: samplePayload(type),
  }));
  const decoded = decodeFrames(encodeFrames(frames));
  assert.deepEqual(plain(decoded), plain(frames));
});

Deno.test("decodeFrames accepts payloads of exactly the per-type maximum", () => {
  const frames: Frame[] = [
    { type: FrameType.Head, streamId: 1, payload: new Uint8Array(MAX_HEAD_SIZE) },
    { type: FrameType.Data, streamId: 1, payload: new Uint8Array(MAX_CHUNK_SIZE - 100) },
  ];
  const decoded = decodeFrames(encodeFrames(frames));
  assert.equal(decoded[0].payload.length, MAX_HEAD_SIZE);
  assert.equal(decoded[1].payload.length, MAX_CHUNK_SIZE - 100);
  const data = decodeFrames(encodeFrames([{
    type: FrameType.Data,
    streamId: 3,
    payload: new Uint8Array(MAX_CHUNK_SIZE),
  }]));
  assert.equal(data[0].payload.length, MAX_CHUNK_SIZE);
});

Deno.test("decodeFrames works on a view into a larger buffer", () => {
  const message = encodeFrames([{ type: FrameType.Data, streamId: 5, payload: Uint8Array.of(1) }]);
  const big = new Uint8Array(message.length + 20);
  big.set(message, 7);
  const frames = decodeFrames(big.subarray(7, 7 + message.length));
  assert.deepEqual(plain(frames), [{ type: FrameType.Data, streamId: 5, payload: [1] }]);
});

function assertProtocolError(message: Uint8Array, pattern: RegExp): void {
  assert.throws(() => decodeFrames(message), (error: unknown) => {
    assert.ok(error instanceof ProtocolError, `expected ProtocolError, got ${error}`);
    assert.equal(error.name, "ProtocolError");
    assert.match(error.message, pattern);
    return true;
  });
}

Deno.test("decodeFrames rejects an empty message", () => {
  assertProtocolError(new Uint8Array(0), /empty message/);
});

Deno.test("decodeFrames rejects a truncated header", () => {
  for (let length = 1; length < FRAME_HEADER_SIZE; length++) {
    assertProtocolError(rawHeader(FrameType.End, 0, 1, 0).subarray(0, length), /header needs 10/);
  }
  const valid = encodeFrames([{ type: FrameType.End, streamId: 1, payload: new Uint8Array() }]);
  assertProtocolError(concat(valid, Uint8Array.of(3, 0, 0)), /offset 10: 3 bytes left/);
});

Deno.test("decodeFrames rejects a truncated payload", () => {
  const message = concat(rawHeader(FrameType.Data, 0, 1, 10), new Uint8Array(9));
  assertProtocolError(message, /length 10 exceeds the 9 bytes left/);
});

Deno.test("decodeFrames rejects an unknown frame type", () => {
  for (const type of [0, 9, 10, 0x80, 255]) {
    assertProtocolError(rawHeader(type, 0, 1, 0), new RegExp(`unknown type ${type}`));
  }
});

Deno.test("decodeFrames rejects non-zero flags", () => {
  for (const flags of [1, 0x80, 255]) {
    assertProtocolError(rawHeader(FrameType.End, flags, 1, 0), /flags must be 0/);
  }
});

Deno.test("decodeFrames rejects stream id 0", () => {
  assertProtocolError(rawHeader(FrameType.End, 0, 0, 0), /stream id 0/);
  assertProtocolError(rawHeader(FrameType.Ack, 0, 0, 0), /stream id 0/);
});

Deno.test("decodeFrames accepts stream id 0 for NOTICE only", () => {
  const [frame] = decodeFrames(rawHeader(FrameType.Notice, 0, 0, 0));
  assert.equal(frame.type, FrameType.Notice);
  assert.equal(frame.streamId, 0);
});

Deno.test("decodeFrames rejects a payload over the limit of its type", () => {
  const limits: [FrameType, number][] = [
    [FrameType.Head, MAX_HEAD_SIZE],
    [FrameType.Data, MAX_CHUNK_SIZE],
    [FrameType.End, 0],
    [FrameType.Reset, 4096],
    [FrameType.Window, 4],
    [FrameType.Ack, 4096],
    [FrameType.Nack, 4096],
    [FrameType.Notice, 4096],
  ];
  for (const [type, max] of limits) {
    // The length field alone is checked before the payload is looked at.
    assertProtocolError(
      rawHeader(type, 0, 1, max + 1),
      new RegExp(`payload of ${max + 1} bytes exceeds ${max} for type ${type}`),
    );
  }
  assertProtocolError(rawHeader(FrameType.Data, 0, 1, 0xffffffff), /exceeds 65536/);
});

Deno.test("decodeFrames rejects a message over MAX_MESSAGE_SIZE", () => {
  assertProtocolError(new Uint8Array(MAX_MESSAGE_SIZE + 1), /exceeds 196608/);
});

Deno.test("decodeFrames rejects a bad frame after a good one", () => {
  const good = encodeFrames([{ type: FrameType.End, streamId: 1, payload: new Uint8Array() }]);
  assertProtocolError(concat(good, rawHeader(9, 0, 1, 0)), /offset 10: unknown type 9/);
});
