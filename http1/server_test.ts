// The HTTP/1.1 server over real sockets: strict heads, body framing, keep-alive and pipelining,
// 100-continue, timeouts, the sender-gone signal, and WebSocket upgrades (masking, limits).
import assert from "node:assert/strict";
import { type Http1Server, Reply } from "./mod.ts";
import { startTestServer } from "./_test_server.ts";
import type { ServerRequest } from "./server_request.ts";
import { CloseCode, encodeFrame, Opcode } from "./ws/framing.ts";
import { Connection as WebSocketConnection } from "./ws/connection.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Echoes method, target, headers and body as JSON. */
async function echo(request: ServerRequest): Promise<Reply> {
  const body = decoder.decode(await request.bytes());
  return Reply.json(200, {
    method: request.method,
    target: request.target,
    headers: request.headerList,
    body,
  });
}

/** Reads from `conn` until `count` complete answers (Content-Length or chunked) arrived. */
async function readAnswers(conn: Deno.Conn, count: number): Promise<string[]> {
  const buffer = new Uint8Array(64 * 1024);
  // One character per byte, so lengths are byte counts; each answer is decoded as UTF-8 at the end.
  let text = "";
  const answers: string[] = [];
  const take = (length: number) => {
    const bytes = Uint8Array.from(text.slice(0, length), (c) => c.charCodeAt(0));
    answers.push(decoder.decode(bytes));
    text = text.slice(length);
  };
  while (answers.length < count) {
    const end = text.indexOf("\r\n\r\n");
    if (end >= 0) {
      const head = text.slice(0, end);
      const length = Number(head.match(/content-length: (\d+)/i)?.[1] ?? NaN);
      if (/transfer-encoding: chunked/i.test(head)) {
        const last = text.indexOf("\r\n0\r\n\r\n", end);
        if (last >= 0) {
          take(last + 7);
          continue;
        }
      } else if (!Number.isNaN(length) && text.length >= end + 4 + length) {
        take(end + 4 + length);
        continue;
      } else if (/^HTTP\/1\.1 (1\d\d|204|304)/.test(head)) {
        take(end + 4);
        continue;
      }
    }
    const n = await conn.read(buffer).catch(() => null);
    if (n === null) {
      if (text) take(text.length);
      break;
    }
    text += String.fromCharCode(...buffer.subarray(0, n));
  }
  return answers;
}

/** Sends raw bytes on a new connection and reads `count` answers. */
async function raw(server: Http1Server, bytes: string, count = 1): Promise<string[]> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
  try {
    await conn.write(encoder.encode(bytes));
    return await readAnswers(conn, count);
  } finally {
    conn.close();
  }
}

function bodyOf(answer: string): string {
  return answer.slice(answer.indexOf("\r\n\r\n") + 4);
}

Deno.test("serveHttp1 keeps header pairs apart, lower-cased, in order, and the body exact", async () => {
  await using server = startTestServer(echo);
  const [answer] = await raw(
    server,
    "POST /webhook/x/y?a=1&b=%20 HTTP/1.1\r\nHost: h\r\nX-Dup: 1\r\nx-dup: 2\r\n" +
      "Content-Length: 5\r\n\r\nhello",
  );
  assert.match(answer, /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(answer, /\r\ndate: [A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} /);
  const seen = JSON.parse(bodyOf(answer));
  assert.equal(seen.method, "POST");
  assert.equal(seen.target, "/webhook/x/y?a=1&b=%20");
  assert.deepEqual(seen.headers, [
    ["host", "h"],
    ["x-dup", "1"],
    ["x-dup", "2"],
    ["content-length", "5"],
  ]);
  assert.equal(seen.body, "hello");
});

Deno.test("serveHttp1 reads chunked request bodies and answers pipelined requests in order", async () => {
  await using server = startTestServer(echo);
  const answers = await raw(
    server,
    "POST /one HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" +
      "3\r\nabc\r\n4;ext=1\r\ndefg\r\n0\r\nTrailer: x\r\n\r\n" +
      "GET /two HTTP/1.1\r\nHost: h\r\n\r\n" +
      "POST /three HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nConnection: close\r\n\r\nz",
    3,
  );
  assert.equal(answers.length, 3);
  assert.deepEqual(answers.map((a) => JSON.parse(bodyOf(a)).target), ["/one", "/two", "/three"]);
  assert.equal(JSON.parse(bodyOf(answers[0])).body, "abcdefg");
  assert.equal(JSON.parse(bodyOf(answers[2])).body, "z");
  assert.match(answers[2], /\r\nconnection: close\r\n/);
});

Deno.test("serveHttp1 refuses malformed and ambiguous heads with the right status, never the handler", async () => {
  let called = 0;
  await using server = startTestServer(() => {
    called++;
    return new Reply(200);
  });
  const cases: [string, RegExp][] = [
    ["GET / HTTP/1.1\r\n\r\n", /^HTTP\/1\.1 400 .*exactly one Host/s],
    ["GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", /^HTTP\/1\.1 400 /],
    [
      "GET / HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\n",
      /^HTTP\/1\.1 400 .*Invalid header line/s,
    ],
    ["GET / HTTP/1.1\r\nHost: a\r\nX-A : x\r\n\r\n", /^HTTP\/1\.1 400 /],
    ["GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n folded\r\n\r\n", /^HTTP\/1\.1 400 /],
    ["GET / HTTP/1.1\r\nHost: a\r\nX-A: a\rb\r\n\r\n", /^HTTP\/1\.1 400 .*Bare CR/s],
    ["GET  / HTTP/1.1\r\nHost: a\r\n\r\n", /^HTTP\/1\.1 400 .*Invalid request line/s],
    ["GET / HTTP/2.0\r\nHost: a\r\n\r\n", /^HTTP\/1\.1 505 /],
    [
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
      /^HTTP\/1\.1 400 .*Invalid Content-Length/s,
    ],
    ["POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", /^HTTP\/1\.1 400 /],
    [
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
      /^HTTP\/1\.1 400 .*both Content-Length and Transfer-Encoding/s,
    ],
    [
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
      /^HTTP\/1\.1 501 /,
    ],
    [`GET / HTTP/1.1\r\nHost: a\r\nX-Big: ${"a".repeat(9000)}\r\n\r\n`, /^HTTP\/1\.1 431 /],
  ];
  for (const [request, expected] of cases) {
    const [answer] = await raw(server, request);
    assert.match(answer ?? "", expected, JSON.stringify(request.slice(0, 80)));
    assert.match(answer, /\r\nconnection: close\r\n/, "a refused connection is closed");
  }
  assert.equal(called, 0);
  assert.equal(server.refused.length, cases.length);
});

Deno.test("serveHttp1 accepts identical repeated Content-Length, HTTP/1.0, leading blank lines and a UTF-8 target", async () => {
  await using server = startTestServer(echo);
  const [repeated] = await raw(
    server,
    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok",
  );
  assert.equal(JSON.parse(bodyOf(repeated)).body, "ok");
  const [old] = await raw(server, "GET /old HTTP/1.0\r\n\r\n");
  assert.match(old, /^HTTP\/1\.1 200 /);
  assert.match(old, /\r\nconnection: close\r\n/, "HTTP/1.0 without keep-alive is closed");
  const [blank] = await raw(server, "\r\n\r\nGET /after HTTP/1.1\r\nHost: a\r\n\r\n");
  assert.equal(JSON.parse(bodyOf(blank)).target, "/after");
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
  await conn.write(
    new Uint8Array([
      ...encoder.encode("GET /caf"),
      0xc3,
      0xa9,
      ...encoder.encode(" HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"),
    ]),
  );
  const [utf8] = await readAnswers(conn, 1);
  conn.close();
  assert.equal(JSON.parse(bodyOf(utf8)).target, "/café");
});

Deno.test("serveHttp1 answers HEAD without a body and streams bodies chunked or by length", async () => {
  await using server = startTestServer((request) => {
    const chunks = async function* () {
      yield encoder.encode("ab");
      yield encoder.encode("cd");
    };
    if (request.target === "/length") {
      return new Reply(200, [["content-length", "4"]], chunks());
    }
    if (request.target === "/none") return new Reply(204, [["x-a", "1"]]);
    return new Reply(200, [["x-kind", "stream"]], request.method === "HEAD" ? null : chunks());
  });
  const [chunked] = await raw(server, "GET /stream HTTP/1.1\r\nHost: a\r\n\r\n");
  assert.match(chunked, /\r\ntransfer-encoding: chunked\r\n/);
  assert.ok(chunked.endsWith("\r\n\r\n2\r\nab\r\n2\r\ncd\r\n0\r\n\r\n"), chunked);
  const [length] = await raw(server, "GET /length HTTP/1.1\r\nHost: a\r\n\r\n");
  assert.match(length, /\r\ncontent-length: 4\r\n/);
  assert.ok(length.endsWith("\r\n\r\nabcd"));
  const [head] = await raw(server, "HEAD /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
  assert.ok(head.endsWith("\r\n\r\n"), "no body after a HEAD answer's head");
  const [none] = await raw(server, "GET /none HTTP/1.1\r\nHost: a\r\n\r\n");
  assert.match(none, /^HTTP\/1\.1 204 No Content\r\n/);
  assert.doesNotMatch(none, /content-length/i);
});

Deno.test("serveHttp1 sends 100 Continue before the handler's first read, not before", async () => {
  let read = false;
  await using server = startTestServer(async (request) => {
    if (request.target === "/refuse") return new Reply(413);
    read = true;
    return Reply.json(200, { body: decoder.decode(await request.bytes()) });
  });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
  await conn.write(
    encoder.encode(
      "POST /take HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n",
    ),
  );
  const buffer = new Uint8Array(1024);
  const n = await conn.read(buffer);
  assert.equal(decoder.decode(buffer.subarray(0, n!)), "HTTP/1.1 100 Continue\r\n\r\n");
  await conn.write(encoder.encode("xyz"));
  const [answer] = await readAnswers(conn, 1);
  assert.equal(JSON.parse(bodyOf(answer)).body, "xyz");
  assert.ok(read);
  conn.close();
  const [refused] = await raw(
    server,
    "POST /refuse HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n",
  );
  assert.match(refused, /^HTTP\/1\.1 413 /, "no 100 when the handler never reads");
  assert.match(refused, /\r\nconnection: close\r\n/);
});

Deno.test("serveHttp1 keeps a connection after an unread small body, closes it after a large one", async () => {
  await using server = startTestServer(() => new Reply(200, [], encoder.encode("ok")));
  const answers = await raw(
    server,
    "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabcGET /b HTTP/1.1\r\nHost: h\r\n\r\n",
    2,
  );
  assert.equal(answers.length, 2, "the unread 3 bytes were skipped, the next request served");
  const big = 200 * 1024;
  const [closed] = await raw(
    server,
    `POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: ${big}\r\n\r\n${"x".repeat(1000)}`,
  );
  assert.match(closed, /\r\nconnection: close\r\n/);
});

Deno.test("serveHttp1 aborts the request's signal when the sender goes away", async () => {
  const aborted = Promise.withResolvers<unknown>();
  await using server = startTestServer((request) => {
    request.signal.addEventListener("abort", () => aborted.resolve(request.signal.reason));
    return new Promise(() => {}) as Promise<Reply>; // never answers
  });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
  await conn.write(encoder.encode("GET /wait HTTP/1.1\r\nHost: h\r\n\r\n"));
  await new Promise((resolve) => setTimeout(resolve, 50));
  conn.close();
  const reason = await aborted.promise;
  assert.ok(reason instanceof Error, String(reason));
});

Deno.test("serveHttp1 answers 408 to a head not complete in time and closes idle kept-alive connections", async () => {
  await using server = startTestServer(echo, { headerTimeout: 200, idleTimeout: 300 });
  const slow = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
  await slow.write(encoder.encode("GET / HTTP/1.1\r\nHost: h\r\n"));
  const started = performance.now();
  const [answer] = await readAnswers(slow, 1);
  slow.close();
  assert.match(answer, /^HTTP\/1\.1 408 .*did not arrive within 200 ms/s);
  assert.ok(performance.now() - started < 2_000);
  assert.deepEqual(server.refused, ["408 The request head did not arrive within 200 ms"]);

  const idle = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
  await idle.write(encoder.encode("GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
  await readAnswers(idle, 1);
  const idleSince = performance.now();
  const end = await idle.read(new Uint8Array(16)).catch(() => null);
  assert.equal(end, null, "closed without an answer");
  const waited = performance.now() - idleSince;
  assert.ok(waited >= 250 && waited < 2_000, `closed after ${waited} ms`);
  idle.close();
});

Deno.test("serveHttp1 shutdown closes idle connections and lets an exchange in progress finish", async () => {
  const release = Promise.withResolvers<void>();
  const server = startTestServer(async () => {
    await release.promise;
    return new Reply(200, [], encoder.encode("late"));
  });
  const idle = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
  const busy = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
  await busy.write(encoder.encode("GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
  await new Promise((resolve) => setTimeout(resolve, 50));
  const stopping = server.shutdown();
  assert.equal(await idle.read(new Uint8Array(16)).catch(() => null), null, "idle closed");
  release.resolve();
  const [answer] = await readAnswers(busy, 1);
  assert.match(answer, /^HTTP\/1\.1 200 /);
  assert.ok(answer.endsWith("late"));
  await stopping;
  idle.close();
  busy.close();
});

/** Upgrades `/ws` and echoes every message; `received` collects them. */
function wsServer(maxMessageSize = 1024) {
  const received: Uint8Array[] = [];
  const closed = Promise.withResolvers<{ code: number; reason: string }>();
  const server = startTestServer((request) => {
    const { reply, onWritten } = request.upgradeWebSocket({ headers: [["x-extra", "1"]] });
    onWritten.then(({ conn, initial }) => {
      const ws = new WebSocketConnection(conn, initial, {
        maxMessageSize,
        idleTimeout: 0,
        closeTimeout: 1_000,
        role: "server",
        initialReadBufferBytes: 16,
        binaryOnly: true,
      }, undefined);
      ws.onMessage = (data) => {
        received.push(data);
        ws.send(data);
      };
      ws.closed.then(closed.resolve);
    });
    return reply;
  });
  return { server, received, closed: closed.promise };
}

/** A raw client connection that has done the opening handshake. */
async function upgradedConn(server: Http1Server): Promise<{ conn: Deno.Conn; head: string }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
  await conn.write(
    encoder.encode(
      "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    ),
  );
  const buffer = new Uint8Array(1024);
  let head = "";
  while (!head.includes("\r\n\r\n")) {
    const n = await conn.read(buffer);
    if (n === null) throw new Error(`Closed: ${head}`);
    head += decoder.decode(buffer.subarray(0, n));
  }
  return { conn, head };
}

/** Reads `length` bytes. */
async function readExactly(conn: Deno.Conn, length: number): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  for (let got = 0; got < length;) {
    const n = await conn.read(out.subarray(got));
    if (n === null) throw new Error(`EOF after ${got} of ${length} bytes`);
    got += n;
  }
  return out;
}

Deno.test("serveHttp1 upgrades to a WebSocket: RFC 6455 accept, unmasked echo of masked frames", async () => {
  const { server, received } = wsServer(64 * 1024);
  await using _ = server;
  const { conn, head } = await upgradedConn(server);
  assert.match(head, /^HTTP\/1\.1 101 Switching Protocols\r\n/);
  // The RFC 6455 §1.3 example key and answer.
  assert.match(head, /\r\nsec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=\r\n/);
  assert.match(head, /\r\nx-extra: 1\r\n/);
  // Three messages in one write, sizes across the 7-bit, 16-bit and buffer-growth paths.
  const sizes = [5, 300, 20_000];
  const messages = sizes.map((n) => Uint8Array.from({ length: n }, (_, i) => (i * 7) & 0xff));
  const frames = messages.map((m) => encodeFrame(Opcode.Binary, m, true));
  await conn.write(new Uint8Array(frames.flatMap((f) => [...f])));
  for (const message of messages) {
    const header = await readExactly(conn, 2);
    assert.equal(header[0], 0x82);
    assert.equal(header[1] & 0x80, 0, "server frames are not masked");
    let length = header[1] & 0x7f;
    if (length === 126) {
      const ext = await readExactly(conn, 2);
      length = (ext[0] << 8) | ext[1];
    }
    assert.equal(length, message.length);
    assert.deepEqual(await readExactly(conn, length), message);
  }
  assert.deepEqual(received, messages);
  conn.close();
});

Deno.test("serveHttp1's WebSocket fails an unmasked frame (1002) and an oversized message (1009) with a readable close", async () => {
  for (
    const [payload, masked, code] of [
      [new Uint8Array(10), false, CloseCode.ProtocolError],
      [new Uint8Array(5000), true, CloseCode.TooBig],
    ] as const
  ) {
    const { server, closed } = wsServer(1024);
    const { conn } = await upgradedConn(server);
    // The whole frame is sent: a server that closed at once would reset the connection.
    await conn.write(encodeFrame(Opcode.Binary, payload, masked));
    const frame = await readExactly(conn, 4);
    assert.equal(frame[0], 0x88, "a close frame");
    assert.equal((frame[2] << 8) | frame[3], code);
    assert.equal((await closed).code, code);
    conn.close();
    await server.shutdown();
  }
});

Deno.test("serveHttp1 refuses an upgrade without the RFC 6455 headers", async () => {
  await using server = startTestServer((request) => request.upgradeWebSocket().reply);
  const [answer] = await raw(
    server,
    "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
  );
  assert.match(answer, /^HTTP\/1\.1 500 .*Not a WebSocket upgrade request/s);
});

Deno.test("serveHttp1 closes a connection whose sender stops reading its answer for an idle timeout", async () => {
  // More than the loopback socket buffers hold, so the write stays pending.
  const big = new Uint8Array(64 * 1024 * 1024);
  const aborted = Promise.withResolvers<void>();
  await using server = startTestServer((request) => {
    request.onAbort(() => aborted.resolve());
    return new Reply(200, [], big);
  }, { headerTimeout: 5_000, idleTimeout: 300 });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
  await conn.write(encoder.encode("GET /big HTTP/1.1\r\nHost: h\r\n\r\n"));
  const started = performance.now();
  // Never read: the server's write stalls, and the sweep closes the connection.
  let timer: ReturnType<typeof setTimeout> | undefined;
  const closed = await Promise.race([
    aborted.promise.then(() => true),
    new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), 5_000))),
  ]);
  clearTimeout(timer);
  const waited = performance.now() - started;
  const open = server.connections;
  conn.close();
  assert.ok(closed, "the stalled connection was not closed within 5 s");
  assert.ok(waited >= 250, `closed after ${waited} ms`);
  assert.equal(open, 0);
});
