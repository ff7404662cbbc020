/**
 * The pipelined drain (issue #10, drain rate): the server sends a client that negotiated a
 * window several queued deliveries at once, and the app still gets them one after another, in
 * order and once each, when some answers are slow and the app goes away mid-drain.
 */
import assert from "node:assert/strict";
import {
  freePort,
  pseudoRandomBytes,
  startClientProc,
  startServerProc,
  tempStateFile,
  waitUntil,
} from "./_harness.ts";

const KEY = "queue-pipeline-test-key";
const COUNT = 200;
/** The app stops after answering this many, and comes back once the server saw a failure. */
const STOP_AFTER = 80;

const bodyOf = (i: number) => pseudoRandomBytes(100 + (i * 337) % 5000, i + 1);

Deno.test("queue pipeline: 200 queued webhooks, slow answers and the app stopped mid-drain: in order, once each, byte for byte", async () => {
  const dir = await Deno.makeTempDir({ prefix: "wow-queue-pipeline-" });
  const server = await startServerProc([
    "--queue",
    `sqlite:${dir}/queue.db`,
    "--channel-key",
    KEY,
  ]);
  const appPort = freePort();
  const target = `http://127.0.0.1:${appPort}`;
  const received: { path: string; body: Uint8Array }[] = [];
  let app: Deno.HttpServer | undefined;
  let stopped: { done: Promise<void> } | undefined;
  const startApp = () =>
    Deno.serve({ hostname: "127.0.0.1", port: appPort, onListen: () => {} }, async (request) => {
      const body = new Uint8Array(await request.arrayBuffer());
      const path = new URL(request.url).pathname;
      received.push({ path, body });
      const n = Number(path.slice(2));
      // Some answers are slow: the ones behind them wait at the client, not at the app.
      if (n % 25 === 3) await new Promise((resolve) => setTimeout(resolve, 150));
      if (received.length === STOP_AFTER) stopped = { done: app!.shutdown() };
      return new Response(`got ${n}`);
    });
  try {
    const stateFile = await tempStateFile();
    const first = await startClientProc(server.url, target, ["--state-file", stateFile]);
    const webhookUrl = first.webhookUrl;
    await first.stop("SIGKILL");
    await waitUntil(async () => {
      const response = await fetch(`${webhookUrl}/probe`, { method: "GET" });
      await response.body?.cancel();
      return response.status === 202;
    }, "the server to queue for the away client");
    for (let i = 0; i < COUNT; i++) {
      const response = await fetch(`${webhookUrl}/n${i}`, { method: "POST", body: bodyOf(i) });
      await response.body?.cancel();
      assert.equal(response.status, 202, `webhook ${i}`);
    }
    // The probe is delivered first.
    app = startApp();
    await using client = await startClientProc(server.url, target, ["--state-file", stateFile]);
    await server.waitFor(/queued webhooks to deliver \(64 at a time\)/);
    await waitUntil(() => stopped, "the app to stop mid-drain", 60_000).catch((error) => {
      throw new Error(
        `${error.message}: the app got ${received.length}\n${
          server.stderr.slice(-20).join("\n")
        }\n${client.stderr.slice(-20).join("\n")}`,
      );
    });
    await stopped!.done;
    await server.waitFor(/not delivered \((target_unreachable|unreachable|target_error|error)/, {
      from: 0,
    });
    app = startApp();
    await waitUntil(() => received.length >= COUNT + 1, "every queued webhook", 90_000)
      .catch((error) => {
        throw new Error(
          `${error.message}: the app got ${received.length}\n${
            server.stderr.slice(-20).join("\n")
          }\n${client.stderr.slice(-20).join("\n")}`,
        );
      });
    await waitUntil(
      () => server.stderr.concat(server.stdout).some((l) => /is empty: webhooks pass/.test(l)),
      "the queue to be empty",
    );
    const paths = received.map((r) => r.path);
    assert.deepEqual(paths, ["/probe", ...Array.from({ length: COUNT }, (_, i) => `/n${i}`)]);
    for (let i = 0; i < COUNT; i++) {
      assert.deepEqual(received[i + 1].body, bodyOf(i), `body ${i}`);
    }
  } finally {
    await app?.shutdown().catch(() => {});
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
