// Adversarial inputs against the HTTP/1.1 server and its WebSocket connections: each test here
// failed before the fix named in its commit.
import assert from "node:assert/strict";
import { makeCertificates } from "../client/_test_certs.ts";
import { concat } from "./_bytes.ts";
import type { ByteConn } from "./byte_conn.ts";
import { Reply } from "./mod.ts";
import { startTestServer } from "./_test_server.ts";
import { Connection as WebSocketConnection } from "./ws/connection.ts";
import { encodeFrame, Opcode } from "./ws/framing.ts";

/**
 * A scripted connection for a WebSocket {@linkcode WebSocketConnection}: reads hand out `input`
 * (as much as fits each time), then wait for {@linkcode ScriptedConn.push} or the close; writes
 * complete at once, or (`stalled`) never, as a peer that does not read leaves them.
 */
class ScriptedConn implements ByteConn {
  #input: Uint8Array;
  #offset = 0;
  #stalled: boolean;
  #waiting: ((n: number | null) => void) | undefined;
  #into: Uint8Array | undefined;
  #writes: (() => void)[] = [];
  #closed = false;
  /** Resolves once every byte of the input was read. */
  readonly drained = Promise.withResolvers<void>();

  constructor(input: Uint8Array, options: { stalled?: boolean } = {}) {
    this.#input = input;
    this.#stalled = options.stalled ?? false;
  }

  /** Makes `bytes` the next input. */
  push(bytes: Uint8Array): void {
    this.#input = bytes;
    this.#offset = 0;
    const waiting = this.#waiting;
    if (waiting) {
      this.#waiting = undefined;
      waiting(this.#take(this.#into!));
    }
  }

  #take(p: Uint8Array): number {
    const n = Math.min(p.length, this.#input.length - this.#offset);
    p.set(this.#input.subarray(this.#offset, this.#offset + n));
    this.#offset += n;
    return n;
  }

  read(p: Uint8Array): Promise<number | null> {
    if (this.#closed) return Promise.resolve(null);
    if (this.#offset < this.#input.length) return Promise.resolve(this.#take(p));
    this.drained.resolve();
    this.#into = p;
    return new Promise((resolve) => (this.#waiting = resolve));
  }

  write(p: Uint8Array): Promise<number> {
    if (this.#closed) return Promise.reject(new Deno.errors.BadResource("closed"));
    if (!this.#stalled) return Promise.resolve(p.length);
    return new Promise((_, reject) =>
      this.#writes.push(() => reject(new Deno.errors.BadResource("closed")))
    );
  }

  close(): void {
    this.#closed = true;
    this.#waiting?.(null);
    this.#waiting = undefined;
    for (const fail of this.#writes) fail();
    this.#writes = [];
  }
}

/** A server-side WebSocket over `conn`, with a 1 MiB message limit and no idle pings. */
function serverSocket(conn: ByteConn): WebSocketConnection {
  return new WebSocketConnection(conn, new Uint8Array(0), {
    maxMessageSize: 1024 * 1024,
    idleTimeout: 0,
    closeTimeout: 100,
    role: "server",
    initialReadBufferBytes: 512,
    binaryOnly: true,
  }, undefined);
}

/** A masked frame as a client sends it; `fin: false` for a fragment before the last. */
function clientFrame(opcode: number, payload: Uint8Array, fin = true): Uint8Array {
  const frame = encodeFrame(opcode, payload, true).slice();
  if (!fin) frame[0] &= 0x7f;
  return frame;
}

/** `count` copies of `frame`, back to back, after `before`. */
function repeated(
  frame: Uint8Array,
  count: number,
  before: Uint8Array = new Uint8Array(0),
): Uint8Array {
  const out = new Uint8Array(before.length + frame.length * count);
  out.set(before);
  for (let i = 0; i < count; i++) out.set(frame, before.length + i * frame.length);
  return out;
}

Deno.test("WebSocketConnection keeps memory bounded by the bytes of a message sent as a flood of empty fragments", async () => {
  const count = 500_000;
  const emptyFragment = clientFrame(Opcode.Continuation, new Uint8Array(0), false);
  const input = repeated(
    emptyFragment,
    count,
    clientFrame(Opcode.Binary, new Uint8Array([1]), false),
  );
  const conn = new ScriptedConn(input);
  const before = Deno.memoryUsage().heapUsed;
  const ws = serverSocket(conn);
  const messages: Uint8Array[] = [];
  ws.onMessage = (data) => messages.push(data);
  await conn.drained.promise;
  // 3 MB of frames, 1 byte of message: before the fix every fragment was kept as an array entry
  // (≈ 230 bytes each, 115 MB here, without bound as the frames kept coming).
  const grown = Deno.memoryUsage().heapUsed - before;
  assert.ok(grown < 32 * 1024 * 1024, `heap grew by ${Math.round(grown / 1024 / 1024)} MiB`);
  // Small fragments still make the exact message.
  conn.push(
    concat([
      ...[2, 3, 4].map((b) => clientFrame(Opcode.Continuation, new Uint8Array([b]), false)),
      clientFrame(Opcode.Continuation, new Uint8Array([5])),
    ]),
  );
  while (messages.length === 0) await new Promise((resolve) => setTimeout(resolve, 1));
  assert.deepEqual(messages, [new Uint8Array([1, 2, 3, 4, 5])]);
  ws.close();
  await ws.closed;
});

Deno.test("WebSocketConnection answers a flood of pings from a peer that does not read with one pending pong", async () => {
  const count = 10_000;
  const conn = new ScriptedConn(
    repeated(clientFrame(Opcode.Ping, new Uint8Array(125)), count),
    { stalled: true },
  );
  const ws = serverSocket(conn);
  await conn.drained.promise;
  await new Promise((resolve) => setTimeout(resolve, 1));
  // One pong being written and the newest one waiting (RFC 6455 §5.5.3 lets a pong answer only
  // the latest ping); before the fix every pong was queued: 1.27 MB here, without bound.
  assert.ok(ws.bufferedAmount <= 2 * 127, `${ws.bufferedAmount} bytes queued`);
  conn.close();
  await ws.closed;
});

const encoder = new TextEncoder();

/**
 * Reads what `conn` sends until it closes, or `timeout` ms pass (then `closed` is false).
 * @returns The text (one character per byte) and whether the server closed the connection.
 */
async function readUntilClosed(
  conn: Deno.Conn,
  timeout: number,
): Promise<{ text: string; closed: boolean; after: number }> {
  const started = performance.now();
  let text = "";
  let closed = false;
  const timer = setTimeout(() => conn.close(), timeout);
  const buffer = new Uint8Array(16 * 1024);
  try {
    for (;;) {
      const n = await conn.read(buffer);
      if (n === null) {
        closed = true;
        break;
      }
      text += String.fromCharCode(...buffer.subarray(0, n));
    }
  } catch (error) {
    // Closed by our timer (Interrupted/BadResource), or reset by the server.
    closed = error instanceof Deno.errors.ConnectionReset;
  } finally {
    clearTimeout(timer);
  }
  const after = performance.now() - started;
  try {
    conn.close();
  } catch {
    // Closed by the timer.
  }
  return { text, closed, after };
}

Deno.test("serveHttp1 closes a connection whose sender never sends the unread rest of a small body", async () => {
  // The handler answers without reading; the server then skips the rest of the body to keep the
  // connection, and the sender owes it: the head timeout bounds that wait as it bounds a head.
  await using server = startTestServer(() => Reply.json(404, { error: "no" }), {
    headerTimeout: 200,
    idleTimeout: 400,
  });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
  await conn.write(
    encoder.encode("POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 1000\r\n\r\nabc"),
  );
  const { text, closed, after } = await readUntilClosed(conn, 3_000);
  assert.match(text, /^HTTP\/1\.1 404 /);
  assert.ok(closed, `still open after ${Math.round(after)} ms`);
  assert.equal(server.connections, 0);
});

/** The opening handshake of a WebSocket on `/ws`. */
const UPGRADE = "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

/** How a promise settled within `ms`: `"resolved"`, `"rejected"` or `"pending"`. */
async function settledWithin(promise: Promise<unknown>, ms: number): Promise<string> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const outcome = await Promise.race([
    promise.then(() => "resolved", () => "rejected"),
    new Promise<string>((resolve) => (timer = setTimeout(() => resolve("pending"), ms))),
  ]);
  clearTimeout(timer);
  return outcome;
}

Deno.test("serveHttp1 rejects an upgrade's onWritten when its 101 cannot be written or is not sent", async () => {
  const entered = Promise.withResolvers<void>();
  const release = Promise.withResolvers<void>();
  let onWritten: Promise<unknown> | undefined;
  await using server = startTestServer(async (request) => {
    if (request.target === "/first") return new Reply(200, [], encoder.encode("first"));
    const upgrade = request.upgradeWebSocket();
    onWritten = upgrade.onWritten;
    if (request.target === "/refused") throw new Error("Refused after all");
    entered.resolve();
    await release.promise;
    return upgrade.reply;
  });

  // The sender goes away (a reset: it left an answer unread) while the upgrade is handled.
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
  await conn.write(encoder.encode("GET /first HTTP/1.1\r\nHost: h\r\n\r\n" + UPGRADE));
  await entered.promise;
  await new Promise((resolve) => setTimeout(resolve, 50));
  conn.close();
  await new Promise((resolve) => setTimeout(resolve, 50));
  release.resolve();
  // Before the fix it stayed pending: a tunnel waiting on it stayed attached to its channel.
  assert.equal(await settledWithin(onWritten!, 2_000), "rejected");

  // The handler asked for an upgrade, then answered something else.
  onWritten = undefined;
  const refused = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
  await refused.write(encoder.encode(UPGRADE.replace("/ws", "/refused")));
  const { text } = await readUntilClosed(refused, 300);
  assert.match(text, /^HTTP\/1\.1 500 /);
  assert.equal(await settledWithin(onWritten!, 1_000), "rejected");
});

Deno.test("serveHttp1 refuses a Host or request target that would steer the request's URL elsewhere", async () => {
  const seen: string[] = [];
  await using server = startTestServer((request) => {
    seen.push(new URL(request.url).pathname);
    return new Reply(204);
  });
  const answer = async (requestLine: string, host: string) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
    await conn.write(
      encoder.encode(`${requestLine} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`),
    );
    return (await readUntilClosed(conn, 2_000)).text;
  };
  // Each of these made `request.url` (scheme, Host, target) name another path than the request
  // line: `http://h\internal\members#/webhook/x%41` is `/internal/members` to the URL parser, as
  // are `http:///h/internal/members?'` (an empty Host) and `http://hx/internal/members`.
  const refused: [string, string, RegExp][] = [
    ["GET /webhook/x%41", "h\\internal\\members#", /Invalid Host/],
    ["GET /webhook/x%41", "h/internal/members?", /Invalid Host/],
    ["GET /x", "u@h", /Invalid Host/],
    ["GET /x", "h h", /Invalid Host/],
    ["GET /h/internal/members?'", "", /Invalid Host/],
    ["GET x/internal/members", "h", /Invalid request target/],
    ["GET *", "h", /Invalid request target/],
  ];
  for (const [requestLine, host, message] of refused) {
    const text = await answer(requestLine, host);
    assert.match(text, /^HTTP\/1\.1 400 /, `${requestLine} with Host "${host}": ${text}`);
    assert.match(text, message);
  }
  assert.deepEqual(seen, []);
  for (const host of ["example.com", "example.com:8080", "[::1]:80", "127.0.0.1", "a_b-c~d"]) {
    assert.match(await answer("GET /x", host), /^HTTP\/1\.1 204 /, host);
  }
  assert.match(await answer("OPTIONS *", "h"), /^HTTP\/1\.1 204 /);
  assert.match(await answer("GET http://other/y?z", "h"), /^HTTP\/1\.1 204 /);
  assert.deepEqual(seen, ["/x", "/x", "/x", "/x", "/x", "/", "/y"]);
});

Deno.test("serveHttp1 refuses a chunked request body whose chunk lines do not end in CRLF", async () => {
  const bodies: string[] = [];
  await using server = startTestServer(async (request) => {
    bodies.push(new TextDecoder().decode(await request.bytes()));
    return new Reply(204);
  });
  // RFC 9112 §7.1 frames chunks with CRLF; a bare LF (or a bare CR in an extension) is where a
  // proxy in front and this server can disagree on where a chunk ends (the request smuggling
  // Go fixed as CVE-2025-22871). Each is followed by a request that must never be served.
  const next = "GET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n";
  for (
    const chunks of [
      "3\nabc\r\n0\r\n\r\n",
      "3\r\nabc\n0\r\n\r\n",
      "3;x\nabc\r\n0\r\n\r\n",
      "3;a\rb\r\nabc\r\n0\r\n\r\n",
      "3\r\nabc\r\n0\n\r\n",
    ]
  ) {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
    await conn.write(
      encoder.encode(
        `POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n${chunks}${next}`,
      ),
    );
    const { text } = await readUntilClosed(conn, 2_000);
    assert.doesNotMatch(text, /^HTTP\/1\.1 204 /, JSON.stringify(chunks));
  }
  assert.deepEqual(bodies, []);
  // Well-formed chunks (with an extension and a trailer) are read as before.
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
  await conn.write(
    encoder.encode(
      "POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" +
        "3;x=1\r\nabc\r\n0\r\nT: 1\r\n\r\n",
    ),
  );
  assert.match((await readUntilClosed(conn, 2_000)).text, /^HTTP\/1\.1 204 /);
  assert.deepEqual(bodies, ["abc"]);
});

Deno.test("serveHttp1 ignores a blank line between pipelined requests, however the bytes arrive", async () => {
  const targets: string[] = [];
  await using server = startTestServer(async (request) => {
    targets.push(`${request.target} ${new TextDecoder().decode(await request.bytes())}`);
    return new Reply(204);
  });
  // Some clients end a POST body with an extra CRLF (RFC 9112 §2.2: a server SHOULD ignore at
  // least one empty line before a request line). It was skipped when it came in a read of its
  // own, but refused with 400 when it came in the same read as the body before it.
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
  await conn.write(
    encoder.encode(
      "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc\r\n" +
        "GET /b HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    ),
  );
  const { text } = await readUntilClosed(conn, 2_000);
  assert.equal(text.match(/HTTP\/1\.1 204 /g)?.length, 2, text);
  assert.deepEqual(targets, ["/a abc", "/b "]);
});

Deno.test("serveHttp1 sends no 100 Continue to an HTTP/1.0 request", async () => {
  await using server = startTestServer(async (request) => {
    return new Reply(200, [], await request.bytes());
  });
  // RFC 9110 §10.1.1: a server MUST ignore a 100-continue expectation in an HTTP/1.0 request (an
  // HTTP/1.0 client does not know interim answers and takes the 100 for the answer).
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
  await conn.write(
    encoder.encode("POST /a HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n"),
  );
  await new Promise((resolve) => setTimeout(resolve, 100));
  await conn.write(encoder.encode("abc"));
  const { text } = await readUntilClosed(conn, 2_000);
  assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
  assert.ok(text.endsWith("\r\n\r\nabc"), text);
});

Deno.test("serveHttp1 over TLS closes a connection that never finishes its handshake within the head timeout", async () => {
  const { ca, cert, key } = await makeCertificates();
  await using server = startTestServer(
    async (request) => new Reply(request.body ? 200 : 204, [], await request.bytes()),
    { tls: { cert, key }, headerTimeout: 200, idleTimeout: 400 },
  );
  // A TCP connection that never says anything: the 408 cannot be written before a handshake
  // that never comes, and the socket must not wait for one (it held a descriptor forever).
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
  const { closed, after } = await readUntilClosed(conn, 3_000);
  assert.ok(closed, `still open after ${Math.round(after)} ms`);
  assert.equal(server.connections, 0);
  assert.deepEqual(server.refused, ["408 The request head did not arrive within 200 ms"]);
  // TLS itself still works: 1 MiB each way on a kept-alive connection.
  const client = Deno.createHttpClient({ caCerts: [ca] });
  const body = new Uint8Array(1024 * 1024).map((_, i) => i % 251);
  for (let i = 0; i < 2; i++) {
    const response = await fetch(`https://localhost:${server.addr.port}/echo`, {
      method: "POST",
      body,
      client,
    });
    assert.equal(response.status, 200);
    assert.deepEqual(new Uint8Array(await response.arrayBuffer()), body);
  }
  client.close();
});

Deno.test("serveHttp1 over TLS ends a connection once its client has closed it", async () => {
  const { ca, cert, key } = await makeCertificates();
  await using server = startTestServer(() => new Reply(204), { tls: { cert, key } });
  for (const closeNotify of [true, false]) {
    const conn = await Deno.connectTls({
      hostname: "localhost",
      port: server.addr.port,
      caCerts: [ca],
    });
    await conn.write(encoder.encode("GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
    await conn.read(new Uint8Array(1024));
    if (closeNotify) await conn.closeWrite();
    conn.close();
    // No timeouts here: only the end of the client's connection can end the server's.
    for (let i = 0; i < 100 && server.connections > 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.equal(server.connections, 0);
  }
});

Deno.test("serveHttp1 gives a handler's late body read nothing once the server skips the body", async () => {
  // A handler (a relay whose far side answered early) may still be reading the body after its
  // answer: once the server skips the rest of the body to keep the connection, such a read must
  // not read the connection too (two reads into one buffer), nor take the next request's bytes.
  const late = Promise.withResolvers<void>();
  const lateRead = Promise.withResolvers<unknown>();
  const targets: string[] = [];
  await using server = startTestServer((request) => {
    targets.push(request.target);
    if (request.target === "/early") {
      late.promise.then(() => request.body!.read()).then(lateRead.resolve, lateRead.resolve);
    }
    return new Reply(204);
  });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
  await conn.write(encoder.encode("POST /early HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n"));
  await new Promise((resolve) => setTimeout(resolve, 50));
  late.resolve();
  await new Promise((resolve) => setTimeout(resolve, 50));
  // The rest of the body, then the next request: before the fix the late read took the next
  // request's bytes, which was never answered.
  await conn.write(encoder.encode("0123456789"));
  await new Promise((resolve) => setTimeout(resolve, 50));
  await conn.write(encoder.encode("GET /next HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"));
  const { text } = await readUntilClosed(conn, 2_000);
  assert.equal(await lateRead.promise, null);
  assert.equal(text.match(/HTTP\/1\.1 204 /g)?.length, 2, text);
  assert.deepEqual(targets, ["/early", "/next"]);
});
