import assert from "node:assert/strict";
import {
  connectWebSocket,
  type WsClient,
  type WsCloseInfo,
  WsHandshakeError,
} from "./_ws_client.ts";
import { makeCertificates } from "./_test_certs.ts";
import { concat } from "../http1/mod.ts";

// ---- helpers ----

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
const MIB = 1024 * 1024;

function randomBytes(length: number): Uint8Array {
  const out = new Uint8Array(length);
  const chunk = 65536; // getRandomValues' per-call limit
  for (let i = 0; i < length; i += chunk) {
    crypto.getRandomValues(out.subarray(i, Math.min(length, i + chunk)));
  }
  return out;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Collects messages and lets a test wait for the n-th one. */
class Inbox {
  messages: Uint8Array[] = [];
  #waiters: { count: number; resolve: () => void }[] = [];

  constructor(ws: WsClient) {
    ws.onMessage = (data) => {
      this.messages.push(data);
      this.#waiters = this.#waiters.filter((w) => {
        if (this.messages.length < w.count) return true;
        w.resolve();
        return false;
      });
    };
  }

  waitFor(count: number): Promise<Uint8Array[]> {
    if (this.messages.length >= count) return Promise.resolve(this.messages);
    return new Promise((resolve) =>
      this.#waiters.push({ count, resolve: () => resolve(this.messages) })
    );
  }
}

interface UpgradeServer {
  url: string;
  /** URL and headers of each request (a `Request` cannot be read after it was answered). */
  requests: { url: string; headers: Headers }[];
  /** Resolves with the server side's close event of the n-th socket. */
  serverClosed: Promise<CloseEvent>[];
  shutdown(): Promise<void>;
}

/** A Deno.serve server on 127.0.0.1:0 that upgrades every request and runs `onSocket`. */
function startServer(
  onSocket: (socket: WebSocket) => void = echo,
  options: { idleTimeout?: number; cert?: string; key?: string; refuse?: Response } = {},
): UpgradeServer {
  const requests: { url: string; headers: Headers }[] = [];
  const serverClosed: Promise<CloseEvent>[] = [];
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen() {},
    ...(options.cert ? { cert: options.cert, key: options.key } : {}),
  }, (request) => {
    requests.push({ url: request.url, headers: new Headers(request.headers) });
    if (options.refuse) return options.refuse;
    const { socket, response } = Deno.upgradeWebSocket(request, {
      idleTimeout: options.idleTimeout,
    });
    socket.binaryType = "arraybuffer";
    serverClosed.push(new Promise((resolve) => socket.addEventListener("close", resolve)));
    socket.addEventListener("open", () => onSocket(socket));
    return response;
  });
  const scheme = options.cert ? "wss" : "ws";
  return {
    url: `${scheme}://127.0.0.1:${server.addr.port}`,
    requests,
    serverClosed,
    shutdown: () => server.shutdown(),
  };
}

function echo(socket: WebSocket): void {
  socket.onmessage = (event) => socket.send(event.data);
}

/** Reads bytes from a raw TCP connection: an HTTP head, or masked client frames. */
class RawReader {
  #conn: Deno.Conn;
  #buffer = new Uint8Array(0);

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  async #fill(): Promise<boolean> {
    const chunk = new Uint8Array(65536);
    const n = await this.#conn.read(chunk).catch(() => null);
    if (n === null) return false;
    const next = new Uint8Array(this.#buffer.length + n);
    next.set(this.#buffer);
    next.set(chunk.subarray(0, n), this.#buffer.length);
    this.#buffer = next;
    return true;
  }

  async #take(length: number): Promise<Uint8Array | null> {
    while (this.#buffer.length < length) if (!await this.#fill()) return null;
    const out = this.#buffer.slice(0, length);
    this.#buffer = this.#buffer.slice(length);
    return out;
  }

  async readHead(): Promise<string> {
    for (;;) {
      const text = decoder.decode(this.#buffer);
      const end = text.indexOf("\r\n\r\n");
      if (end >= 0) {
        await this.#take(end + 4);
        return text.slice(0, end);
      }
      if (!await this.#fill()) throw new Error("EOF before request head");
    }
  }

  /** The next client frame, unmasked; `null` at EOF. */
  async readFrame(): Promise<{ opcode: number; fin: boolean; payload: Uint8Array } | null> {
    const head = await this.#take(2);
    if (head === null) return null;
    assert.ok(head[1] & 0x80, "client frames must be masked");
    let length = head[1] & 0x7f;
    if (length === 126) {
      const ext = await this.#take(2);
      if (ext === null) return null;
      length = (ext[0] << 8) | ext[1];
    } else if (length === 127) {
      const ext = await this.#take(8);
      if (ext === null) return null;
      length = Number(new DataView(ext.buffer).getBigUint64(0));
    }
    const mask = await this.#take(4);
    const payload = await this.#take(length);
    if (mask === null || payload === null) return null;
    for (let i = 0; i < payload.length; i++) payload[i] ^= mask[i & 3];
    return { opcode: head[0] & 0x0f, fin: (head[0] & 0x80) !== 0, payload };
  }
}

async function acceptHeader(key: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-1", encoder.encode(key + WS_GUID));
  return btoa(String.fromCharCode(...new Uint8Array(digest)));
}

async function upgradeResponse(head: string): Promise<Uint8Array> {
  const key = /^sec-websocket-key: *(\S+)/im.exec(head)?.[1];
  assert.ok(key, "request has a Sec-WebSocket-Key");
  return encoder.encode(
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
      `Sec-WebSocket-Accept: ${await acceptHeader(key)}\r\n\r\n`,
  );
}

async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  for (let i = 0; i < data.length;) i += await conn.write(data.subarray(i));
}

/**
 * A one-connection raw TCP (or, given `tls`, TLS) server; `script` gets the conn after the
 * request head was read.
 */
function startRawServer(
  script: (conn: Deno.Conn, reader: RawReader, head: string) => Promise<void>,
  tls?: { cert: string; key: string },
): { url: string; done: Promise<void> } {
  const listener = tls
    ? Deno.listenTls({ hostname: "127.0.0.1", port: 0, ...tls })
    : Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const url = `${tls ? "wss" : "ws"}://127.0.0.1:${listener.addr.port}/raw?x=1`;
  const done = (async () => {
    const conn = await listener.accept();
    listener.close();
    try {
      const reader = new RawReader(conn);
      await script(conn, reader, await reader.readHead());
    } finally {
      try {
        conn.close();
      } catch { /* closed by the script */ }
    }
  })();
  return { url, done };
}

/** Builds an unmasked server frame (or a deliberately malformed one). */
function serverFrame(
  opcode: number,
  payload: Uint8Array | string = new Uint8Array(),
  options: { fin?: boolean; rsv?: number; mask?: boolean; length64?: number } = {},
): Uint8Array {
  const data = typeof payload === "string" ? encoder.encode(payload) : payload;
  const length = options.length64 ?? data.length;
  const ext = options.length64 !== undefined || length > 0xffff ? 8 : length > 125 ? 2 : 0;
  const maskBytes = options.mask ? 4 : 0;
  const out = new Uint8Array(2 + ext + maskBytes + data.length);
  out[0] = ((options.fin ?? true) ? 0x80 : 0) | (options.rsv ?? 0) | opcode;
  out[1] = (options.mask ? 0x80 : 0) | (ext === 0 ? length : ext === 2 ? 126 : 127);
  const view = new DataView(out.buffer);
  if (ext === 2) view.setUint16(2, length);
  if (ext === 8) view.setBigUint64(2, BigInt(length));
  out.set(data, 2 + ext + maskBytes);
  return out;
}

function closePayload(code: number, reason = ""): Uint8Array {
  const reasonBytes = encoder.encode(reason);
  const out = new Uint8Array(2 + reasonBytes.length);
  new DataView(out.buffer).setUint16(0, code);
  out.set(reasonBytes, 2);
  return out;
}

function closeCodeOf(payload: Uint8Array): number {
  return (payload[0] << 8) | payload[1];
}

/** Reads client frames until its close frame; returns that frame's code and the opcodes seen. */
async function readUntilClose(reader: RawReader): Promise<{ code: number; opcodes: number[] }> {
  const opcodes: number[] = [];
  for (;;) {
    const frame = await reader.readFrame();
    if (frame === null) return { code: -1, opcodes };
    opcodes.push(frame.opcode);
    if (frame.opcode === 8) return { code: closeCodeOf(frame.payload), opcodes };
  }
}

/** Polls `condition` every 10 ms; fails with `describe()` after `timeoutMs`. */
async function waitUntil(
  condition: () => boolean,
  timeoutMs: number,
  describe: () => string,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) assert.fail(`Timed out after ${timeoutMs} ms: ${describe()}`);
    await delay(10);
  }
}

interface SniffedFrame {
  opcode: number;
  /** Unmasked. */
  payload: Uint8Array;
}

/**
 * Parses the frames of one direction of a WebSocket connection as bytes arrive: first the HTTP
 * head (skipped), then frames (client frames masked, server frames not).
 */
class FrameSniffer {
  frames: SniffedFrame[] = [];
  #buffer: Uint8Array = new Uint8Array(0);
  #inHead = true;

  push(chunk: Uint8Array): void {
    this.#buffer = concat([this.#buffer, chunk]);
    if (this.#inHead) {
      const end = decoder.decode(this.#buffer).indexOf("\r\n\r\n");
      if (end < 0) return;
      this.#inHead = false;
      this.#buffer = this.#buffer.slice(end + 4); // the head is ASCII: chars are bytes
    }
    for (;;) {
      const b = this.#buffer;
      if (b.length < 2) return;
      let length = b[1] & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (b.length < 4) return;
        length = (b[2] << 8) | b[3];
        offset = 4;
      } else if (length === 127) {
        if (b.length < 10) return;
        length = Number(new DataView(b.buffer, b.byteOffset + 2, 8).getBigUint64(0));
        offset = 10;
      }
      const masked = (b[1] & 0x80) !== 0;
      const mask = masked ? b.subarray(offset, offset + 4) : undefined;
      if (masked) offset += 4;
      if (b.length < offset + length) return;
      const payload = b.slice(offset, offset + length);
      if (mask) { for (let i = 0; i < payload.length; i++) payload[i] ^= mask[i & 3]; }
      this.frames.push({ opcode: b[0] & 0x0f, payload });
      this.#buffer = b.slice(offset + length);
    }
  }
}

/**
 * A one-connection TCP relay to `127.0.0.1:port` that passes every byte through unchanged and
 * records the WebSocket frames sent each way.
 */
function startSniffer(port: string): {
  url: string;
  fromServer: SniffedFrame[];
  fromClient: SniffedFrame[];
  done: Promise<void>;
} {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const fromServer = new FrameSniffer();
  const fromClient = new FrameSniffer();
  const pipe = async (from: Deno.Conn, to: Deno.Conn, sniffer: FrameSniffer) => {
    const buffer = new Uint8Array(65536);
    try {
      for (;;) {
        const n = await from.read(buffer);
        if (n === null) break;
        sniffer.push(buffer.subarray(0, n));
        await writeAll(to, buffer.subarray(0, n));
      }
    } catch { /* the other side closed */ }
    try {
      to.closeWrite();
    } catch { /* already closed */ }
  };
  const done = (async () => {
    const client = await listener.accept();
    listener.close();
    const server = await Deno.connect({ hostname: "127.0.0.1", port: Number(port) });
    await Promise.all([pipe(client, server, fromClient), pipe(server, client, fromServer)]);
    client.close();
    server.close();
  })();
  return {
    url: `ws://127.0.0.1:${listener.addr.port}`,
    fromServer: fromServer.frames,
    fromClient: fromClient.frames,
    done,
  };
}

// ---- tests against Deno.serve + Deno.upgradeWebSocket ----

Deno.test("connectWebSocket round-trips small and 1 MiB binary messages both ways", async () => {
  const server = startServer();
  const ws = await connectWebSocket(`${server.url}/ws/abc`, { maxMessageSize: 2 * MIB });
  const inbox = new Inbox(ws);
  const small = new Uint8Array([1, 2, 3]);
  const big = randomBytes(MIB);
  const many = Array.from({ length: 500 }, (_, i) => encoder.encode(`message ${i}`));
  ws.send(small);
  ws.send(big);
  ws.send(new Uint8Array());
  for (const message of many) ws.send(message);
  const received = await inbox.waitFor(3 + many.length);
  assert.deepEqual(received[0], small);
  assert.equal(received[1].length, big.length);
  assert.deepEqual(received[1], big);
  assert.equal(received[2].length, 0);
  assert.deepEqual(
    received.slice(3).map((m) => decoder.decode(m)),
    many.map((m) => decoder.decode(m)),
  );
  ws.close();
  const closed = await ws.closed;
  assert.deepEqual({ code: closed.code, wasClean: closed.wasClean }, {
    code: 1000,
    wasClean: true,
  });
  await server.serverClosed[0];
  await server.shutdown();
});

Deno.test("connectWebSocket sends custom headers, path and query in the upgrade", async () => {
  const server = startServer();
  const ws = await connectWebSocket(new URL(`${server.url}/ws/abc?v=2&x=%20y`), {
    headers: { Authorization: "Bearer t0ken", "X-Channel-Secret": "s3cret", "X-Wow-Protocol": "1" },
  });
  const request = server.requests[0];
  const url = new URL(request.url);
  assert.equal(url.pathname, "/ws/abc");
  assert.equal(url.search, "?v=2&x=%20y");
  assert.equal(request.headers.get("authorization"), "Bearer t0ken");
  assert.equal(request.headers.get("x-channel-secret"), "s3cret");
  assert.equal(request.headers.get("x-wow-protocol"), "1");
  ws.close();
  await ws.closed;
  await server.serverClosed[0];
  await server.shutdown();
});

Deno.test("connectWebSocket rejects a reserved handshake header with TypeError", async () => {
  await assert.rejects(
    connectWebSocket("ws://127.0.0.1:9/", { headers: { "Sec-WebSocket-Key": "x" } }),
    TypeError,
  );
  await assert.rejects(connectWebSocket("ftp://127.0.0.1/"), TypeError);
  await assert.rejects(connectWebSocket("ws://127.0.0.1:9/", { idleTimeout: -1 }), RangeError);
});

Deno.test("connectWebSocket rejects 401/403/409 answers with WsHandshakeError status and body", async () => {
  const cases: { status: number; response: () => Response; body: string }[] = [
    {
      status: 401,
      response: () => Response.json({ error: "bad token" }, { status: 401 }),
      body: '{"error":"bad token"}',
    },
    {
      // A streamed body arrives chunked.
      status: 403,
      response: () =>
        new Response(
          new ReadableStream({
            start(controller) {
              controller.enqueue(encoder.encode('{"error":'));
              controller.enqueue(encoder.encode('"forbidden"}'));
              controller.close();
            },
          }),
          { status: 403 },
        ),
      body: '{"error":"forbidden"}',
    },
    {
      status: 409,
      response: () => new Response("x".repeat(10_000), { status: 409 }),
      body: "x".repeat(4096),
    },
  ];
  for (const { status, response, body } of cases) {
    const server = startServer(echo, { refuse: response() });
    const error = await connectWebSocket(`${server.url}/ws/abc`).then(
      () => assert.fail("expected a rejection"),
      (err) => err,
    );
    assert.ok(error instanceof WsHandshakeError, String(error));
    assert.equal(error.name, "WsHandshakeError");
    assert.equal(error.status, status);
    assert.equal(error.body, body);
    assert.match(error.message, new RegExp(`status ${status}`));
    await server.shutdown();
  }
});

Deno.test("WsClient.closed reports the server's close code and reason", async () => {
  const server = startServer((socket) => socket.close(4001, "bye now"));
  const ws = await connectWebSocket(`${server.url}/ws/abc`);
  const closed = await ws.closed;
  assert.deepEqual(closed, { code: 4001, reason: "bye now", wasClean: true });
  await server.serverClosed[0];
  await server.shutdown();
});

Deno.test("WsClient.close sends its code and reason to the server", async () => {
  const server = startServer();
  const ws = await connectWebSocket(`${server.url}/ws/abc`);
  assert.throws(() => ws.close(1005), RangeError);
  assert.throws(() => ws.close(1000, "x".repeat(124)), RangeError);
  ws.close(4002, "client done");
  ws.send(new Uint8Array([1])); // dropped silently after close()
  const [serverSide, clientSide] = await Promise.all([server.serverClosed[0], ws.closed]);
  assert.equal(serverSide.code, 4002);
  assert.equal(serverSide.reason, "client done");
  assert.equal(clientSide.code, 4002);
  assert.equal(clientSide.wasClean, true);
  await server.shutdown();
});

Deno.test("WsClient answers the server's idle pings and stays open", async () => {
  // Deno.upgradeWebSocket pings after `idleTimeout` seconds of silence and drops the socket if
  // no pong comes back; the client's own idle detection is off so only the server pings. A relay
  // between the two records every frame, so the test sees the pings and the pongs themselves.
  const server = startServer(echo, { idleTimeout: 1 });
  const sniffer = startSniffer(new URL(server.url).port);
  const ws = await connectWebSocket(`${sniffer.url}/ws/abc`, { idleTimeout: 0 });
  const inbox = new Inbox(ws);
  let closedEarly = false;
  ws.closed.then(() => closedEarly = true);
  // Two pings: the second one comes only if the server accepted the pong to the first.
  const pings = () => sniffer.fromServer.filter((f) => f.opcode === 9);
  const pongs = () => sniffer.fromClient.filter((f) => f.opcode === 10);
  await waitUntil(
    () => pings().length >= 2 && pongs().length >= 2,
    6000,
    () => `pings from the server: ${pings().length}, pongs from the client: ${pongs().length}`,
  );
  assert.equal(closedEarly, false);
  // Each pong echoes its ping's payload (RFC 6455 §5.5.3).
  assert.deepEqual(
    pongs().slice(0, 2).map((f) => f.payload),
    pings().slice(0, 2).map((f) => f.payload),
  );
  ws.send(new Uint8Array([42]));
  assert.deepEqual((await inbox.waitFor(1))[0], new Uint8Array([42]));
  ws.close();
  assert.equal((await ws.closed).wasClean, true);
  await server.serverClosed[0];
  await sniffer.done;
  await server.shutdown();
});

Deno.test("WsClient pings a quiet server and stays open while it answers", async () => {
  const server = startServer(() => {});
  const ws = await connectWebSocket(`${server.url}/ws/abc`, { idleTimeout: 50 });
  let closedEarly = false;
  ws.closed.then(() => closedEarly = true);
  await delay(500);
  assert.equal(closedEarly, false);
  ws.close();
  assert.equal((await ws.closed).code, 1000);
  await server.serverClosed[0];
  await server.shutdown();
});

Deno.test("WsClient.drained resolves once queued frames are written", async () => {
  const server = startServer(() => {});
  const ws = await connectWebSocket(`${server.url}/ws/abc`);
  for (let i = 0; i < 8; i++) ws.send(randomBytes(MIB / 2));
  assert.ok(ws.bufferedAmount >= 4 * MIB);
  await ws.drained(MIB);
  assert.ok(ws.bufferedAmount <= MIB);
  await ws.drained();
  assert.equal(ws.bufferedAmount, 0);
  ws.close();
  await ws.closed;
  await server.serverClosed[0];
  await server.shutdown();
});

Deno.test("WsClient closes with 1011 when onMessage throws", async () => {
  const server = startServer((socket) => socket.send(new Uint8Array([1])));
  const ws = await connectWebSocket(`${server.url}/ws/abc`);
  const boom = new Error("boom");
  ws.onMessage = () => {
    throw boom;
  };
  const closed = await ws.closed;
  assert.equal(closed.code, 1011);
  assert.equal(closed.wasClean, false);
  assert.equal(closed.error, boom);
  assert.equal((await server.serverClosed[0]).code, 1011);
  await server.shutdown();
});

// ---- wss:// with a private CA ----

Deno.test("connectWebSocket over wss:// trusts a private CA given in caCerts", async () => {
  const { ca, cert, key } = await makeCertificates();
  const server = startServer(echo, { cert, key });
  const ws = await connectWebSocket(`${server.url}/ws/abc`, {
    caCerts: [ca],
    maxMessageSize: 2 * MIB,
  });
  const inbox = new Inbox(ws);
  ws.send(encoder.encode("over tls"));
  assert.equal(decoder.decode((await inbox.waitFor(1))[0]), "over tls");
  ws.close();
  assert.equal((await ws.closed).wasClean, true);
  await server.serverClosed[0];
  // Without the CA the certificate is not trusted, and nothing leaks.
  await assert.rejects(connectWebSocket(`${server.url}/ws/abc`));
  await server.shutdown();
});

Deno.test("connectWebSocket with insecure round-trips 1 MiB messages past an unknown CA", async () => {
  const { cert, key } = await makeCertificates();
  const server = startServer(echo, { cert, key });
  const ws = await connectWebSocket(`${server.url}/ws/abc`, {
    insecure: true,
    maxMessageSize: 2 * MIB,
  });
  const inbox = new Inbox(ws);
  const small = encoder.encode("over unverified tls");
  const bigs = [randomBytes(MIB), randomBytes(MIB), randomBytes(MIB)];
  ws.send(small);
  for (const big of bigs) ws.send(big);
  const got = await inbox.waitFor(4);
  assert.deepEqual(got[0], small);
  for (let i = 0; i < bigs.length; i++) assert.deepEqual(got[i + 1], bigs[i]);
  ws.close(1000, "bye");
  const [clientSide, serverSide] = await Promise.all([ws.closed, server.serverClosed[0]]);
  assert.equal(clientSide.code, 1000);
  assert.equal(clientSide.wasClean, true);
  assert.equal(serverSide.code, 1000);
  assert.equal(serverSide.reason, "bye");
  await server.shutdown();
});

Deno.test("connectWebSocket without insecure or caCerts rejects an unknown CA at once", async () => {
  const { cert, key } = await makeCertificates();
  const server = startServer(echo, { cert, key });
  const started = performance.now();
  await assert.rejects(connectWebSocket(`${server.url}/ws/abc`), (err) => {
    assert.ok(err instanceof Deno.errors.InvalidData, String(err));
    assert.match(err.message, /certificate/i);
    return true;
  });
  assert.ok(performance.now() - started < 2000, "fails fast, not at the connect timeout");
  // insecure: false is the default, spelled out.
  await assert.rejects(
    connectWebSocket(`${server.url}/ws/abc`, { insecure: false }),
    Deno.errors.InvalidData,
  );
  assert.equal(server.requests.length, 0);
  await server.shutdown();
});

Deno.test("connectWebSocket with insecure closes with 1006 when the TLS peer drops", async () => {
  const { cert, key } = await makeCertificates();
  // Upgrade, send one message, then drop the connection without a close frame.
  const dropped = startRawServer(async (conn, _reader, head) => {
    await writeAll(conn, concat([await upgradeResponse(head), serverFrame(2, "x")]));
  }, { cert, key });
  const ws = await connectWebSocket(dropped.url, { insecure: true });
  const inbox = new Inbox(ws);
  const closed = await ws.closed;
  await dropped.done;
  assert.equal(closed.code, 1006);
  assert.equal(closed.wasClean, false);
  assert.equal(inbox.messages.length, 1);
  ws.send(new Uint8Array([1])); // no-op once closed
  await ws.drained();

  // A clean close handshake over node:tls.
  const clean = startRawServer(async (conn, reader, head) => {
    await writeAll(conn, await upgradeResponse(head));
    await writeAll(conn, serverFrame(8, closePayload(4000, "done")));
    assert.equal((await readUntilClose(reader)).code, 4000);
  }, { cert, key });
  const ws2 = await connectWebSocket(clean.url, { insecure: true });
  assert.deepEqual(await ws2.closed, { code: 4000, reason: "done", wasClean: true });
  await clean.done;

  // The peer closes during the handshake: a WsHandshakeError, nothing left open.
  const early = startRawServer(async () => {}, { cert, key });
  await assert.rejects(connectWebSocket(early.url, { insecure: true }), WsHandshakeError);
  await early.done;
});

Deno.test("connectWebSocket with insecure rejects refused, stuck and aborted connects", async () => {
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const freePort = probe.addr.port;
  probe.close();
  await assert.rejects(
    connectWebSocket(`wss://127.0.0.1:${freePort}/ws`, { insecure: true }),
    (err) => {
      assert.equal((err as { code?: string }).code, "ECONNREFUSED");
      return true;
    },
  );

  // A TCP server that never answers the TLS ClientHello.
  const silent = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = silent.accept();
  const url = `wss://127.0.0.1:${silent.addr.port}/ws`;
  await assert.rejects(connectWebSocket(url, { insecure: true, connectTimeout: 50 }), (err) => {
    assert.ok(err instanceof DOMException);
    assert.equal(err.name, "TimeoutError");
    return true;
  });
  (await accepted).close();
  const accepted2 = silent.accept();
  const reason = new Error("user gave up");
  await assert.rejects(
    connectWebSocket(url, { insecure: true, signal: AbortSignal.abort(reason) }),
    (err) => err === reason,
  );
  const controller = new AbortController();
  setTimeout(() => controller.abort(reason), 50);
  await assert.rejects(
    connectWebSocket(url, { insecure: true, signal: controller.signal }),
    (err) => err === reason,
  );
  (await accepted2).close();
  silent.close();
});

// ---- tests against a raw TCP server ----

Deno.test("WsClient reassembles fragments and parses frames split across reads", async () => {
  const big = randomBytes(70_000); // 64-bit length, read straight into its own buffer
  const medium = randomBytes(300); // 16-bit length
  const parts = [randomBytes(40_000), randomBytes(40_000), randomBytes(5)];
  let pong: Uint8Array | undefined;
  let echoed = -1;
  const raw = startRawServer(async (conn, reader, head) => {
    assert.match(head, /^GET \/raw\?x=1 HTTP\/1\.1\r\n/);
    const response = await upgradeResponse(head);
    const frames = concat([
      serverFrame(1, "hel", { fin: false }),
      serverFrame(9, "p"),
      serverFrame(0, "lo"),
      serverFrame(2, medium),
      serverFrame(2, big),
      serverFrame(2, parts[0], { fin: false }),
      serverFrame(0, parts[1], { fin: false }),
      serverFrame(0, parts[2]),
      serverFrame(8, closePayload(1000, "done")),
    ]);
    // The head in two writes, the rest of it together with the first frame bytes, which belong to
    // the frame stream; then the frames in pieces, the first ones a byte at a time.
    await writeAll(conn, response.subarray(0, 10));
    await delay(5);
    await writeAll(conn, concat([response.subarray(10), frames.subarray(0, 3)]));
    let offset = 3;
    for (let i = 0; offset < frames.length; i++) {
      const size = i < 40 ? 1 : 1 + Math.floor(Math.random() * 4000);
      await writeAll(conn, frames.subarray(offset, offset + size));
      offset += size;
      if (i % 8 === 0) await delay(0);
    }
    for (;;) {
      const frame = await reader.readFrame();
      assert.ok(frame, "client closed before echoing the close frame");
      if (frame.opcode === 10) pong = frame.payload;
      if (frame.opcode === 8) {
        echoed = closeCodeOf(frame.payload);
        break;
      }
    }
  });
  const ws = await connectWebSocket(raw.url);
  await delay(20); // messages that arrive before onMessage is set are kept for it
  const inbox = new Inbox(ws);
  const closed = await ws.closed;
  await raw.done;
  assert.deepEqual(closed, { code: 1000, reason: "done", wasClean: true });
  assert.deepEqual(inbox.messages.map((m) => m.length), [5, 300, 70_000, 80_005]);
  assert.equal(decoder.decode(inbox.messages[0]), "hello");
  assert.deepEqual(inbox.messages[1], medium);
  assert.deepEqual(inbox.messages[2], big);
  assert.deepEqual(inbox.messages[3], concat(parts));
  assert.equal(pong && decoder.decode(pong), "p");
  assert.equal(echoed, 1000);
});

Deno.test("WsClient fails malformed server frames with close code 1002", async () => {
  const cases: Record<string, Uint8Array> = {
    "masked frame": serverFrame(2, "x", { mask: true }),
    "reserved bit": serverFrame(2, "x", { rsv: 0x40 }),
    "unknown data opcode": serverFrame(3, "x"),
    "unknown control opcode": serverFrame(0xb),
    "control frame over 125 bytes": serverFrame(9, new Uint8Array(126)),
    "fragmented control frame": serverFrame(9, "", { fin: false }),
    "continuation without a message": serverFrame(0, "x"),
    "new message inside a fragmented one": concat([
      serverFrame(2, "a", { fin: false }),
      serverFrame(2, "b"),
    ]),
    "close frame of one byte": serverFrame(8, new Uint8Array([3])),
    "close code 1005 on the wire": serverFrame(8, closePayload(1005)),
  };
  for (const [name, bytes] of Object.entries(cases)) {
    let sent = -1;
    const raw = startRawServer(async (conn, reader, head) => {
      await writeAll(conn, concat([await upgradeResponse(head), bytes]));
      sent = (await readUntilClose(reader)).code;
    });
    const ws = await connectWebSocket(raw.url);
    const closed = await ws.closed;
    await raw.done;
    assert.equal(closed.code, 1002, name);
    assert.equal(closed.wasClean, false, name);
    assert.equal(sent, 1002, name);
  }
});

Deno.test("WsClient closes with 1009 when a message exceeds maxMessageSize", async () => {
  const cases: Record<string, Uint8Array> = {
    "single frame": serverFrame(2, new Uint8Array(101)),
    "fragments": concat([
      serverFrame(2, new Uint8Array(60), { fin: false }),
      serverFrame(0, new Uint8Array(60)),
    ]),
    "absurd 64-bit length": serverFrame(2, new Uint8Array(), { length64: 2 ** 53 - 1 }),
  };
  for (const [name, bytes] of Object.entries(cases)) {
    let sent = -1;
    const raw = startRawServer(async (conn, reader, head) => {
      await writeAll(conn, concat([await upgradeResponse(head), bytes]));
      sent = (await readUntilClose(reader)).code;
    });
    const ws = await connectWebSocket(raw.url, { maxMessageSize: 100 });
    const received: Uint8Array[] = [];
    ws.onMessage = (data) => received.push(data);
    const closed = await ws.closed;
    await raw.done;
    assert.equal(closed.code, 1009, name);
    assert.equal(sent, 1009, name);
    assert.equal(received.length, 0, name);
  }
});

Deno.test("WsClient pings a silent peer, then closes with 1006", async () => {
  let seen: number[] = [];
  const raw = startRawServer(async (conn, reader, head) => {
    await writeAll(conn, await upgradeResponse(head));
    seen = (await readUntilClose(reader)).opcodes; // never answers; ends at the client's EOF
  });
  const ws = await connectWebSocket(raw.url, { idleTimeout: 50 });
  const closed: WsCloseInfo = await ws.closed;
  await raw.done;
  assert.equal(closed.code, 1006);
  assert.equal(closed.wasClean, false);
  assert.match(closed.reason, /^Idle timeout/);
  assert.deepEqual(seen, [9]);
});

Deno.test("WsClient.closed resolves with 1006 when the server drops the connection", async () => {
  const raw = startRawServer(async (conn, _reader, head) => {
    await writeAll(conn, concat([await upgradeResponse(head), serverFrame(2, "x")]));
  });
  const ws = await connectWebSocket(raw.url);
  const inbox = new Inbox(ws);
  const closed = await ws.closed;
  await raw.done;
  assert.equal(closed.code, 1006);
  assert.equal(closed.wasClean, false);
  assert.equal(inbox.messages.length, 1);
  ws.send(new Uint8Array([1])); // no-op once closed
  ws.close(); // no-op once closed
  await ws.drained();
});

Deno.test("connectWebSocket rejects a bad Sec-WebSocket-Accept and a truncated head", async () => {
  const wrongAccept = startRawServer(async (conn) => {
    await writeAll(
      conn,
      encoder.encode(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
          "Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n",
      ),
    );
  });
  await assert.rejects(connectWebSocket(wrongAccept.url), (err) => {
    assert.ok(err instanceof WsHandshakeError);
    assert.equal(err.status, 101);
    assert.match(err.message, /Sec-WebSocket-Accept/);
    return true;
  });
  await wrongAccept.done;
  const truncated = startRawServer(async (conn) => {
    await writeAll(conn, encoder.encode("HTTP/1.1 101 Switching"));
  });
  await assert.rejects(connectWebSocket(truncated.url), WsHandshakeError);
  await truncated.done;
});

Deno.test("connectWebSocket rejects a 101 answer with a malformed header line", async () => {
  // The handshake reads its answer with the http1/ parser, which fails a header line it cannot
  // read instead of skipping it (the skipped line might be the one that matters).
  const malformed = startRawServer(async (conn, _reader, head) => {
    const valid = decoder.decode(await upgradeResponse(head));
    await writeAll(conn, encoder.encode(valid.replace("\r\n\r\n", "\r\nno colon here\r\n\r\n")));
  });
  await assert.rejects(connectWebSocket(malformed.url), (err) => {
    assert.ok(err instanceof WsHandshakeError, String(err));
    assert.equal(err.status, 0);
    assert.match(err.message, /Invalid header line "no colon here"/);
    return true;
  });
  await malformed.done;
});

Deno.test("connectWebSocket rejects with TimeoutError or the abort reason when stuck", async () => {
  // Holds the connection open, never answering, until the client gives up.
  const stuck = () =>
    startRawServer(async (_conn, reader) => {
      await reader.readFrame();
    });
  const timedOut = stuck();
  await assert.rejects(connectWebSocket(timedOut.url, { connectTimeout: 50 }), (err) => {
    assert.ok(err instanceof DOMException);
    assert.equal(err.name, "TimeoutError");
    return true;
  });
  await timedOut.done;

  const aborted = stuck();
  const controller = new AbortController();
  const reason = new Error("user gave up");
  setTimeout(() => controller.abort(reason), 50);
  await assert.rejects(connectWebSocket(aborted.url, { signal: controller.signal }), (err) => {
    assert.equal(err, reason);
    return true;
  });
  await aborted.done;
});

Deno.test("WsClient closes with 1001 when its signal aborts after connecting", async () => {
  const server = startServer();
  const controller = new AbortController();
  const ws = await connectWebSocket(`${server.url}/ws/abc`, { signal: controller.signal });
  controller.abort();
  const [serverSide, clientSide] = await Promise.all([server.serverClosed[0], ws.closed]);
  assert.equal(serverSide.code, 1001);
  assert.equal(clientSide.code, 1001);
  await server.shutdown();
});

Deno.test("WsClient's default message limit is the protocol's MAX_MESSAGE_SIZE", async () => {
  const { MAX_MESSAGE_SIZE } = await import("../protocol/mod.ts");
  for (const size of [MAX_MESSAGE_SIZE, MAX_MESSAGE_SIZE + 1]) {
    let sent = -1;
    const raw = startRawServer(async (conn, reader, head) => {
      await writeAll(
        conn,
        concat([await upgradeResponse(head), serverFrame(2, new Uint8Array(size))]),
      );
      sent = (await readUntilClose(reader)).code;
    });
    const ws = await connectWebSocket(raw.url);
    const received: Uint8Array[] = [];
    ws.onMessage = (data) => {
      received.push(data);
      ws.close(1000, "done");
    };
    const closed = await ws.closed;
    await raw.done;
    const expected = size > MAX_MESSAGE_SIZE ? 1009 : 1000;
    if (size > MAX_MESSAGE_SIZE) assert.equal(closed.code, 1009, `size ${size}`);
    assert.equal(sent, expected, `size ${size}`);
    assert.equal(received.length, size > MAX_MESSAGE_SIZE ? 0 : 1, `size ${size}`);
  }
});
