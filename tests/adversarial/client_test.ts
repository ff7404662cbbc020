/**
 * Adversarial suite, client side (issue 13, findings 6, 12, 13): real server and client
 * processes on loopback, fed by raw sockets where a sender misbehaves.
 */
import assert from "node:assert/strict";
import { connectWebSocket } from "../../client/_ws_client.ts";
import { MAX_MESSAGE_SIZE, PROTOCOL_HEADER, PROTOCOL_VERSION } from "../../protocol/mod.ts";
import { startApp, startClientProc, startServerProc } from "../_harness.ts";

Deno.test("client merges --target-url's query first, then the webhook's", async () => {
  const seen: string[] = [];
  await using app = startApp((request) => {
    const url = new URL(request.url);
    seen.push(url.pathname + url.search);
    return new Response("ok");
  });
  await using server = await startServerProc();
  await using client = await startClientProc(server.url, `${app.url}/hook?token=abc`);
  for (const suffix of ["/p?x=1", "/p", ""]) {
    const response = await fetch(`${client.webhookUrl}${suffix}`, { method: "POST", body: "a" });
    assert.equal(response.status, 200);
    await response.body?.cancel();
  }
  assert.deepEqual(seen, ["/hook/p?token=abc&x=1", "/hook/p?token=abc", "/hook?token=abc"]);
});

/** The server process's resident set size, bytes. */
async function rssOf(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  return Number(status.match(/VmRSS:\s+(\d+) kB/)![1]) * 1024;
}

Deno.test("server closes a tunnel with 1009 on a message over MAX_MESSAGE_SIZE", async () => {
  await using server = await startServerProc();
  const rounds = 8;
  let before = 0;
  for (let i = 0; i < rounds; i++) {
    const issued = await (await fetch(`${server.url}/new`)).json();
    const ws = await connectWebSocket(
      `${server.url.replace("http", "ws")}/ws/${issued.channel_id}`,
      {
        headers: {
          [PROTOCOL_HEADER]: String(PROTOCOL_VERSION),
          "x-channel-secret": issued.channel_secret,
        },
      },
    );
    ws.send(new Uint8Array(MAX_MESSAGE_SIZE + 1));
    const closed = await ws.closed;
    assert.equal(closed.code, 1009, `round ${i}: ${closed.code} ${closed.reason}`);
    if (i === 0) before = await rssOf(server.pid);
  }
  const growth = (await rssOf(server.pid)) - before;
  console.log(
    `server RSS growth after ${rounds - 1} oversize messages: ${(growth / 2 ** 20).toFixed(1)} MiB`,
  );
  assert.ok(growth < 8 * 2 ** 20, `RSS grew by ${growth} bytes`);
});

/** Reads one HTTP/1.1 answer with a `content-length` (the connection may stay open). */
async function readAnswer(conn: Deno.Conn): Promise<string> {
  const decoder = new TextDecoder();
  const buffer = new Uint8Array(16 * 1024);
  let text = "";
  for (;;) {
    const end = text.indexOf("\r\n\r\n");
    const length = Number(text.match(/content-length: (\d+)/i)?.[1] ?? NaN);
    if (end >= 0 && text.length - end - 4 >= length) return text;
    const n = await conn.read(buffer).catch(() => null);
    if (n === null) return text;
    text += decoder.decode(buffer.subarray(0, n), { stream: true });
  }
}

/**
 * Posts `total` bytes to `url` over a raw socket, `chunk` bytes every `everyMs`, and returns the
 * answer's status line and body; `stallAfter` stops sending (socket left open) after that many
 * bytes.
 */
async function trickle(
  url: string,
  options: { total: number; chunk: number; everyMs: number; stallAfter?: number },
): Promise<{ status: number; text: string; elapsed: number }> {
  const target = new URL(url);
  const conn = await Deno.connect({ hostname: target.hostname, port: Number(target.port) });
  const encoder = new TextEncoder();
  const started = performance.now();
  try {
    await conn.write(encoder.encode(
      `POST ${target.pathname} HTTP/1.1\r\nHost: ${target.host}\r\nContent-Length: ${options.total}\r\nConnection: close\r\n\r\n`,
    ));
    const answer = readAnswer(conn);
    const stop = options.stallAfter ?? options.total;
    for (let sent = 0; sent < stop; sent += options.chunk) {
      await conn.write(new Uint8Array(Math.min(options.chunk, stop - sent)).fill(97));
      await new Promise((resolve) => setTimeout(resolve, options.everyMs));
    }
    const text = await answer;
    const status = Number(text.match(/^HTTP\/1\.1 (\d{3})/)?.[1]);
    return { status, text, elapsed: performance.now() - started };
  } finally {
    try {
      conn.close();
    } catch {
      // Closed by the answer's end.
    }
  }
}

Deno.test("client's --transfer-request-timeout runs from the end of the upload: a slow sender to a healthy app gets 200", async () => {
  await using app = startApp(async (request) =>
    new Response(`got ${(await request.bytes()).length}`)
  );
  await using server = await startServerProc();
  await using client = await startClientProc(server.url, app.url, [
    "--transfer-request-timeout",
    "1s",
  ]);
  // About 2.5 s of upload, over twice the timeout, never silent for long: a body the server
  // streams (over 64 KiB) and one it sends whole once complete.
  for (const [total, chunk] of [[200 * 1024, 8 * 1024], [25 * 1024, 1024]]) {
    const { status, text, elapsed } = await trickle(client.webhookUrl, {
      total,
      chunk,
      everyMs: 100,
    });
    assert.ok(elapsed > 2_000, `the upload took ${elapsed} ms`);
    assert.equal(status, 200, text);
    assert.match(text, new RegExp(`got ${total}$`));
  }
});

Deno.test("client ends a stalled upload after --transfer-request-timeout with a clear error", async () => {
  await using app = startApp(async (request) =>
    new Response(`got ${(await request.bytes()).length}`)
  );
  await using server = await startServerProc();
  await using client = await startClientProc(server.url, app.url, [
    "--transfer-request-timeout",
    "1s",
  ]);
  // Over 64 KiB, so the server streams it and the client sees the stall.
  const { status, text, elapsed } = await trickle(client.webhookUrl, {
    total: 300 * 1024,
    chunk: 16 * 1024,
    everyMs: 50,
    stallAfter: 128 * 1024,
  });
  assert.equal(status, 502, text);
  assert.ok(elapsed < 10_000, `answered after ${elapsed} ms`);
  await client.waitFor(/The sender's upload stalled: no request body bytes for 1000 ms/);
});
