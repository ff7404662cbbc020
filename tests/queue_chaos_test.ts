/**
 * Issue #10's chaos test: for 30 seconds the client and the local app are restarted at random
 * (SIGKILL for the client) while 300 webhooks arrive; afterwards every webhook the server answered
 * 202 reaches the app, and a webhook reaches it twice only when a client kill could have come
 * between the app's answer and the saved ACK (at most one per kill, deliveries being one at a
 * time).
 */
import assert from "node:assert/strict";
import { freePort, type Proc, startClientProc, startServerProc, waitUntil } from "./_harness.ts";

const CHAOS_MS = 30_000;
const WEBHOOKS = 300;

/** A small deterministic PRNG (mulberry32), so a failing run can be replayed. */
function random(seed: number): () => number {
  return () => {
    seed |= 0;
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

Deno.test("queue chaos: client and app restarted at random for 30 s, 300 webhooks: every 202 reaches the app", async () => {
  const seed = Number(Deno.env.get("WOW_CHAOS_SEED") ?? Date.now() % 100_000);
  const rand = random(seed);
  const appPort = freePort();
  const target = `http://127.0.0.1:${appPort}`;
  const received = new Map<string, number>();
  let app: Deno.HttpServer | undefined;
  const startApp = () => {
    app = Deno.serve({ hostname: "127.0.0.1", port: appPort, onListen: () => {} }, async (req) => {
      await req.arrayBuffer();
      const path = new URL(req.url).pathname;
      received.set(path, (received.get(path) ?? 0) + 1);
      return new Response("ok");
    });
  };
  startApp();
  await using server = await startServerProc(["--queue", "memory:", "--channel-key", "chaos"]);
  const stateFile = `${await Deno.makeTempDir({ prefix: "wow-chaos-" })}/state.json`;
  let client: Proc | undefined = await startClientProc(server.url, target, [
    "--state-file",
    stateFile,
  ]);
  const webhookUrl = (client as Proc & { webhookUrl: string }).webhookUrl;
  let clientKills = 0;
  let appRestarts = 0;
  const answers = new Map<string, number>();
  const started = Date.now();
  const chaos = (async () => {
    while (Date.now() - started < CHAOS_MS) {
      await new Promise((resolve) => setTimeout(resolve, 300 + rand() * 2_000));
      if (rand() < 0.5) {
        await client?.stop("SIGKILL");
        clientKills++;
        client = undefined;
        await new Promise((resolve) => setTimeout(resolve, rand() * 1_500));
        client = await startClientProc(server.url, target, ["--state-file", stateFile]);
      } else {
        await app?.shutdown();
        appRestarts++;
        await new Promise((resolve) => setTimeout(resolve, rand() * 1_500));
        startApp();
      }
    }
  })();
  const sending = (async () => {
    for (let i = 0; i < WEBHOOKS; i++) {
      const path = `/w${i}`;
      try {
        const response = await fetch(`${webhookUrl}${path}`, {
          method: "POST",
          body: `webhook ${i}`,
        });
        await response.body?.cancel();
        answers.set(path, response.status);
      } catch {
        answers.set(path, 0);
      }
      await new Promise((resolve) => setTimeout(resolve, (CHAOS_MS / WEBHOOKS) * rand() * 1.6));
    }
  })();
  try {
    await Promise.all([chaos, sending]);
    const queued = [...answers].filter(([, status]) => status === 202).map(([path]) => path);
    const live = [...answers].filter(([, status]) => status === 200).map(([path]) => path);
    await waitUntil(
      () => queued.every((path) => received.has(path)),
      `every 202'd webhook (seed ${seed}) to reach the app`,
      60_000,
    ).catch((error) => {
      const missing = queued.filter((path) => !received.has(path));
      throw new Error(`${error.message}: missing ${missing.join(",")}`);
    });
    for (const path of live) assert.ok(received.has(path), `${path} answered 200`);
    const twice = [...received].filter(([path, n]) => n > 1 && answers.get(path) === 202);
    assert.ok(
      twice.length <= clientKills,
      `seed ${seed}: ${twice.length} queued webhooks arrived twice with ${clientKills} client kills`,
    );
    assert.ok(queued.length > 0 && clientKills + appRestarts > 5, `seed ${seed}: chaos happened`);
    console.log(
      `seed ${seed}: ${queued.length} queued, ${live.length} live, ${
        WEBHOOKS - queued.length - live.length
      } refused; ${clientKills} client kills, ${appRestarts} app restarts; ${twice.length} twice`,
    );
  } finally {
    await client?.stop("SIGKILL");
    await app?.shutdown();
    await Deno.remove(stateFile.replace(/\/state\.json$/, ""), { recursive: true });
  }
});
