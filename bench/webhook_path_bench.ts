/**
 * Per-call CPU of the server's webhook path without sockets (`deno bench bench/webhook_path_bench.ts`):
 * a 1 KiB webhook through the route table, the tunnel session and an in-memory client that
 * answers at once, and the HTTP/1.1 head parser and answer serializer on their own. The figures
 * say where a webhook's server CPU goes besides the kernel's socket work.
 *
 * @module
 */
import { configure } from "@logtape/logtape";
import { logFormatter } from "../cli/logging.ts";
import {
  type BodyReader,
  parseRequestHead,
  Reply,
  replyHead,
  ServerRequest,
} from "../http1/mod.ts";
import { encodeResponseHead, TunnelSession, type TunnelStream } from "../protocol/mod.ts";
import { testApp } from "../server/_test_app.ts";

const encoder = new TextEncoder();
const BODY = new Uint8Array(1024).fill(97);
const HEAD = encoder.encode(
  "POST /webhook/ID HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: GitHub-Hookshot/abc\r\n" +
    "Content-Type: application/json\r\nX-GitHub-Event: push\r\n" +
    "X-GitHub-Delivery: 72d3162e-cc78-11e3-81ab-4c9367dc0958\r\n" +
    "X-Hub-Signature-256: sha256=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\r\n" +
    "Content-Length: 1024\r\n\r\n",
);

/** The server's access lines go to a sink that drops them (the formatting still runs). */
const format = logFormatter("text");
await configure({
  sinks: { null: (record) => void format(record) },
  loggers: [
    { category: ["logtape", "meta"], lowestLevel: "warning", sinks: [] },
    { category: ["wow"], lowestLevel: "info", sinks: ["null"] },
  ],
}).catch(() => {});

const { ctx, app } = testApp({ requestTimeout: 30_000 });
const id = ctx.secrets.issueId();
const head = parseRequestHead(HEAD);
const target = `/webhook/${id}`;

// An in-memory client that answers every stream at once: 200, 3 bytes.
const ends: { server?: TunnelSession; client?: TunnelSession } = {};
const answerHead = encodeResponseHead({ status: 200, headers: [["content-type", "text/plain"]] });
const OK = encoder.encode("ok\n");
ends.server = new TunnelSession({
  send: (m) => ends.client!.receive(m.slice()),
  bufferedAmount: 0,
}, { role: "server" });
ends.client = new TunnelSession({
  send: (m) => ends.server!.receive(m.slice()),
  bufferedAmount: 0,
}, {
  role: "client",
  onStream: async (stream: TunnelStream) => {
    await stream.head;
    stream.takeBufferedBody();
    stream.sendHead(answerHead);
    stream.sendBody([OK]);
  },
});
ctx.channels.attach(id, ends.server);

/** A body already in memory, as a small webhook's is when it came with its head. */
function bufferedBody(): BodyReader {
  let taken = false;
  return {
    get done() {
      return taken;
    },
    read: () => Promise.resolve(taken ? null : (taken = true, BODY)),
    takeBuffered: () => taken ? undefined : (taken = true, BODY),
    cancel: () => {},
  };
}

/** Webhooks sent at once per bench iteration, as a busy server has them in flight together. */
const CONCURRENT = 64;

/** One webhook through the app; resolves with its reply. */
async function webhook(): Promise<void> {
  const request = new ServerRequest({
    method: "POST",
    target,
    headers: head.headers.slice(),
    host: head.host,
    scheme: "http",
    peer: "127.0.0.1",
    body: bufferedBody(),
  });
  const reply = await app.handle(request) as Reply;
  if (reply.status !== 200) throw new Error(`status ${reply.status}`);
}

Deno.bench(
  `${CONCURRENT} webhooks at once through the app, session and an in-memory client (1 KiB; divide by ${CONCURRENT})`,
  async () => {
    await Promise.all(Array.from({ length: CONCURRENT }, webhook));
  },
);

Deno.bench("parseRequestHead (8 headers)", () => {
  parseRequestHead(HEAD);
});

Deno.bench("replyHead (2 headers, 3-byte body)", () => {
  replyHead(new Reply(200, [["content-type", "text/plain"]], OK), {
    method: "POST",
    minorVersion: 1,
    keepAlive: true,
    date: "Mon, 07 Dec 2026 02:09:34 GMT",
  });
});
