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

const DRAINED = /is empty: webhooks pass through live/;

/** Waits until the server has logged `count` drained queues (passthrough resumed) in all. */
async function waitDrained(server: Proc, count: number): Promise<void> {
  await waitUntil(() => countLines(server, DRAINED) >= count, `${count} drained queues`);
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
    await waitDrained(server, restartServer ? 1 : 2);
    const live = await post(`${webhookUrl}/live`, new Uint8Array([1, 2, 3]));
    assert.equal(live.status, 200);
    assert.equal(live.text, "ok");
    assert.equal(received.length, bodies.length + 2);
    assert.equal(countLines(server, /not delivered/), 0);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    assert.match(metrics, new RegExp(`^wow_queue_delivered_total ${bodies.length + 1}$`, "m"));
    if (!restartServer) {
      assert.match(metrics, new RegExp(`^wow_queue_enqueued_total ${bodies.length + 1}$`, "m"));
    }
    assert.match(metrics, /^wow_queue_retried_total 0$/m);
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

/** A server with `--queue memory:` and a client attached to `targetUrl`. */
async function attached(targetUrl: string, serverArgs: string[] = [], clientArgs: string[] = []) {
  const server = await startServerProc(["--queue", "memory:", "--channel-key", KEY, ...serverArgs]);
  const stateFile = await tempStateFile();
  const client = await startClientProc(server.url, targetUrl, [
    "--state-file",
    stateFile,
    ...clientArgs,
  ]);
  return { server, client, stateFile };
}

/** Stops the client and waits until the server queues (or refuses) for the away channel. */
async function goAway(client: Proc, webhookUrl: string, expect = 202) {
  await client.stop("SIGKILL");
  await waitUntil(async () => {
    const response = await fetch(`${webhookUrl}/probe-away`, { method: "GET" });
    await response.body?.cancel();
    return response.status === expect;
  }, `the server to answer ${expect} for the away client`);
}

Deno.test("queue: the app down (connection refused) while attached gives 202; delivered in order once the app is up", async () => {
  const port = freePort();
  const target = `http://127.0.0.1:${port}`;
  const { server, client } = await attached(target);
  await using _s = server;
  await using _c = client;
  const first = await post(`${client.webhookUrl}/n0`, pseudoRandomBytes(300_000, 7));
  assert.equal(first.status, 202, first.text);
  const firstId = JSON.parse(first.text).delivery_id;
  // Queued behind the first, so order holds.
  const second = await post(`${client.webhookUrl}/n1`, pseudoRandomBytes(10, 8));
  assert.equal(second.status, 202, second.text);
  // The drain tries while the app is still down: not delivered, retried with backoff.
  await server.waitFor(
    new RegExp(`Queued webhook ${firstId} .* not delivered \\(target_unreachable`),
  );
  const received: Received[] = [];
  const app = Deno.serve({ hostname: "127.0.0.1", port, onListen: () => {} }, async (request) => {
    const body = new Uint8Array(await request.arrayBuffer());
    received.push({ path: new URL(request.url).pathname, body, headers: request.headers });
    return new Response("ok");
  });
  try {
    await waitUntil(() => received.length >= 2, "both queued webhooks", 30_000);
    await assertDeliveredInOrder(received, [
      pseudoRandomBytes(300_000, 7),
      pseudoRandomBytes(10, 8),
    ]);
    await waitUntil(
      () => countLines(server, /Delivered queued webhook/) >= 2,
      "the server to log both deliveries",
    );
    // Passthrough again: the app's answer reaches the sender.
    await waitDrained(server, 2);
    assert.equal((await post(`${client.webhookUrl}/live`, new Uint8Array(1))).status, 200);
    assert.equal(received.length, 3);
  } finally {
    await app.shutdown();
  }
});

Deno.test("queue: --offline reject keeps today's answers: 502 for an unreachable app, 503 while away", async () => {
  const target = `http://127.0.0.1:${freePort()}`;
  const { server, client } = await attached(target, [], ["--offline", "reject"]);
  await using _s = server;
  const unreachable = await post(client.webhookUrl, new Uint8Array(5));
  assert.equal(unreachable.status, 502, unreachable.text);
  await goAway(client, client.webhookUrl, 503);
  const away = await post(client.webhookUrl, new Uint8Array(5));
  assert.equal(away.status, 503);
  assert.ok(away.headers.get("retry-after"));
});

Deno.test("queue: auto mode answers 503 + Retry-After to expiring signatures (Stripe, Slack, Svix) and queues GitHub's", async () => {
  const { app } = recordingApp();
  await using _app = app;
  const { server, client } = await attached(app.url);
  await using _s = server;
  await goAway(client, client.webhookUrl);
  for (
    const header of [
      "stripe-signature",
      "x-slack-request-timestamp",
      "webhook-timestamp",
      "svix-timestamp",
    ]
  ) {
    const answer = await post(client.webhookUrl, new Uint8Array(3), { [header]: "t=1,v1=00" });
    assert.equal(answer.status, 503, header);
    assert.ok(answer.headers.get("retry-after"), header);
  }
  const github = await post(client.webhookUrl, new Uint8Array(3), {
    "x-github-event": "push",
    "x-hub-signature-256": "sha256=00",
  });
  assert.equal(github.status, 202);
});

Deno.test("queue: --queue-status 200 answers queued webhooks 200", async () => {
  const { app } = recordingApp();
  await using _app = app;
  const { server, client } = await attached(app.url, ["--queue-status", "200"]);
  await using _s = server;
  await goAway(client, client.webhookUrl, 200);
  const answer = await post(client.webhookUrl, new Uint8Array(3));
  assert.equal(answer.status, 200);
  assert.equal(JSON.parse(answer.text).queued, true);
});

Deno.test("queue: a mode the server's --offline-modes refuses stops the client with a clear error", async () => {
  const { app } = recordingApp();
  await using _app = app;
  await using server = await startServerProc(["--queue", "memory:", "--offline-modes", "reject"]);
  const { spawnMain } = await import("./_harness.ts");
  await using client = spawnMain([
    "client",
    "--server-url",
    server.url,
    "--target-url",
    app.url,
    "--state-file",
    await tempStateFile(),
    "--inspect-addr",
    "off",
    "--offline",
    "queue",
  ]);
  const status = await client.status;
  assert.notEqual(status.code, 0);
  await client.waitFor(/does not allow --offline \\"queue\\": choose one of reject/);
});

Deno.test("queue sqlite: a channel's offline mode is kept with its queue, so a restarted server applies it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "wow-queue-" });
  const { app } = recordingApp();
  await using _app = app;
  const port = freePort();
  const args = ["--queue", `sqlite:${dir}/q.db`, "--channel-key", KEY];
  let server = await startServerProc(args, { port });
  try {
    const client = await startClientProc(server.url, app.url, ["--offline", "reject"]);
    await client.stop("SIGKILL");
    await server.stop("SIGKILL");
    server = await startServerProc(args, { port });
    // Without the stored mode this restarted server would queue (its default is auto).
    const answer = await post(client.webhookUrl, new Uint8Array(3));
    assert.equal(answer.status, 503, answer.text);
  } finally {
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

/** Adds `ids` to the acked ids the client keeps for `channelId`, or (undefined) deletes them. */
async function seedAcked(stateFile: string, channelId: string, ids: string[] | undefined) {
  const path = `${stateFile}.${channelId}.acked`;
  if (ids) await Deno.writeTextFile(path, ids.map((id) => `${id}\n`).join(""), { append: true });
  else await Deno.remove(path);
}

Deno.test("queue: a crash between the app's answer and the ACK: redelivered with the same id; skipped when the state file has it acked", async () => {
  const { app, received, state } = recordingApp();
  await using _app = app;
  const { server, client, stateFile } = await attached(app.url);
  await using _s = server;
  await goAway(client, client.webhookUrl);
  const body = pseudoRandomBytes(70_000, 3);
  const queued = await post(`${client.webhookUrl}/n0`, body);
  const id = JSON.parse(queued.text).delivery_id;
  // The app holds its answer; the client is killed meanwhile (it never ACKs).
  const hold = Promise.withResolvers<Response>();
  // The probe from goAway was queued first: it is answered, the second is held.
  let calls = 0;
  state.answer = () => ++calls === 1 ? new Response("ok") : hold.promise;
  const crashing = await startClientProc(server.url, app.url, ["--state-file", stateFile]);
  await waitUntil(() => received.length >= 2, "the delivery to reach the app");
  await crashing.stop("SIGKILL");
  hold.resolve(new Response("late"));
  state.answer = () => new Response("ok");
  // Restarted with its state: the id was never acked, so it comes again, with the same id.
  const again = await startClientProc(server.url, app.url, ["--state-file", stateFile]);
  await again.waitFor(new RegExp(`queued=${id} attempt=2`));
  assert.equal(received.length, 3);
  assert.deepEqual(received[2].body, body);
  await again.stop("SIGTERM");
  // Now acked and remembered: were it handed out again, it would be skipped.
  const saved = await Deno.readTextFile(`${stateFile}.${client.channelId}.acked`);
  assert.ok(saved.split("\n").includes(id), saved);

  // A delivery whose id the state file already has (acked, the ACK lost) is skipped.
  await goAway(again, client.webhookUrl);
  const skipped = await post(`${client.webhookUrl}/skip`, new Uint8Array(4));
  const skippedId = JSON.parse(skipped.text).delivery_id;
  await seedAcked(stateFile, client.channelId, [skippedId]);
  const before = received.length;
  const third = await startClientProc(server.url, app.url, ["--state-file", stateFile]);
  await using _t = third;
  await third.waitFor(new RegExp(`Skipped queued webhook ${skippedId}`));
  await server.waitFor(new RegExp(`Delivered queued webhook ${skippedId} .*answered 0`));
  // Only the probe of goAway reached the app, not the skipped one.
  assert.deepEqual(received.slice(before).map((r) => r.path), ["/probe-away"]);
});

Deno.test("queue: without its acked ids (state lost) a redelivery reaches the app twice, with the same delivery id", async () => {
  const { app, received, state } = recordingApp();
  await using _app = app;
  const { server, client, stateFile } = await attached(app.url);
  await using _s = server;
  await goAway(client, client.webhookUrl);
  const queued = await post(`${client.webhookUrl}/n0`, new Uint8Array([9, 9]));
  const id = JSON.parse(queued.text).delivery_id;
  const hold = Promise.withResolvers<Response>();
  let calls = 0;
  state.answer = () => ++calls === 2 ? hold.promise : new Response("ok");
  const crashing = await startClientProc(server.url, app.url, ["--state-file", stateFile]);
  await waitUntil(() => received.length >= 2, "the delivery to reach the app");
  await crashing.stop("SIGKILL");
  hold.resolve(new Response("late"));
  await seedAcked(stateFile, client.channelId, undefined);
  const again = await startClientProc(server.url, app.url, ["--state-file", stateFile]);
  await using _a = again;
  await again.waitFor(new RegExp(`queued=${id} attempt=2`));
  assert.deepEqual(received.map((r) => r.path), ["/probe-away", "/n0", "/n0"]);
});

Deno.test("queue: retention drops the oldest (count, bytes, age), the client prints the dropped count; a webhook that cannot fit gets 503", async () => {
  const { app, received } = recordingApp();
  await using _app = app;
  const { server, client, stateFile } = await attached(app.url, [
    "--queue-max-count",
    "3",
    "--queue-max-bytes",
    "200KiB",
  ]);
  await using _s = server;
  await goAway(client, client.webhookUrl);
  // Count: 1 probe + 4 → the 2 oldest go.
  for (let i = 0; i < 4; i++) {
    assert.equal((await post(`${client.webhookUrl}/c${i}`, new Uint8Array(10))).status, 202);
  }
  await server.waitFor(/Retention dropped 1 queued webhooks/);
  // Bytes: a 150 KiB body leaves room for only the newest small ones.
  assert.equal((await post(`${client.webhookUrl}/big`, new Uint8Array(150 * 1024))).status, 202);
  // Never fits: 503 + Retry-After, never a 202.
  const tooBig = await post(`${client.webhookUrl}/huge`, new Uint8Array(300 * 1024));
  assert.equal(tooBig.status, 503, tooBig.text);
  assert.ok(tooBig.headers.get("retry-after"));
  const back = await startClientProc(server.url, app.url, ["--state-file", stateFile]);
  await using _b = back;
  const dropped = Number((await back.waitFor(/^Dropped (\d+) queued webhooks \(retention\)$/))[1]);
  await waitUntil(() => received.at(-1)?.path === "/big", "the newest webhook");
  const paths = received.map((r) => r.path);
  assert.equal(paths.length + dropped, 6, paths.join(","));
  assert.deepEqual(paths.slice(-1), ["/big"]);
  assert.ok(!paths.includes("/c0") && !paths.includes("/probe-away"), paths.join(","));
  const metrics = await (await fetch(`${server.url}/metrics`)).text();
  assert.match(metrics, /^wow_queue_dropped_total\{reason="max_count"\} [1-9]/m);
});

Deno.test("queue: the age bound drops webhooks older than --queue-max-age", async () => {
  const { app, received } = recordingApp();
  await using _app = app;
  const { server, client, stateFile } = await attached(app.url, ["--queue-max-age", "1s"]);
  await using _s = server;
  await goAway(client, client.webhookUrl);
  const old = await post(`${client.webhookUrl}/old`, new Uint8Array(1));
  assert.equal(old.status, 202);
  const queuedAt = Date.now();
  await waitUntil(() => Date.now() - queuedAt > 1_500, "the webhooks to age");
  const back = await startClientProc(server.url, app.url, ["--state-file", stateFile]);
  await using _b = back;
  await back.waitFor(/^Dropped 2 queued webhooks \(retention\)$/);
  await waitDrained(server, 2);
  assert.equal((await post(`${client.webhookUrl}/live`, new Uint8Array(1))).status, 200);
  assert.deepEqual(received.map((r) => r.path), ["/live"]);
});

Deno.test("queue: a queued delivery shows in the inspector's records with its delivery id (--json)", async () => {
  const { app } = recordingApp();
  await using _app = app;
  const { server, client, stateFile } = await attached(app.url);
  await using _s = server;
  await goAway(client, client.webhookUrl);
  const queued = await post(`${client.webhookUrl}/inspected`, new Uint8Array([1]));
  const id = JSON.parse(queued.text).delivery_id;
  await using back = await startClientProc(server.url, app.url, [
    "--state-file",
    stateFile,
    "--json",
  ]);
  const [line] = await back.waitFor(/^\{.*"\/inspected".*\}$/, { stream: "stdout" });
  const record = JSON.parse(line);
  assert.deepEqual(record.queued, { delivery_id: id, attempt: 1 });
  assert.equal(record.status, 200);
});

Deno.test("queue sqlite: a database that cannot be opened stops start-up with an error naming the path", async () => {
  const dir = await Deno.makeTempDir({ prefix: "wow-queue-" });
  try {
    const path = `${dir}/corrupt.db`;
    await Deno.writeTextFile(path, "this is not a sqlite database, just text ".repeat(200));
    const { spawnMain } = await import("./_harness.ts");
    await using server = spawnMain([
      "server",
      "--port",
      String(freePort()),
      "--bind-addr",
      "127.0.0.1",
      "--memberlist-port",
      String(freePort()),
      "--queue",
      `sqlite:${path}`,
    ]);
    const status = await server.status;
    assert.notEqual(status.code, 0);
    await server.waitFor(new RegExp(path.replaceAll("/", "\\/")));
    // Never silently reset.
    assert.match(await Deno.readTextFile(path), /^this is not a sqlite database/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("queue memory: logs at start that the queue is lost on restart, and a cluster warns that it is per replica", async () => {
  await using server = await startServerProc([
    "--queue",
    "memory:",
    "--join",
    `127.0.0.209:${freePort("127.0.0.209")}`,
  ], { host: "127.0.0.208" });
  await server.waitFor(/queued webhooks are lost when this server stops/);
  await server.waitFor(/queue \(memory\) is its own: .*use --queue redis:\/\/ in a cluster/);
});
