import assert from "node:assert/strict";
import { Http1Abort, Http1Client, Http1Error, type Http1Response } from "./mod.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A request as a raw test server saw it: exact head text and the de-framed body. */
interface RawRequest {
  head: string;
  body: Uint8Array;
}

/** Reads whole requests from a server-side connection, byte-exact. */
class RequestReader {
  #conn: Deno.Conn;
  #buf: Uint8Array = new Uint8Array(0);
  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  async #more(): Promise<boolean> {
    const chunk = new Uint8Array(64 * 1024);
    const n = await this.#conn.read(chunk);
    if (n === null) return false;
    this.#buf = concat([this.#buf, chunk.subarray(0, n)]);
    return true;
  }

  async #line(): Promise<string> {
    for (;;) {
      const i = this.#buf.indexOf(10);
      if (i >= 0) {
        const line = dec.decode(this.#buf.subarray(0, i + 1));
        this.#buf = this.#buf.slice(i + 1);
        return line;
      }
      if (!(await this.#more())) throw new Error("EOF in line");
    }
  }

  async #bytes(n: number): Promise<Uint8Array> {
    while (this.#buf.length < n) if (!(await this.#more())) throw new Error("EOF in body");
    const out = this.#buf.slice(0, n);
    this.#buf = this.#buf.slice(n);
    return out;
  }

  /** The next request, or null at a clean end of stream. */
  async read(): Promise<RawRequest | null> {
    if (this.#buf.length === 0 && !(await this.#more())) return null;
    let head = "";
    for (;;) {
      const line = await this.#line();
      head += line;
      if (line === "\r\n") break;
    }
    const lower = head.toLowerCase();
    const cl = /\r\ncontent-length: *(\d+)/.exec(lower);
    if (cl) return { head, body: await this.#bytes(Number(cl[1])) };
    if (/\r\ntransfer-encoding: *chunked/.test(lower)) {
      const parts: Uint8Array[] = [];
      for (;;) {
        const size = parseInt(await this.#line(), 16);
        if (size === 0) {
          await this.#line();
          break;
        }
        parts.push(await this.#bytes(size));
        await this.#bytes(2);
      }
      return { head, body: concat(parts) };
    }
    return { head, body: new Uint8Array(0) };
  }
}

type Handler = (
  conn: Deno.Conn,
  reader: RequestReader,
  connIndex: number,
) => Promise<void>;

/** A `Deno.listen` server whose handler writes exact bytes; counts accepted connections. */
class RawServer {
  readonly listener: Deno.TcpListener;
  accepted = 0;
  readonly requests: RawRequest[] = [];
  #conns = new Set<Deno.Conn>();
  #tasks = new Set<Promise<void>>();
  #loop: Promise<void>;

  constructor(handler: Handler) {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    this.listener = listener;
    this.#loop = (async () => {
      for await (const conn of listener) {
        const index = this.accepted++;
        this.#conns.add(conn);
        const task = handler(conn, new RequestReader(conn), index).catch(() => {}).finally(() => {
          this.#conns.delete(conn);
          try {
            conn.close();
          } catch {
            // closed already
          }
        });
        this.#tasks.add(task);
      }
    })().catch(() => {});
  }

  get origin(): URL {
    return new URL(`http://127.0.0.1:${this.listener.addr.port}`);
  }

  /** Serves each request with `respond` (its bytes, or null to close without answering). */
  static answering(
    respond: (req: RawRequest, connIndex: number, reqIndex: number) => string | Uint8Array | null,
  ): RawServer {
    const server: RawServer = new RawServer(async (conn, reader, connIndex) => {
      for (let i = 0;; i++) {
        const req = await reader.read();
        if (!req) return;
        server.requests.push(req);
        const answer = respond(req, connIndex, i);
        if (answer === null) return;
        await writeAll(conn, typeof answer === "string" ? enc.encode(answer) : answer);
        if (/\r\nconnection: close\r\n/i.test(typeof answer === "string" ? answer : "")) return;
      }
    });
    return server;
  }

  async close(): Promise<void> {
    this.listener.close();
    for (const conn of this.#conns) {
      try {
        conn.close();
      } catch {
        // closed already
      }
    }
    await this.#loop;
    await Promise.allSettled([...this.#tasks]);
  }
}

/**
 * Asserts that a GET a server never answers ends in a `timeout` error once `cancel` fires, and
 * that its connection is not kept.
 */
async function assertTimesOutUnanswered(
  cancel: { signal: AbortSignal } | { abort: Http1Abort },
): Promise<void> {
  const server = new RawServer(async (_conn, reader) => {
    await reader.read();
    await reader.read(); // waits until the client gives up
  });
  const client = new Http1Client();
  const error = await client.request(server.origin, {
    method: "GET",
    path: "/",
    headers: [],
    ...cancel,
  }).then(() => undefined, (e) => e);
  assert.ok(error instanceof Http1Error, String(error));
  assert.equal(error.code, "timeout");
  assert.equal(client.idleConnections, 0);
  await client.close();
  await server.close();
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let off = 0; off < bytes.length;) off += await conn.write(bytes.subarray(off));
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

async function readAll(res: Http1Response): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const chunk of res.body) parts.push(chunk);
  return concat(parts);
}

async function text(res: Http1Response): Promise<string> {
  return dec.decode(await readAll(res));
}

function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let off = 0; off < n; off += 65536) crypto.getRandomValues(out.subarray(off, off + 65536));
  return out;
}

async function* pieces(bytes: Uint8Array, size: number): AsyncIterable<Uint8Array> {
  for (let off = 0; off < bytes.length; off += size) yield bytes.slice(off, off + size);
}

const OK = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

async function withRaw(
  respond: Parameters<typeof RawServer.answering>[0],
  fn: (server: RawServer, client: Http1Client) => Promise<void>,
): Promise<void> {
  const server = RawServer.answering(respond);
  const client = new Http1Client();
  try {
    await fn(server, client);
  } finally {
    await client.close();
    await server.close();
  }
}

Deno.test("Http1Client sends headers exactly as given: order, repeats, case, nothing added", async () => {
  await withRaw(
    () =>
      "HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nX-Z:  z \r\nset-cookie: b=2\r\nContent-Length: 2\r\n\r\nok",
    async (server, client) => {
      const res = await client.request(server.origin, {
        method: "POST",
        path: "/p/%2F?q=1&q=2",
        headers: [["X-A", "1"], ["x-b", "2"], ["X-A", "3"], ["Cookie", "a=1"], ["cookie", "b=2"]],
        body: enc.encode("hi"),
      });
      assert.equal(res.status, 200);
      assert.equal(res.statusText, "OK");
      assert.deepEqual(res.headers, [
        ["Set-Cookie", "a=1"],
        ["X-Z", "z"],
        ["set-cookie", "b=2"],
        ["Content-Length", "2"],
      ]);
      assert.equal(await text(res), "ok");
      const port = server.listener.addr.port;
      assert.equal(
        server.requests[0].head,
        `POST /p/%2F?q=1&q=2 HTTP/1.1\r\nX-A: 1\r\nx-b: 2\r\nX-A: 3\r\nCookie: a=1\r\n` +
          `cookie: b=2\r\nhost: 127.0.0.1:${port}\r\ncontent-length: 2\r\n\r\n`,
      );
      assert.equal(dec.decode(server.requests[0].body), "hi");

      const get = await client.request(server.origin, {
        method: "GET",
        path: "/",
        headers: [["Host", "example.test"], ["accept-encoding", "gzip"]],
        body: new Uint8Array(0),
      });
      await readAll(get);
      assert.equal(
        server.requests[1].head,
        "GET / HTTP/1.1\r\nHost: example.test\r\naccept-encoding: gzip\r\n\r\n",
      );
      const post = await client.request(server.origin, {
        method: "POST",
        path: "/",
        headers: [["host", "h"]],
        body: new Uint8Array(0),
      });
      await readAll(post);
      assert.equal(
        server.requests[2].head,
        "POST / HTTP/1.1\r\nhost: h\r\ncontent-length: 0\r\n\r\n",
      );
      assert.equal(server.accepted, 1);
    },
  );
});

Deno.test("Http1Client keeps latin1 header bytes unchanged both ways", async () => {
  await withRaw(
    () =>
      new Uint8Array([
        ...enc.encode("HTTP/1.1 200 OK\r\nX-L: caf"),
        0xe9,
        ...enc.encode("\r\nContent-Length: 0\r\n\r\n"),
      ]),
    async (server, client) => {
      const res = await client.request(server.origin, {
        method: "GET",
        path: "/",
        headers: [["x-l", "caf\u00e9"]],
      });
      await readAll(res);
      assert.deepEqual(res.headers[0], ["X-L", "caf\u00e9"]);
      assert.match(server.requests[0].head, /x-l: caf\ufffd/); // the raw 0xE9 byte, not UTF-8
    },
  );
});

Deno.test("Http1Client rejects header values with CR/LF and invalid methods before sending", async () => {
  const client = new Http1Client();
  const origin = new URL("http://127.0.0.1:9");
  await assert.rejects(
    client.request(origin, { method: "GET", path: "/", headers: [["x", "a\r\nb: c"]] }),
    TypeError,
  );
  await assert.rejects(
    client.request(origin, { method: "G ET", path: "/", headers: [] }),
    TypeError,
  );
  await assert.rejects(
    client.request(origin, { method: "GET", path: "/a b", headers: [] }),
    TypeError,
  );
  await client.close();
});

Deno.test("Http1Client decodes chunked responses with extensions and trailers, split anywhere", async () => {
  const body =
    '5;ext=1\r\nhello\r\n6\r\n world\r\nA ; x="y"\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n';
  const server = new RawServer(async (conn, reader) => {
    for (;;) {
      const req = await reader.read();
      if (!req) return;
      const bytes = enc.encode(`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${body}`);
      for (let i = 0; i < bytes.length; i += 7) {
        await writeAll(conn, bytes.subarray(i, i + 7));
        await delay(0);
      }
    }
  });
  const client = new Http1Client();
  try {
    for (let i = 0; i < 3; i++) {
      const res = await client.request(server.origin, { method: "GET", path: "/", headers: [] });
      assert.deepEqual(res.headers, [["Transfer-Encoding", "chunked"]]);
      assert.equal(await text(res), "hello world0123456789");
    }
    assert.equal(server.accepted, 1);
  } finally {
    await client.close();
    await server.close();
  }
});

Deno.test("Http1Client reads a body until close when there is no framing, and does not reuse", async () => {
  const server = new RawServer(async (conn, reader) => {
    await reader.read();
    await writeAll(conn, enc.encode("HTTP/1.1 200 OK\r\nX: 1\r\n\r\nabc"));
    await delay(5);
    await writeAll(conn, enc.encode("def"));
  });
  const client = new Http1Client();
  try {
    for (let i = 0; i < 2; i++) {
      const res = await client.request(server.origin, { method: "GET", path: "/", headers: [] });
      assert.equal(await text(res), "abcdef");
    }
    assert.equal(server.accepted, 2);
    assert.equal(client.idleConnections, 0);
  } finally {
    await client.close();
    await server.close();
  }
});

Deno.test("Http1Client reads no body for HEAD, 204 and 304, and reuses the connection", async () => {
  await withRaw(
    (req) => {
      if (req.head.startsWith("HEAD")) return "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n";
      if (req.head.startsWith("GET /204")) return "HTTP/1.1 204 No Content\r\n\r\n";
      if (req.head.startsWith("GET /304")) {
        return 'HTTP/1.1 304 Not Modified\r\nETag: "x"\r\nContent-Length: 5\r\n\r\n';
      }
      return OK;
    },
    async (server, client) => {
      for (
        const [method, path] of [["HEAD", "/"], ["GET", "/204"], ["GET", "/304"], ["GET", "/"]]
      ) {
        const res = await client.request(server.origin, { method, path, headers: [] });
        const body = await text(res);
        assert.equal(body, path === "/" && method === "GET" ? "ok" : "");
      }
      assert.equal(server.accepted, 1);
      assert.equal(server.requests.length, 4);
    },
  );
});

Deno.test("Http1Client skips 100 Continue and 103 Early Hints before the final response", async () => {
  await withRaw(
    () =>
      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n" +
      "HTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\nx",
    async (server, client) => {
      const res = await client.request(server.origin, {
        method: "POST",
        path: "/",
        headers: [["expect", "100-continue"]],
        body: enc.encode("body"),
      });
      assert.equal(res.status, 201);
      assert.deepEqual(res.headers, [["Content-Length", "1"]]);
      assert.equal(await text(res), "x");
      const again = await client.request(server.origin, { method: "GET", path: "/", headers: [] });
      assert.equal(again.status, 201);
      await readAll(again);
      assert.equal(server.accepted, 1);
    },
  );
});

Deno.test("Http1Client rejects 101 and invalid framing with a protocol error", async (t) => {
  const cases: [string, string | Uint8Array][] = [
    ["101", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n"],
    ["CL and TE", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"],
    ["two Content-Lengths", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabc"],
    ["bad Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"],
    ["bad status line", "HTTP/2 200 OK\r\n\r\n"],
    ["header without colon", "HTTP/1.1 200 OK\r\nNoColon\r\n\r\n"],
    ["space before colon", "HTTP/1.1 200 OK\r\nX : y\r\nContent-Length: 0\r\n\r\n"],
    ["obs-fold", "HTTP/1.1 200 OK\r\nX: y\r\n  z\r\nContent-Length: 0\r\n\r\n"],
    ["head over 64 KiB", `HTTP/1.1 200 OK\r\nX: ${"a".repeat(70_000)}\r\n\r\n`],
  ];
  for (const [name, answer] of cases) {
    await t.step(name, async () => {
      await withRaw(() => answer, async (server, client) => {
        const error = await client.request(server.origin, { method: "GET", path: "/", headers: [] })
          .then(() => undefined, (e) => e);
        assert.ok(error instanceof Http1Error, String(error));
        assert.equal(error.code, "protocol");
      });
    });
  }
  const bodyCases: [string, string][] = [
    [
      "bad chunk size",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
    ],
    ["missing CRLF after chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX"],
    [
      "huge chunk size",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n",
    ],
  ];
  for (const [name, answer] of bodyCases) {
    await t.step(name, async () => {
      await withRaw(() => answer, async (server, client) => {
        const res = await client.request(server.origin, { method: "GET", path: "/", headers: [] });
        const error = await readAll(res).then(() => undefined, (e) => e);
        assert.ok(error instanceof Http1Error, String(error));
        assert.equal(error.code, "protocol");
      });
    });
  }
});

Deno.test("Http1Client reports a body cut short by close as a closed error", async () => {
  const server = new RawServer(async (conn, reader) => {
    await reader.read();
    await writeAll(conn, enc.encode("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"));
  });
  const client = new Http1Client();
  try {
    const res = await client.request(server.origin, { method: "GET", path: "/", headers: [] });
    await assert.rejects(readAll(res), (e) => e instanceof Http1Error && e.code === "closed");
  } finally {
    await client.close();
    await server.close();
  }
});

Deno.test("Http1Client honours Connection: close from the server and from the request", async () => {
  await withRaw(
    (req) =>
      req.head.includes("/close")
        ? "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"
        : OK,
    async (server, client) => {
      await readAll(
        await client.request(server.origin, { method: "GET", path: "/close", headers: [] }),
      );
      await readAll(await client.request(server.origin, { method: "GET", path: "/", headers: [] }));
      assert.equal(server.accepted, 2);
      await readAll(
        await client.request(server.origin, {
          method: "GET",
          path: "/",
          headers: [["Connection", "close"]],
        }),
      );
      await readAll(await client.request(server.origin, { method: "GET", path: "/", headers: [] }));
      assert.equal(server.accepted, 3);
    },
  );
});

Deno.test("Http1Client drops a pooled connection the server closed while idle", async () => {
  const server = new RawServer(async (conn, reader) => {
    await reader.read();
    await writeAll(conn, enc.encode(OK));
    // then close while the client holds it idle
  });
  const client = new Http1Client();
  try {
    await readAll(await client.request(server.origin, { method: "GET", path: "/", headers: [] }));
    await delay(30);
    assert.equal(client.idleConnections, 0);
    const res = await client.request(server.origin, { method: "GET", path: "/", headers: [] });
    assert.equal(await text(res), "ok");
    assert.equal(server.accepted, 2);
  } finally {
    await client.close();
    await server.close();
  }
});

Deno.test("Http1Client never re-sends a request the server may have read (no duplicate delivery)", async (t) => {
  // Each connection answers its first request, then closes on reading the second.
  const respond = (_req: RawRequest, _conn: number, reqIndex: number) => reqIndex === 0 ? OK : null;

  await t.step("whole body read, then the connection closes: an error, not a retry", async () => {
    await withRaw(respond, async (server, client) => {
      await readAll(await client.request(server.origin, { method: "GET", path: "/", headers: [] }));
      const error = await client.request(server.origin, {
        method: "POST",
        path: "/",
        headers: [],
        body: enc.encode("again"),
      }).then(() => undefined, (e) => e);
      assert.ok(error instanceof Http1Error, String(error));
      assert.equal(error.code, "closed");
      assert.equal(server.accepted, 1, "no second connection");
      assert.equal(server.requests.length, 2, "the POST reached the server exactly once");
    });
  });

  await t.step("streaming body: not retried", async () => {
    await withRaw(respond, async (server, client) => {
      await readAll(await client.request(server.origin, { method: "GET", path: "/", headers: [] }));
      const error = await client.request(server.origin, {
        method: "POST",
        path: "/",
        headers: [],
        body: pieces(enc.encode("streamed"), 3),
      }).then(() => undefined, (e) => e);
      assert.ok(error instanceof Http1Error, String(error));
      assert.equal(error.code, "closed");
      assert.equal(server.accepted, 1);
    });
  });

  await t.step("fresh connection: not retried", async () => {
    await withRaw(() => null, async (server, client) => {
      const error = await client.request(server.origin, { method: "GET", path: "/", headers: [] })
        .then(() => undefined, (e) => e);
      assert.ok(error instanceof Http1Error, String(error));
      assert.equal(error.code, "closed");
      assert.equal(server.accepted, 1);
    });
  });
});

Deno.test("Http1Client closes idle connections after the idle timeout", async () => {
  const server = RawServer.answering(() => OK);
  const client = new Http1Client({ idleTimeout: 100 });
  try {
    await readAll(await client.request(server.origin, { method: "GET", path: "/", headers: [] }));
    assert.equal(client.idleConnections, 1);
    await delay(250);
    assert.equal(client.idleConnections, 0);
    await readAll(await client.request(server.origin, { method: "GET", path: "/", headers: [] }));
    assert.equal(server.accepted, 2);
  } finally {
    await client.close();
    await server.close();
  }
});

Deno.test("Http1Client errors are typed: connect, timeout, aborted mid-body", async (t) => {
  await t.step("connection refused → connect", async () => {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = listener.addr.port;
    listener.close();
    const client = new Http1Client();
    const error = await client.request(new URL(`http://127.0.0.1:${port}`), {
      method: "GET",
      path: "/",
      headers: [],
    }).then(() => undefined, (e) => e);
    assert.ok(error instanceof Http1Error, String(error));
    assert.equal(error.code, "connect");
    await client.close();
  });

  await t.step("no answer within the signal's timeout → timeout", async () => {
    await assertTimesOutUnanswered({ signal: AbortSignal.timeout(50) });
  });

  await t.step("abort while the body streams → aborted, connection destroyed", async () => {
    let closedByClient: boolean | string = false;
    const server = new RawServer(async (conn, reader) => {
      await reader.read();
      await writeAll(conn, enc.encode("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc"));
      closedByClient = await reader.read().then((r) => r === null, (e) => String(e));
    });
    const client = new Http1Client();
    const controller = new AbortController();
    const res = await client.request(server.origin, {
      method: "GET",
      path: "/",
      headers: [],
      signal: controller.signal,
    });
    const first = await res.body.read();
    assert.equal(dec.decode(first!), "abc");
    setTimeout(() => controller.abort(), 10);
    const error = await res.body.read().then(() => undefined, (e) => e);
    assert.ok(error instanceof Http1Error, String(error));
    assert.equal(error.code, "aborted");
    await client.close();
    for (let i = 0; i < 100 && closedByClient === false; i++) await delay(5);
    await server.close();
    assert.equal(closedByClient, true);
  });
});

Deno.test("Http1Abort aborts like a signal: before, awaiting the head, mid-body, not after", async (t) => {
  await t.step("aborted before the request → aborted, nothing sent", async () => {
    const abort = new Http1Abort();
    abort.abort(new Error("no"));
    const client = new Http1Client();
    const error = await client.request(new URL("http://127.0.0.1:9"), {
      method: "GET",
      path: "/",
      headers: [],
      abort,
    }).then(() => undefined, (e) => e);
    assert.ok(error instanceof Http1Error, String(error));
    assert.equal(error.code, "aborted");
    await client.close();
  });

  await t.step(
    "a TimeoutError while awaiting the head → timeout, connection destroyed",
    async () => {
      const abort = new Http1Abort();
      setTimeout(() => abort.abort(new DOMException("too slow", "TimeoutError")), 50);
      await assertTimesOutUnanswered({ abort });
    },
  );

  await t.step("mid-body → aborted; after the exchange → no effect", async () => {
    const server = new RawServer(async (conn, reader) => {
      await reader.read();
      await writeAll(conn, enc.encode("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc"));
      await reader.read();
    });
    const client = new Http1Client();
    const abort = new Http1Abort();
    const res = await client.request(server.origin, {
      method: "GET",
      path: "/",
      headers: [],
      abort,
    });
    assert.equal(dec.decode((await res.body.read())!), "abc");
    setTimeout(() => abort.abort(), 10);
    const error = await res.body.read().then(() => undefined, (e) => e);
    assert.ok(error instanceof Http1Error, String(error));
    assert.equal(error.code, "aborted");
    await client.close();
    await server.close();

    const app = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      () => new Response("ok"),
    );
    const done = new Http1Abort();
    const client2 = new Http1Client();
    const origin = new URL(`http://127.0.0.1:${app.addr.port}`);
    const ok = await client2.request(origin, {
      method: "GET",
      path: "/",
      headers: [],
      abort: done,
    });
    assert.equal(await text(ok), "ok");
    done.abort();
    assert.equal(client2.idleConnections, 1);
    await client2.close();
    await app.shutdown();
  });
});

Deno.test("Http1Body.takeBuffered({ view: true }) gives the bytes without a copy, then reuses the connection", async () => {
  const app = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response("ok!"),
  );
  const client = new Http1Client();
  const origin = new URL(`http://127.0.0.1:${app.addr.port}`);
  for (let i = 0; i < 3; i++) {
    const res = await client.request(origin, { method: "GET", path: "/", headers: [] });
    const view = res.body.takeBuffered({ view: true })!;
    assert.equal(dec.decode(view), "ok!");
    assert.ok(view.buffer.byteLength > view.length, "a view of the read buffer");
    assert.equal(res.body.takeBuffered(), undefined);
    await Promise.resolve(); // released once the synchronous run is over
    assert.equal(client.idleConnections, 1);
  }
  await client.close();
  await app.shutdown();
});

Deno.test("Http1Client against Deno.serve: repeats, gzip untouched, 5 MiB both ways, reuse", async () => {
  const ports = new Set<number>();
  const gzipped = new Uint8Array(
    await new Response(
      new Blob([enc.encode("x".repeat(10_000))]).stream().pipeThrough(
        new CompressionStream("gzip"),
      ),
    ).arrayBuffer(),
  );
  const seen: [string, string][][] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req, info) => {
    ports.add(info.remoteAddr.port);
    seen.push([...req.headers]);
    const url = new URL(req.url);
    if (url.pathname === "/gzip") {
      return new Response(gzipped, {
        headers: { "content-encoding": "gzip", "content-type": "text/plain" },
      });
    }
    if (url.pathname === "/cookies") {
      const headers = new Headers();
      headers.append("set-cookie", "a=1");
      headers.append("x-one", "1");
      headers.append("set-cookie", "b=2");
      return new Response("c", { headers });
    }
    if (url.pathname === "/whole") return req.arrayBuffer().then((b) => new Response(b));
    return new Response(req.body); // streams back, chunked
  });
  const origin = new URL(`http://127.0.0.1:${server.addr.port}`);
  const client = new Http1Client();
  try {
    const cookies = await client.request(origin, { method: "GET", path: "/cookies", headers: [] });
    await readAll(cookies);
    assert.ok(cookies.headers.some(([n, v]) => n === "x-one" && v === "1"));
    assert.deepEqual(cookies.headers.filter(([n]) => n === "set-cookie").map(([, v]) => v), [
      "a=1",
      "b=2",
    ]);

    const gz = await client.request(origin, {
      method: "GET",
      path: "/gzip",
      headers: [["accept-encoding", "gzip"]],
    });
    assert.ok(gz.headers.some(([n, v]) => n === "content-encoding" && v === "gzip"));
    assert.deepEqual(await readAll(gz), gzipped);
    assert.equal(seen[1].find(([n]) => n === "accept-encoding")?.[1], "gzip");
    assert.equal(seen[1].find(([n]) => n === "user-agent"), undefined);

    const big = randomBytes(5 * 1024 * 1024);
    const whole = await client.request(origin, {
      method: "POST",
      path: "/whole",
      headers: [["content-type", "application/octet-stream"]],
      body: big,
    });
    assert.ok(whole.headers.some(([n, v]) => n === "content-length" && v === String(big.length)));
    assert.deepEqual(await readAll(whole), big);

    const streamed = await client.request(origin, {
      method: "POST",
      path: "/echo",
      headers: [],
      body: pieces(big, 60_000),
    });
    assert.ok(streamed.headers.some(([n, v]) => n === "transfer-encoding" && v === "chunked"));
    assert.deepEqual(await readAll(streamed), big);

    // hyper answers `Connection: close` when it replied before reading the whole streamed body.
    const before = ports.size;
    for (let i = 0; i < 10; i++) {
      const res = await client.request(origin, {
        method: "POST",
        path: "/echo",
        headers: [],
        body: enc.encode(`n${i}`),
      });
      assert.equal(await text(res), `n${i}`);
    }
    assert.ok(ports.size <= before + 1, `${ports.size - before} connections for 10 requests`);

    const parallel = await Promise.all(
      Array.from(
        { length: 4 },
        (_, i) =>
          client.request(origin, {
            method: "POST",
            path: "/echo",
            headers: [],
            body: enc.encode(`${i}`),
          })
            .then(text),
      ),
    );
    assert.deepEqual(parallel, ["0", "1", "2", "3"]);
    assert.ok(ports.size <= before + 4);
  } finally {
    await client.close();
    await server.shutdown();
  }
});

Deno.test("Http1Client frames streamed bodies: chunked when unknown, raw under a given Content-Length", async () => {
  await withRaw(() => OK, async (server, client) => {
    const port = server.listener.addr.port;
    await readAll(
      await client.request(server.origin, {
        method: "PUT",
        path: "/s",
        headers: [["x", "1"]],
        body: pieces(enc.encode("hello world"), 4),
      }),
    );
    assert.equal(
      server.requests[0].head,
      `PUT /s HTTP/1.1\r\nx: 1\r\nhost: 127.0.0.1:${port}\r\ntransfer-encoding: chunked\r\n\r\n`,
    );
    assert.equal(dec.decode(server.requests[0].body), "hello world");
    await readAll(
      await client.request(server.origin, {
        method: "PUT",
        path: "/s",
        headers: [["Content-Length", "11"]],
        body: pieces(enc.encode("hello world"), 4),
      }),
    );
    assert.equal(
      server.requests[1].head,
      `PUT /s HTTP/1.1\r\nContent-Length: 11\r\nhost: 127.0.0.1:${port}\r\n\r\n`,
    );
    assert.equal(dec.decode(server.requests[1].body), "hello world");
    assert.equal(server.accepted, 1);
  });
});

Deno.test("Http1Client treats a 205 answer as bodiless even when the server sends one", async () => {
  await withRaw(
    () => "HTTP/1.1 205 Reset Content\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
    async (server, client) => {
      const res = await client.request(server.origin, { method: "POST", path: "/", headers: [] });
      assert.equal(res.status, 205);
      assert.equal(await text(res), "");
    },
  );
});
