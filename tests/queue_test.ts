/**
 * End-to-end tests of issue #10, "No webhook lost": real server, client and app processes; the
 * server queues webhooks while the client (or its app) is away and delivers them, in order and
 * byte for byte, once it is back.
 */
import assert from "node:assert/strict";
import {
  freePort,
  type Proc,
  pseudoRandomBytes,
  startApp,
  startClientProc,
  startServerProc,
  tempStateFile,
  waitUntil,
} from "./_harness.ts";
import { startRedis } from "./_redis.ts";

const KEY = "queue-test-channel-key";
const MIB = 1024 * 1024;

/** One received webhook, as the app saw it. */
interface Received {
  path: string;
  body: Uint8Array;
  headers: Headers;
}

/** An app that records what it gets; `answer` may be replaced by a test. */
function recordingApp() {
  const received: Received[] = [];
  const state = {
    answer: (_request: Request): Response | Promise<Response> => new Response("ok"),
  };
  const app = startApp(async (request) => {
    const body = new Uint8Array(await request.arrayBuffer());
    received.push({ path: new URL(request.url).pathname, body, headers: request.headers });
    return await state.answer(request);
  });
  return { app, received, state };
}

async function sha(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Twenty bodies of mixed sizes, the largest 8 MiB, each different. */
function mixedBodies(): Uint8Array<ArrayBuffer>[] {
  const sizes = [
    0,
    1,
    17,
    1024,
    65_535,
    65_536,
    65_537,
    200_000,
    256 * 1024,
    256 * 1024 + 1,
    1 * MIB,
    3 * MIB + 5,
    8 * MIB,
    10,
    4096,
    100_000,
    2 * MIB,
    512,
    7,
    300_000,
  ];
  return sizes.map((size, i) => pseudoRandomBytes(size, i + 1));
}

async function post(url: string, body: Uint8Array<ArrayBuffer>, headers: HeadersInit = {}) {
  const response = await fetch(url, { method: "POST", body, headers });
  const text = await response.text();
  return { status: response.status, text, headers: response.headers };
}

/** Sends the bodies one after another, each expected to be queued (202 + delivery id). */
async function sendQueued(webhookUrl: string, bodies: Uint8Array<ArrayBuffer>[]) {
  const ids: string[] = [];
  for (const [i, body] of bodies.entries()) {
    const answer = await post(`${webhookUrl}/n${i}`, body);
    assert.equal(answer.status, 202, `webhook ${i}: ${answer.text}`);
    const json = JSON.parse(answer.text);
    assert.equal(json.queued, true);
    assert.match(json.delivery_id, /^[A-Za-z0-9._~-]+$/);
    ids.push(json.delivery_id);
  }
  return ids;
}

/** Asserts the app got exactly `bodies`, in order, byte for byte, once each. */
async function assertDeliveredInOrder(received: Received[], bodies: Uint8Array[]) {
  assert.deepEqual(received.map((r) => r.path), bodies.map((_, i) => `/n${i}`));
  for (const [i, body] of bodies.entries()) {
    assert.equal(received[i].body.length, body.length, `body ${i} length`);
    assert.equal(await sha(received[i].body), await sha(body), `body ${i} bytes`);
  }
}

function countLines(proc: Proc, pattern: RegExp): number {
  return proc.stderr.concat(proc.stdout).filter((line) => pattern.test(line)).length;
}

/**
 * The main scenario: client stopped → 20 webhooks (up to 8 MiB) get 202 → optionally the server
 * is SIGKILLed and restarted → client started → the app gets all 20 in order, once each.
 */
async function awayAndBack(queueUrl: string, restartServer: boolean) {
  const { app, received } = recordingApp();
  await using _app = app;
  const port = freePort();
  const serverArgs = ["--queue", queueUrl, "--channel-key", KEY];
  let server = await startServerProc(serverArgs, { port });
  try {
    const stateFile = await tempStateFile();
    const first = await startClientProc(server.url, app.url, ["--state-file", stateFile]);
    const webhookUrl = first.webhookUrl;
    await first.stop("SIGKILL");
    await waitUntil(async () => {
      const answer = await post(webhookUrl, new Uint8Array(0) as Uint8Array<ArrayBuffer>, {
        "x-probe": "1",
      });
      return answer.status === 202 ? answer : undefined;
    }, "the server to notice the client left and queue");
    // The probe is queued too: it is delivered first.
    const bodies = mixedBodies();
    await sendQueued(webhookUrl, bodies);
    assert.equal(received.length, 0);
    if (restartServer) {
      await server.stop("SIGKILL");
      server = await startServerProc(serverArgs, { port });
    }
    await using client = await startClientProc(server.url, app.url, ["--state-file", stateFile]);
    assert.equal(client.webhookUrl, webhookUrl);
    await waitUntil(() => received.length >= bodies.length + 1, "all queued webhooks", 90_000)
      .catch((error) => {
        throw new Error(
          `${error.message}: the app got ${received.length}\nserver:\n${
            server.stderr.concat(server.stdout).slice(-30).join("\n")
          }\nclient:\n${client.stderr.concat(client.stdout).slice(-30).join("\n")}`,
        );
      });
    await waitUntil(
      () => countLines(server, /Delivered queued webhook/) >= bodies.length + 1,
      "the server to log every delivery",
    );
    assert.equal(received[0].headers.get("x-probe"), "1");
    await assertDeliveredInOrder(received.slice(1), bodies);
    // Passthrough is back once the queue is empty: the app's own answer reaches the sender.
    const live = await post(`${webhookUrl}/live`, new Uint8Array([1, 2, 3]));
    assert.equal(live.status, 200);
    assert.equal(live.text, "ok");
    assert.equal(received.length, bodies.length + 2);
    assert.equal(countLines(server, /not delivered/), 0);
  } finally {
    await server.stop();
  }
}

Deno.test("queue memory: client stopped, 20 webhooks up to 8 MiB get 202, delivered in order once each", async () => {
  await awayAndBack("memory:", false);
});

Deno.test("queue sqlite: the server SIGKILLed and restarted while the client is away loses nothing", async () => {
  const dir = await Deno.makeTempDir({ prefix: "wow-queue-" });
  try {
    await awayAndBack(`sqlite:${dir}/queue.db`, true);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("queue redis: the server SIGKILLed and restarted while the client is away loses nothing", async () => {
  await using redis = await startRedis({ hostname: "127.0.0.200" });
  await awayAndBack(redis.url, true);
});
