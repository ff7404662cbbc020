import assert from "node:assert/strict";
import { decodeFrames, encodeFrames, type Frame, FrameType } from "./frame.ts";
import { ProtocolError, type ResetCode, StreamResetError } from "./errors.ts";
import {
  decodeRequestHead,
  decodeReset,
  decodeResponseHead,
  encodeRequestHead,
  encodeReset,
  encodeResponseHead,
} from "./head.ts";
import {
  MAX_CHUNK_SIZE,
  MAX_HEAD_SIZE,
  MAX_MESSAGE_SIZE,
  SOCKET_HIGH_WATER,
  STREAM_WINDOW,
  WINDOW_UPDATE_THRESHOLD,
} from "./limits.ts";
import { type FrameTransport, TunnelSession, type TunnelStream } from "./session.ts";

// ---------------------------------------------------------------------------------------------
// In-memory transport pair: each message reaches `peer.receive` in a microtask; every frame is
// recorded, and so is the credit each stream has in flight (DATA delivered minus WINDOW granted).

/** A transport that hands each message to `peer.receive` in a microtask. */
class MemoryTransport implements FrameTransport {
  /** Settable by tests to simulate a full socket. */
  bufferedAmount = 0;
  /** The session on the other end. */
  peer: TunnelSession | undefined;
  /** The transport of the other end, credited by the WINDOW frames this one sends. */
  reverse: MemoryTransport | undefined;
  /** Every message sent, in order. */
  readonly messages: Uint8Array[] = [];
  /** Every frame sent, in order. */
  readonly frames: Frame[] = [];
  /** Errors thrown by `peer.receive`. */
  readonly errors: unknown[] = [];
  /** DATA bytes delivered minus WINDOW credit the peer granted, per stream. */
  readonly inFlight = new Map<number, number>();
  /** The largest value {@linkcode inFlight} ever reached, per stream. */
  readonly maxInFlight = new Map<number, number>();

  send(message: Uint8Array): void {
    this.messages.push(message);
    const frames = decodeFrames(message);
    this.frames.push(...frames);
    for (const frame of frames) {
      if (frame.type === FrameType.Window && this.reverse) {
        const grant = new DataView(frame.payload.buffer, frame.payload.byteOffset).getUint32(0);
        const map = this.reverse.inFlight;
        map.set(frame.streamId, (map.get(frame.streamId) ?? 0) - grant);
      }
    }
    queueMicrotask(() => {
      for (const frame of frames) {
        if (frame.type !== FrameType.Data) continue;
        const value = (this.inFlight.get(frame.streamId) ?? 0) + frame.payload.length;
        this.inFlight.set(frame.streamId, value);
        this.maxInFlight.set(
          frame.streamId,
          Math.max(value, this.maxInFlight.get(frame.streamId) ?? 0),
        );
      }
      try {
        this.peer?.receive(message);
      } catch (error) {
        this.errors.push(error);
      }
    });
  }

  /** Payload bytes of the DATA frames sent on a stream. */
  dataBytes(streamId: number): number {
    return this.frames
      .filter((f) => f.type === FrameType.Data && f.streamId === streamId)
      .reduce((n, f) => n + f.payload.length, 0);
  }

  /** The frames of one type sent on a stream. */
  framesOf(type: FrameType, streamId: number): Frame[] {
    return this.frames.filter((f) => f.type === type && f.streamId === streamId);
  }
}

/** A connected server/client session pair. */
interface SessionPair {
  server: TunnelSession;
  client: TunnelSession;
  /** What the server sends. */
  serverTransport: MemoryTransport;
  /** What the client sends. */
  clientTransport: MemoryTransport;
  /** Replace to handle streams the client accepts. */
  onStream: (stream: TunnelStream) => void;
}

/** Connects a server-role and a client-role session through two {@linkcode MemoryTransport}s. */
function connectSessions(): SessionPair {
  const serverTransport = new MemoryTransport();
  const clientTransport = new MemoryTransport();
  const pair: SessionPair = {
    server: new TunnelSession(serverTransport, { role: "server" }),
    client: new TunnelSession(clientTransport, {
      role: "client",
      onStream: (stream) => pair.onStream(stream),
    }),
    serverTransport,
    clientTransport,
    onStream: () => {},
  };
  serverTransport.peer = pair.client;
  clientTransport.peer = pair.server;
  serverTransport.reverse = clientTransport;
  clientTransport.reverse = serverTransport;
  return pair;
}

/** Resolves after pending immediates, microtasks and short timers have run. */
async function settle(rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((resolve) => setTimeout(resolve, 0));
}

/** Yields `data` in pieces of `size` bytes. */
async function* chunked(data: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let offset = 0; offset < data.length; offset += size) {
    await Promise.resolve();
    yield data.slice(offset, offset + size);
  }
}

/** Reads a stream to the end, optionally pausing `delayMs` before each read. */
async function readAll(
  body: ReadableStream<Uint8Array>,
  delayMs?: number,
): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  const reader = body.getReader();
  try {
    while (true) {
      if (delayMs !== undefined) await new Promise((resolve) => setTimeout(resolve, delayMs));
      const { done, value } = await reader.read();
      if (done) break;
      parts.push(value);
    }
  } finally {
    reader.releaseLock();
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** Deterministic pseudo-random bytes. */
function pseudoRandomBytes(length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

const enc = new TextEncoder();
const dec = new TextDecoder();
const KiB = 1024;
const MiB = 1024 * KiB;

function frame(type: FrameType, streamId: number, payload: Uint8Array = new Uint8Array()): Frame {
  return { type, streamId, payload };
}

function message(...frames: Frame[]): Uint8Array {
  return encodeFrames(frames);
}

function windowPayload(grant: number): Uint8Array {
  const payload = new Uint8Array(4);
  new DataView(payload.buffer).setUint32(0, grant);
  return payload;
}

const REQUEST = encodeRequestHead({ method: "POST", target: "/hook", headers: [["x-a", "1"]] });
const RESPONSE = encodeResponseHead({ status: 200, headers: [["x-b", "2"]] });

/** Runs `handler` for each stream the client accepts; `done()` awaits them all. */
function serve(pair: SessionPair, handler: (stream: TunnelStream) => Promise<void>) {
  const tasks: Promise<void>[] = [];
  pair.onStream = (stream) => tasks.push(handler(stream));
  return { done: () => Promise.all(tasks), streams: () => tasks.length };
}

async function assertResetError(promise: Promise<unknown>, code: ResetCode): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof StreamResetError, `expected StreamResetError, got ${error}`);
    assert.equal(error.code, code);
    return true;
  });
}

function assertThrowsProtocolError(fn: () => unknown, pattern?: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof ProtocolError, `expected ProtocolError, got ${error}`);
    if (pattern) assert.match(error.message, pattern);
    return true;
  });
}

function assertNoTransportErrors(pair: SessionPair): void {
  assert.deepEqual(pair.serverTransport.errors, []);
  assert.deepEqual(pair.clientTransport.errors, []);
}

/** A client-role session fed raw messages, plus what it sends. */
function lonelyClient(onStream?: (stream: TunnelStream) => void) {
  const transport = new MemoryTransport();
  const session = new TunnelSession(transport, { role: "client", onStream });
  return { session, transport };
}

Deno.test("TunnelSession carries a 1 MiB request and response byte-identical", async () => {
  const pair = connectSessions();
  const requestBody = pseudoRandomBytes(MiB + 12345, 7);
  const responseBody = pseudoRandomBytes(MiB + 999, 8);
  let received: Uint8Array | undefined;
  const client = serve(pair, async (stream) => {
    const head = decodeRequestHead(await stream.head);
    assert.deepEqual(head, { method: "POST", target: "/hook", headers: [["x-a", "1"]] });
    received = await readAll(stream.body);
    stream.sendHead(RESPONSE);
    assert.equal(await stream.sendBody(chunked(responseBody, 100_000)), responseBody.length);
  });

  const stream = pair.server.openStream();
  stream.sendHead(REQUEST);
  const [sent, head, body] = await Promise.all([
    stream.sendBody(chunked(requestBody, 70_001)),
    stream.head.then(decodeResponseHead),
    readAll(stream.body),
    stream.remoteEnded,
  ]);
  await client.done();
  await settle();

  assert.equal(sent, requestBody.length);
  assert.deepEqual(received, requestBody);
  assert.deepEqual(head, { status: 200, headers: [["x-b", "2"]] });
  assert.deepEqual(body, responseBody);
  assert.equal(stream.bytesReceived, responseBody.length);
  for (const f of pair.serverTransport.framesOf(FrameType.Data, stream.id)) {
    assert.ok(f.payload.length <= MAX_CHUNK_SIZE);
  }
  assert.equal(pair.server.activeStreams, 0);
  assert.equal(pair.client.activeStreams, 0);
  assertNoTransportErrors(pair);
});

Deno.test("TunnelSession carries an empty body as HEAD then END", async () => {
  const pair = connectSessions();
  const client = serve(pair, async (stream) => {
    assert.equal((await readAll(stream.body)).length, 0);
    stream.sendHead(RESPONSE);
    await stream.sendBody(null);
  });
  const stream = pair.server.openStream();
  stream.sendHead(REQUEST);
  assert.equal(await stream.sendBody(null), 0);
  assert.equal((await readAll(stream.body)).length, 0);
  await client.done();
  await settle();
  assert.deepEqual(
    pair.serverTransport.frames.map((f) => f.type),
    [FrameType.Head, FrameType.End],
  );
  assertNoTransportErrors(pair);
});

Deno.test("TunnelSession lets one stream finish while another's reader is stalled", async () => {
  const pair = connectSessions();
  const slowBody = pseudoRandomBytes(MiB, 1);
  const fastBody = pseudoRandomBytes(MiB, 2);
  let slowStream: TunnelStream | undefined;
  const client = serve(pair, async (stream) => {
    const { target } = decodeRequestHead(await stream.head);
    if (target === "/slow") {
      slowStream = stream; // nobody reads it for now
      return;
    }
    assert.deepEqual(await readAll(stream.body), fastBody);
    stream.sendHead(RESPONSE);
    await stream.sendBody(null);
  });

  const slow = pair.server.openStream();
  slow.sendHead(encodeRequestHead({ method: "POST", target: "/slow", headers: [] }));
  let slowDone = false;
  const slowSent = slow.sendBody(chunked(slowBody, MAX_CHUNK_SIZE)).finally(() => slowDone = true);
  const fast = pair.server.openStream();
  fast.sendHead(encodeRequestHead({ method: "POST", target: "/fast", headers: [] }));

  assert.equal(await fast.sendBody(chunked(fastBody, 50_000)), fastBody.length);
  await fast.head;
  await fast.remoteEnded;
  await settle();

  // The stalled stream used exactly its credit window and waits for more.
  assert.equal(slowDone, false);
  assert.equal(pair.serverTransport.dataBytes(slow.id), STREAM_WINDOW);
  assert.equal(pair.serverTransport.dataBytes(fast.id), fastBody.length);

  // Once read, it completes.
  assert.ok(slowStream);
  assert.deepEqual(await readAll(slowStream.body), slowBody);
  assert.equal(await slowSent, slowBody.length);
  slowStream.sendHead(RESPONSE);
  slowStream.sendEnd();
  await slow.remoteEnded;
  await client.done();
  await settle();
  assertNoTransportErrors(pair);
});

Deno.test("TunnelSession never has more than STREAM_WINDOW bytes unacknowledged", async () => {
  const pair = connectSessions();
  const requestBody = pseudoRandomBytes(2 * MiB, 3);
  const responseBody = pseudoRandomBytes(2 * MiB, 4);
  const client = serve(pair, async (stream) => {
    await stream.head;
    // A slow reader, so the sender always runs into the window.
    assert.deepEqual(await readAll(stream.body, 1), requestBody);
    stream.sendHead(RESPONSE);
    await stream.sendBody(chunked(responseBody, 200_000));
  });
  const stream = pair.server.openStream();
  stream.sendHead(REQUEST);
  const [, , body] = await Promise.all([
    stream.sendBody(chunked(requestBody, 100_000)),
    stream.head,
    readAll(stream.body, 1),
  ]);
  await client.done();
  await settle();
  assert.deepEqual(body, responseBody);
  assert.equal(pair.serverTransport.maxInFlight.get(stream.id), STREAM_WINDOW);
  assert.equal(pair.clientTransport.maxInFlight.get(stream.id), STREAM_WINDOW);
  // Every grant is at least the update threshold: no WINDOW frame per tiny read.
  for (const f of pair.clientTransport.framesOf(FrameType.Window, stream.id)) {
    assert.ok(
      new DataView(f.payload.buffer, f.payload.byteOffset).getUint32(0) >= WINDOW_UPDATE_THRESHOLD,
    );
  }
  assertNoTransportErrors(pair);
});

Deno.test("TunnelSession.receive rejects DATA beyond the credit window", () => {
  const { session } = lonelyClient();
  session.receive(message(frame(FrameType.Head, 1, REQUEST)));
  for (let i = 0; i < STREAM_WINDOW / MAX_CHUNK_SIZE; i++) {
    session.receive(message(frame(FrameType.Data, 1, new Uint8Array(MAX_CHUNK_SIZE))));
  }
  assertThrowsProtocolError(
    () => session.receive(message(frame(FrameType.Data, 1, new Uint8Array(1)))),
    /Stream 1 exceeded its credit window/,
  );
  session.close();
});

Deno.test("TunnelSession.receive rejects DATA or END before HEAD and after END", () => {
  const { session } = lonelyClient();
  const server = new TunnelSession(new MemoryTransport(), { role: "server" });
  const stream = server.openStream();
  assertThrowsProtocolError(
    () => server.receive(message(frame(FrameType.Data, stream.id, new Uint8Array(1)))),
    /DATA on stream 1 outside of a body/,
  );
  assertThrowsProtocolError(
    () => server.receive(message(frame(FrameType.End, stream.id))),
    /END on stream 1 outside of a body/,
  );
  session.receive(message(frame(FrameType.Head, 1, REQUEST), frame(FrameType.End, 1)));
  assertThrowsProtocolError(
    () => session.receive(message(frame(FrameType.Data, 1, new Uint8Array(1)))),
    /outside of a body/,
  );
  session.close();
  server.close();
});

Deno.test("TunnelSession.receive rejects a WINDOW of 0 or one overflowing the credit", () => {
  const server = new TunnelSession(new MemoryTransport(), { role: "server" });
  const stream = server.openStream();
  assertThrowsProtocolError(
    () => server.receive(message(frame(FrameType.Window, stream.id, windowPayload(0)))),
    /Invalid WINDOW on stream 1/,
  );
  assertThrowsProtocolError(
    () => server.receive(message(frame(FrameType.Window, stream.id, windowPayload(0xffffffff)))),
    /Invalid WINDOW/,
  );
  // Up to 2^31 credit in total is fine, one more byte is not.
  server.receive(
    message(frame(FrameType.Window, stream.id, windowPayload(2 ** 31 - STREAM_WINDOW))),
  );
  assertThrowsProtocolError(
    () => server.receive(message(frame(FrameType.Window, stream.id, windowPayload(1)))),
    /Invalid WINDOW/,
  );
  server.close();
});

// Regression: the DataView over the payload was built before the length check, so a short WINDOW
// at the end of a message threw a RangeError instead of a ProtocolError.
Deno.test("TunnelSession.receive rejects a WINDOW payload shorter than 4 bytes", () => {
  for (let length = 0; length < 4; length++) {
    const server = new TunnelSession(new MemoryTransport(), { role: "server" });
    const stream = server.openStream();
    assertThrowsProtocolError(
      () =>
        server.receive(message(frame(FrameType.Window, stream.id, new Uint8Array(length).fill(1)))),
    );
    server.close();
  }
});

Deno.test("TunnelStream rejects head, body and remoteEnded with the peer's reset code", async () => {
  const pair = connectSessions();
  const resets: StreamResetError[] = [];
  const client = serve(pair, async (stream) => {
    await stream.head;
    stream.reset("target_unreachable", "Cannot reach the local app");
    assert.equal(stream.failure?.code, "target_unreachable");
  });
  const stream = pair.server.openStream();
  stream.onReset((error) => resets.push(error));
  stream.sendHead(REQUEST);
  const sending = stream.sendBody(chunked(pseudoRandomBytes(MiB), MAX_CHUNK_SIZE));
  await assertResetError(stream.head, "target_unreachable");
  await assertResetError(readAll(stream.body), "target_unreachable");
  await assertResetError(stream.remoteEnded, "target_unreachable");
  await assertResetError(sending, "target_unreachable");
  await client.done();
  await settle();
  assert.equal(resets.length, 1);
  assert.equal(resets[0].message, "Cannot reach the local app");
  assert.equal(stream.failure, resets[0]);
  assert.equal(pair.server.activeStreams, 0);
  assert.equal(pair.client.activeStreams, 0);
  assertNoTransportErrors(pair);
});

Deno.test("TunnelStream fails its body with the reset code after the head arrived", async () => {
  const pair = connectSessions();
  let release!: () => void;
  const gate = new Promise<void>((resolve) => release = resolve);
  async function* source() {
    yield new Uint8Array(10);
    await gate;
    yield new Uint8Array(10);
  }
  const client = serve(pair, async (stream) => {
    await readAll(stream.body);
    stream.sendHead(RESPONSE);
    const sending = stream.sendBody(source());
    await settle();
    stream.reset("target_error", "The app hung up");
    release();
    await assertResetError(sending, "target_error");
  });
  const stream = pair.server.openStream();
  stream.sendHead(REQUEST);
  stream.sendEnd();
  assert.equal(decodeResponseHead(await stream.head).status, 200);
  const reader = stream.body.getReader();
  assert.equal((await reader.read()).value?.length, 10);
  await assertResetError(reader.read(), "target_error");
  await client.done();
  await settle();
  assertNoTransportErrors(pair);
});

Deno.test("TunnelStream sends RESET cancelled when its body is cancelled", async () => {
  const pair = connectSessions();
  const client = serve(pair, async (stream) => {
    await stream.head;
    const reader = stream.body.getReader();
    await reader.read();
    await reader.cancel();
  });
  const stream = pair.server.openStream();
  stream.sendHead(REQUEST);
  await assertResetError(stream.sendBody(chunked(pseudoRandomBytes(MiB), 1000)), "cancelled");
  await client.done();
  await settle();
  const resets = pair.clientTransport.framesOf(FrameType.Reset, stream.id);
  assert.equal(resets.length, 1);
  assert.equal(decodeReset(resets[0].payload).code, "cancelled");
  await assertResetError(stream.head, "cancelled");
  assert.equal(pair.server.activeStreams, 0);
  assert.equal(pair.client.activeStreams, 0);
  assertNoTransportErrors(pair);
});

Deno.test("TunnelStream sends no RESET when its body is cancelled after END", async () => {
  const pair = connectSessions();
  const client = serve(pair, async (stream) => {
    await stream.remoteEnded;
    await stream.body.cancel();
    stream.sendHead(RESPONSE);
    stream.sendEnd();
  });
  const stream = pair.server.openStream();
  stream.sendHead(REQUEST);
  await stream.sendBody(chunked(new Uint8Array(100), 10));
  await stream.remoteEnded;
  await client.done();
  await settle();
  assert.equal(pair.clientTransport.framesOf(FrameType.Reset, stream.id).length, 0);
  assertNoTransportErrors(pair);
});

Deno.test("TunnelSession.close fails every open stream with tunnel_closed", async () => {
  const transport = new MemoryTransport();
  const server = new TunnelSession(transport, { role: "server" });
  const streams = [server.openStream(), server.openStream(), server.openStream()];
  assert.deepEqual(streams.map((s) => s.id), [1, 3, 5]);
  assert.equal(server.activeStreams, 3);
  const resets: ResetCode[] = [];
  for (const stream of streams) stream.onReset((error) => resets.push(error.code));
  streams[0].sendHead(REQUEST);
  // One sender waits for credit, one for the socket.
  const waitingForCredit = streams[0].sendBody(chunked(new Uint8Array(MiB), MAX_CHUNK_SIZE));
  await settle();
  transport.bufferedAmount = SOCKET_HIGH_WATER + 1;
  const waitingForSocket = streams[1].sendBody(chunked(new Uint8Array(10), 10));
  await settle();

  server.close();
  assert.equal(server.closed, true);
  assert.equal(server.activeStreams, 0);
  for (const stream of streams) {
    await assertResetError(stream.head, "tunnel_closed");
    await assertResetError(stream.remoteEnded, "tunnel_closed");
    await assertResetError(readAll(stream.body), "tunnel_closed");
  }
  await assertResetError(waitingForCredit, "tunnel_closed");
  await assertResetError(waitingForSocket, "tunnel_closed");
  assert.deepEqual(resets, ["tunnel_closed", "tunnel_closed", "tunnel_closed"]);
  assert.throws(() => server.openStream(), StreamResetError);
  // A closed session ignores whatever still arrives and sends nothing more.
  const sentBefore = transport.messages.length;
  server.receive(Uint8Array.of(255));
  streams[2].sendHead(REQUEST);
  await settle();
  assert.equal(transport.messages.length, sentBefore);
  server.close(); // idempotent
});

Deno.test("TunnelSession.close uses the given reason", async () => {
  const server = new TunnelSession(new MemoryTransport(), { role: "server" });
  const stream = server.openStream();
  server.close(new StreamResetError("shutting_down", "Bye"));
  await assertResetError(stream.head, "shutting_down");
});

Deno.test("TunnelSession ignores frames for a stream it already reset", async () => {
  const transport = new MemoryTransport();
  const server = new TunnelSession(transport, { role: "server" });
  const stream = server.openStream();
  stream.sendHead(REQUEST);
  stream.reset("cancelled", "Gone");
  await assertResetError(stream.head, "cancelled");
  server.receive(message(
    frame(FrameType.Head, stream.id, RESPONSE),
    frame(FrameType.Data, stream.id, new Uint8Array(10)),
    frame(FrameType.Window, stream.id, windowPayload(5)),
    frame(FrameType.End, stream.id),
    frame(FrameType.Reset, stream.id, encodeReset({ code: "target_error", message: "x" })),
  ));
  await settle();
  assert.equal(stream.failure?.code, "cancelled");
  assert.equal(decodeReset(transport.framesOf(FrameType.Reset, 1)[0].payload).code, "cancelled");

  const { session: client, transport: clientTransport } = lonelyClient();
  client.receive(message(frame(FrameType.Head, 1, REQUEST)));
  client.receive(
    message(frame(FrameType.Reset, 1, encodeReset({ code: "cancelled", message: "" }))),
  );
  client.receive(message(
    frame(FrameType.Data, 1, new Uint8Array(10)),
    frame(FrameType.End, 1),
    frame(FrameType.Window, 1, windowPayload(1)),
  ));
  await settle();
  assert.equal(client.activeStreams, 0);
  // A reset received is not answered with a reset.
  assert.equal(clientTransport.frames.length, 0);
  server.close();
  client.close();
});

Deno.test("TunnelSession.receive rejects a HEAD whose id is not a new odd id", () => {
  const streams: TunnelStream[] = [];
  const { session } = lonelyClient((stream) => streams.push(stream));
  assertThrowsProtocolError(
    () => session.receive(message(frame(FrameType.Head, 2, REQUEST))),
    /Stream id 2 is not a new odd id/,
  );
  session.receive(message(frame(FrameType.Head, 5, REQUEST)));
  assertThrowsProtocolError(
    () => session.receive(message(frame(FrameType.Head, 3, REQUEST))),
    /Stream id 3 is not a new odd id/,
  );
  assertThrowsProtocolError(
    () => session.receive(message(frame(FrameType.Head, 5, REQUEST))),
    /Second HEAD on stream 5/,
  );
  assert.deepEqual(streams.map((s) => s.id), [5]);
  session.close();
});

Deno.test("TunnelSession.receive rejects frames for a stream never opened", () => {
  const { session: client } = lonelyClient();
  for (const type of [FrameType.Data, FrameType.End, FrameType.Window]) {
    assertThrowsProtocolError(
      () => client.receive(message(frame(type, 9, new Uint8Array(type === FrameType.End ? 0 : 4)))),
      /Frame for unknown stream 9/,
    );
  }
  const server = new TunnelSession(new MemoryTransport(), { role: "server" });
  server.openStream();
  assertThrowsProtocolError(
    () => server.receive(message(frame(FrameType.Head, 3, RESPONSE))),
    /Frame for unknown stream 3/,
  );
  client.close();
  server.close();
});

Deno.test("TunnelSession.receive rejects a malformed RESET payload", () => {
  const { session } = lonelyClient();
  session.receive(message(frame(FrameType.Head, 1, REQUEST)));
  assertThrowsProtocolError(
    () => session.receive(message(frame(FrameType.Reset, 1, enc.encode('["nope","x"]')))),
    /Cannot decode reset/,
  );
  session.close();
});

Deno.test("TunnelStream.sendBody resets with body_too_large over maxBytes", async () => {
  const pair = connectSessions();
  const client = serve(pair, async (stream) => {
    await stream.head;
    await assertResetError(readAll(stream.body), "body_too_large");
  });
  const stream = pair.server.openStream();
  stream.sendHead(REQUEST);
  await assert.rejects(
    stream.sendBody(chunked(new Uint8Array(300), 100), { maxBytes: 250 }),
    (error: unknown) => {
      assert.ok(error instanceof StreamResetError);
      assert.equal(error.code, "body_too_large");
      assert.match(error.message, /250 bytes/);
      return true;
    },
  );
  assert.equal(stream.failure?.code, "body_too_large");
  await client.done();
  await settle();
  assert.equal(pair.serverTransport.dataBytes(stream.id), 200);
  assert.equal(pair.serverTransport.framesOf(FrameType.End, stream.id).length, 0);
  assert.equal(pair.serverTransport.framesOf(FrameType.Reset, stream.id).length, 1);
  assertNoTransportErrors(pair);
});

Deno.test("TunnelStream.sendBody accepts a body of exactly maxBytes", async () => {
  const pair = connectSessions();
  const client = serve(pair, async (stream) => {
    assert.equal((await readAll(stream.body)).length, 300);
    stream.sendHead(RESPONSE);
    stream.sendEnd();
  });
  const stream = pair.server.openStream();
  stream.sendHead(REQUEST);
  assert.equal(await stream.sendBody(chunked(new Uint8Array(300), 100), { maxBytes: 300 }), 300);
  await stream.remoteEnded;
  await client.done();
  await settle();
  assertNoTransportErrors(pair);
});

Deno.test("TunnelStream.sendBody pauses DATA while bufferedAmount exceeds SOCKET_HIGH_WATER", async () => {
  const pair = connectSessions();
  const body = pseudoRandomBytes(100 * KiB, 5);
  const client = serve(pair, async (stream) => {
    assert.deepEqual(await readAll(stream.body), body);
    stream.sendHead(RESPONSE);
    stream.sendEnd();
  });
  pair.serverTransport.bufferedAmount = SOCKET_HIGH_WATER + 1;
  const stream = pair.server.openStream();
  stream.sendHead(REQUEST);
  let done = false;
  const sending = stream.sendBody(chunked(body, 10 * KiB)).finally(() => done = true);
  await new Promise((resolve) => setTimeout(resolve, 30));
  // Control frames still flow; DATA waits.
  assert.equal(pair.serverTransport.framesOf(FrameType.Head, stream.id).length, 1);
  assert.equal(pair.serverTransport.dataBytes(stream.id), 0);
  assert.equal(done, false);

  pair.serverTransport.bufferedAmount = SOCKET_HIGH_WATER;
  assert.equal(await sending, body.length);
  await stream.remoteEnded;
  await client.done();
  await settle();
  assert.equal(pair.serverTransport.dataBytes(stream.id), body.length);
  assertNoTransportErrors(pair);
});

Deno.test("TunnelStream.sendBody copies a one-chunk array body at once, also when it must wait", async () => {
  for (const full of [false, true]) {
    const transport = new MemoryTransport();
    const server = new TunnelSession(transport, { role: "server" });
    transport.bufferedAmount = full ? SOCKET_HIGH_WATER + 1 : 0;
    const stream = server.openStream();
    const chunk = new Uint8Array([1, 2, 3]);
    const sending = stream.sendBody([chunk]);
    chunk.fill(9); // the caller reuses its buffer as soon as sendBody returns
    transport.bufferedAmount = 0;
    assert.equal(await sending, 3);
    server.flush();
    const data = transport.frames.filter((f) => f.type === FrameType.Data);
    assert.deepEqual(data.map((f) => [...f.payload]), [[1, 2, 3]]);
    assert.equal(transport.framesOf(FrameType.End, stream.id).length, 1);
  }
});

// Regression (hardening #1): a sender waiting for a full socket never noticed its stream was
// reset, so a tunnel client that never reads pinned every timed-out webhook's upload forever.
Deno.test("TunnelStream.sendBody stops waiting for a full socket once its stream is reset", async () => {
  const transport = new MemoryTransport();
  const server = new TunnelSession(transport, { role: "server" });
  transport.bufferedAmount = SOCKET_HIGH_WATER + 1;
  const stream = server.openStream();
  stream.sendHead(REQUEST);
  let sourceClosed = false;
  async function* source() {
    try {
      while (true) yield new Uint8Array(KiB);
    } finally {
      sourceClosed = true;
    }
  }
  const sending = stream.sendBody(source());
  await settle();
  stream.reset("cancelled", "The sender got 504");
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stuck = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error("sendBody still waits after the reset")), 5_000);
  });
  await assertResetError(Promise.race([sending, stuck]), "cancelled").finally(() =>
    clearTimeout(timer)
  );
  assert.equal(sourceClosed, true, "the sender's body is cancelled");
  assert.equal(transport.dataBytes(stream.id), 0);
  server.close();
});

Deno.test("TunnelSession reports a socket that stays unwritable past stallTimeout, once", async () => {
  const transport = new MemoryTransport();
  let stalls = 0;
  const server = new TunnelSession(transport, {
    role: "server",
    stallTimeout: 20,
    onStalled: () => stalls++,
  });
  transport.bufferedAmount = SOCKET_HIGH_WATER + 1;
  const streams = [server.openStream(), server.openStream()];
  const sends = streams.map((stream) => {
    stream.sendHead(REQUEST);
    return stream.sendBody([new Uint8Array(KiB)]).catch((error) => error);
  });
  const deadline = Date.now() + 5_000;
  while (stalls === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  assert.equal(stalls, 1);
  server.close();
  for (const result of await Promise.all(sends)) assert.ok(result instanceof StreamResetError);
  assert.equal(stalls, 1);
});

Deno.test("TunnelSession coalesces frames queued in one tick into one message", async () => {
  const transport = new MemoryTransport();
  const server = new TunnelSession(transport, { role: "server" });
  for (let i = 0; i < 10; i++) {
    const stream = server.openStream();
    stream.sendHead(REQUEST);
    stream.sendEnd();
  }
  assert.equal(transport.messages.length, 0);
  await settle();
  assert.equal(transport.messages.length, 1);
  assert.equal(decodeFrames(transport.messages[0]).length, 20);
  server.close();
});

// Regression: the batch limit counted payload bytes only, so thousands of small frames queued in
// one tick made a message over MAX_MESSAGE_SIZE, which the peer rejects.
Deno.test("TunnelSession splits a batch so every message stays within MAX_MESSAGE_SIZE", async () => {
  const transport = new MemoryTransport();
  const server = new TunnelSession(transport, { role: "server" });
  const head = enc.encode("[]");
  for (let i = 0; i < 12_000; i++) {
    const stream = server.openStream();
    stream.sendHead(head);
    stream.sendEnd();
  }
  await settle();
  for (const sent of transport.messages) {
    assert.ok(sent.length <= MAX_MESSAGE_SIZE, `${sent.length}`);
  }
  assert.equal(transport.frames.length, 24_000);
  server.close();
});

Deno.test("TunnelStream.head resolves with the peer's HEAD payload as sent", async () => {
  const pair = connectSessions();
  const client = serve(pair, async (stream) => {
    assert.equal(dec.decode(await stream.head), dec.decode(REQUEST));
    stream.sendHead(RESPONSE);
    stream.sendEnd();
  });
  const stream = pair.server.openStream();
  stream.sendHead(REQUEST);
  stream.sendEnd();
  assert.deepEqual(await stream.head, RESPONSE);
  await stream.remoteEnded;
  await client.done();
  await settle();
  assertNoTransportErrors(pair);
});

/** Reads a body to the end, or reports "hang" if it neither ends nor fails within `ms`. */
async function readOrHang(body: ReadableStream<Uint8Array>, ms = 200): Promise<unknown> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hang = new Promise((resolve) => timer = setTimeout(() => resolve("hang"), ms));
  try {
    return await Promise.race([readAll(body).catch((error) => error), hang]);
  } finally {
    clearTimeout(timer);
  }
}

// BUG (session.ts:422 with 463): once END has arrived, `_fail` leaves the body stream open (it
// only errors it when `!#inboxEnded`), but `#deliver` returns early on `#failure`, so chunks still
// in the inbox are never delivered and the body neither closes nor errors: a reader that had not
// drained it when the tunnel closed (or the stream was reset) waits forever.
Deno.test("TunnelStream.body settles when the session closes after END with unread data", async () => {
  const streams: TunnelStream[] = [];
  const { session } = lonelyClient((stream) => streams.push(stream));
  session.receive(message(
    frame(FrameType.Head, 1, REQUEST),
    frame(FrameType.Data, 1, enc.encode("hello")),
    frame(FrameType.End, 1),
  ));
  session.close();
  const outcome = await readOrHang(streams[0].body);
  assert.notEqual(outcome, "hang", "the body neither ended nor failed");
  await settle();
});

Deno.test("TunnelStream.body settles when the stream is reset after END with unread data", async () => {
  const streams: TunnelStream[] = [];
  const { session } = lonelyClient((stream) => streams.push(stream));
  session.receive(message(
    frame(FrameType.Head, 1, REQUEST),
    frame(FrameType.Data, 1, enc.encode("hello")),
    frame(FrameType.End, 1),
  ));
  streams[0].reset("target_error", "The app went away");
  const outcome = await readOrHang(streams[0].body);
  assert.notEqual(outcome, "hang", "the body neither ended nor failed");
  session.close();
  await settle();
});

Deno.test("TunnelStream.takeBufferedBody returns a body that already ended, only once and unread", async () => {
  const pair = connectSessions();
  const taken: (Uint8Array | undefined)[] = [];
  const client = serve(pair, async (stream) => {
    await stream.head;
    await stream.remoteEnded;
    taken.push(stream.takeBufferedBody(), stream.takeBufferedBody());
    stream.sendHead(RESPONSE);
    await stream.sendBody(null);
  });
  const stream = pair.server.openStream();
  stream.sendHead(REQUEST);
  // Two DATA frames and END in one tick: the client sees them complete.
  await stream.sendBody([enc.encode("hello "), enc.encode("world")]);
  await stream.head;
  await client.done();
  assert.equal(dec.decode(taken[0]), "hello world");
  assert.equal(taken[1], undefined, "a second take returns nothing");

  // A body still streaming is not taken.
  const pending = pair.server.openStream();
  let during: Uint8Array | undefined = new Uint8Array(1);
  pair.onStream = async (s) => {
    await s.head;
    during = s.takeBufferedBody();
    s.reset("cancelled", "done");
  };
  pending.sendHead(REQUEST);
  await settle();
  assert.equal(during, undefined);
  await pending.head.catch(() => {});
});

Deno.test("TunnelSession.openStream reports exhausted stream ids once and keeps open streams", () => {
  let exhausted = 0;
  const session = new TunnelSession(new MemoryTransport(), {
    role: "server",
    firstStreamId: 0xffff_ffff,
    onExhausted: () => exhausted++,
  });
  const last = session.openStream();
  assert.equal(last.id, 0xffff_ffff);
  assert.throws(() => session.openStream(), StreamResetError);
  assert.equal(exhausted, 1);
  assert.ok(!session.closed, "streams in flight go on");
  assert.equal(session.activeStreams, 1);
  assert.throws(() => session.openStream(), StreamResetError);
  assert.equal(exhausted, 1);
  session.close();
});

Deno.test("TunnelStream.sendHead refuses a head over MAX_HEAD_SIZE and sends nothing", async () => {
  const pair = connectSessions();
  const stream = pair.server.openStream();
  assert.throws(() => stream.sendHead(new Uint8Array(MAX_HEAD_SIZE + 1)), RangeError);
  await settle();
  assert.equal(pair.serverTransport.framesOf(FrameType.Head, stream.id).length, 0);
  stream.sendHead(REQUEST);
  await settle();
  assert.equal(pair.serverTransport.framesOf(FrameType.Head, stream.id).length, 1);
  pair.server.close();
  pair.client.close();
});
