/**
 * Bounded chaos (issue 13): 3 replicas and 5 clients on loopback (127.0.0.193–195) under a steady
 * webhook load, while replicas are SIGSTOPped, SIGKILLed and restarted and clients restarted, in
 * an order drawn from a seeded RNG (`CHAOS_SEED=<n>` replays a run; the seed is printed).
 * Checks: no webhook reaches the app twice, every 2xx the sender got is the app's answer to that
 * very request, the long-lived processes (replica 0, client 0) leak no file descriptors, and the
 * cluster view converges within 10 s after the chaos stops.
 *
 * Actions run one after another, at most one replica down or stopped at a time, so the run is
 * bounded (≈ 35 s) and does not depend on how fast the 2 shared cores are.
 *
 * @module
 */
import assert from "node:assert/strict";
import { seededRandom } from "../cluster/_random.ts";
import {
  type ClientProc,
  freePorts,
  type ServerProc,
  startApp,
  startClientProc,
  startServerProc,
  tempStateFile,
  waitUntil,
} from "./_harness.ts";

const HOSTS = ["127.0.0.193", "127.0.0.194", "127.0.0.195"];
const CLIENTS = 5;
/** How long actions are drawn, ms. */
const CHAOS_MS = 22_000;
/** The cluster view must agree again within this long after the chaos, ms. */
const CONVERGE_MS = 10_000;
/** Concurrent senders. */
const SENDERS = 4;
/** Open descriptors a long-lived process may hold beyond its start (keep-alive pools). */
const FD_SLACK = 16;

async function fdCount(pid: number): Promise<number> {
  let count = 0;
  for await (const _ of Deno.readDir(`/proc/${pid}/fd`)) count++;
  return count;
}

/** Resolves after `ms` (pacing of the chaos itself, not a wait for a condition). */
function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

Deno.test("chaos: replicas stopped, killed and restarted, clients restarted, under load: no duplicate, no forged 2xx, no fd leak, the view converges", async () => {
  const seed = Number(Deno.env.get("CHAOS_SEED") ?? Date.now() % 1_000_000);
  console.log(`chaos seed ${seed} (replay with CHAOS_SEED=${seed})`);
  const random = seededRandom(seed);
  const pick = (n: number) => Math.floor(random() * n);
  const between = (low: number, high: number) => low + random() * (high - low);

  const seen = new Map<string, number>();
  await using app = startApp(async (request) => {
    await request.body?.cancel();
    const id = request.headers.get("x-chaos-id") ?? "none";
    seen.set(id, (seen.get(id) ?? 0) + 1);
    return new Response(`app:${id}`);
  });

  const [httpPort, gossipPort] = freePorts(2, HOSTS[0]);
  const key = crypto.randomUUID();
  const seeds = HOSTS.map((host) => `${host}:${gossipPort}`).join(",");
  const startReplica = (i: number) =>
    startServerProc([
      "--memberlist-port",
      String(gossipPort),
      "--node-name",
      `replica-${i}`,
      "--join",
      seeds,
      "--channel-key",
      key,
      "--new-rate-limit",
      "0",
      "--request-timeout",
      "3s",
    ], { host: HOSTS[i], port: httpPort });
  const replicas: (ServerProc | undefined)[] = [];
  const clients: ClientProc[] = [];
  const stateFiles: string[] = [];
  const startClient = (c: number) =>
    startClientProc(`http://${HOSTS[c % HOSTS.length]}:${httpPort}`, app.url, [
      "--state-file",
      stateFiles[c],
    ]);
  const senderGone = new AbortController();
  let senders: Promise<void>[] = [];
  try {
    for (let i = 0; i < HOSTS.length; i++) replicas.push(await startReplica(i));
    for (let c = 0; c < CLIENTS; c++) stateFiles.push(await tempStateFile());
    clients.push(...await Promise.all(stateFiles.map((_, c) => startClient(c))));
    const paths = clients.map((client) => new URL(client.webhookUrl).pathname);

    // The steady load: each sender posts to a random channel through a random replica.
    const results: { id: string; status: number; body: string }[] = [];
    let next = 0;
    const send = async (worker: number) => {
      while (!senderGone.signal.aborted) {
        const id = `${worker}-${next++}`;
        const host = HOSTS[Math.floor(Math.random() * HOSTS.length)];
        const path = paths[Math.floor(Math.random() * paths.length)];
        try {
          const response = await fetch(`http://${host}:${httpPort}${path}`, {
            method: "POST",
            headers: { "x-chaos-id": id },
            body: `payload ${id}`,
            signal: AbortSignal.any([senderGone.signal, AbortSignal.timeout(5_000)]),
          });
          results.push({ id, status: response.status, body: await response.text() });
        } catch {
          // Refused, reset or timed out: no answer, nothing to check.
          await pause(50);
        }
      }
    };
    // Warm up: every channel answers through its own replica before the baseline is taken.
    await waitUntil(async () => {
      const answers = await Promise.all(
        paths.map((path, c) =>
          fetch(`http://${HOSTS[c % HOSTS.length]}:${httpPort}${path}`, {
            method: "POST",
            headers: { "x-chaos-id": `warm-${crypto.randomUUID()}` },
            body: "warm",
          }).then(async (r) => (await r.body?.cancel(), r.ok), () => false)
        ),
      );
      return answers.every(Boolean);
    }, "every channel delivers");
    const longLived = [replicas[0]!.pid, clients[0].pid];
    const fdBefore = await Promise.all(longLived.map(fdCount));
    senders = Array.from({ length: SENDERS }, (_, w) => send(w));

    // The chaos: replica 0 and client 0 are only ever stopped, never killed or restarted.
    const counts = { stop: 0, kill: 0, client: 0 };
    const chaosEnd = performance.now() + CHAOS_MS;
    while (performance.now() < chaosEnd) {
      const action = pick(3);
      if (action === 0) {
        const r = pick(HOSTS.length);
        Deno.kill(replicas[r]!.pid, "SIGSTOP");
        await pause(between(500, 2_500));
        Deno.kill(replicas[r]!.pid, "SIGCONT");
        counts.stop++;
      } else if (action === 1) {
        const r = 1 + pick(HOSTS.length - 1);
        await replicas[r]!.stop("SIGKILL");
        replicas[r] = undefined;
        await pause(between(200, 1_500));
        replicas[r] = await startReplica(r);
        counts.kill++;
      } else {
        const c = 1 + pick(CLIENTS - 1);
        await clients[c].stop("SIGTERM");
        clients[c] = await startClient(c);
        counts.client++;
      }
      await pause(between(200, 1_000));
    }
    // The last action always disturbs the view: a replica stopped long enough to be suspected or
    // declared dead, so the convergence below is measured from a real disagreement.
    const last = pick(HOSTS.length);
    Deno.kill(replicas[last]!.pid, "SIGSTOP");
    await pause(3_000);
    Deno.kill(replicas[last]!.pid, "SIGCONT");
    counts.stop++;
    console.log(`chaos actions: ${JSON.stringify(counts)}, last: SIGSTOP replica-${last} 3 s`);

    // The cluster view converges: every replica sees exactly the three, alive.
    const converged = performance.now();
    await waitUntil(
      async () => {
        const views = await Promise.all(replicas.map(async (replica) => {
          try {
            const response = await fetch(`${replica!.url}/internal/members`);
            const body = await response.json();
            return body.members.filter((m: { state: string }) => m.state === "alive")
              .map((m: { name: string }) => m.name).sort().join(",");
          } catch {
            return "unreachable";
          }
        }));
        return views.every((view) => view === "replica-0,replica-1,replica-2");
      },
      "every replica sees the three alive",
      CONVERGE_MS,
    );
    console.log(`converged ${Math.round(performance.now() - converged)} ms after the chaos`);

    senderGone.abort();
    await Promise.all(senders);
    senders = [];

    // No webhook reached the app twice; every 2xx is the app's answer to that request.
    const twice = [...seen].filter(([, n]) => n > 1);
    assert.deepEqual(twice, [], "webhooks delivered more than once");
    const ok = results.filter((r) => r.status >= 200 && r.status < 300);
    for (const r of ok) {
      assert.equal(r.body, `app:${r.id}`, `2xx for ${r.id} not from the app`);
      assert.equal(seen.get(r.id), 1, `2xx for ${r.id} the app never saw`);
    }
    const statuses: Record<number, number> = {};
    for (const r of results) statuses[r.status] = (statuses[r.status] ?? 0) + 1;
    console.log(`answers by status: ${JSON.stringify(statuses)}`);
    assert.ok(ok.length >= 50, `only ${ok.length} webhooks delivered`);

    // The long-lived processes hold no more descriptors than at the start (plus pools).
    await waitUntil(
      async () => {
        const now = await Promise.all(longLived.map(fdCount));
        return now.every((n, i) => n <= fdBefore[i] + FD_SLACK);
      },
      `fds of replica 0 and client 0 back near ${fdBefore.join(", ")}`,
      10_000,
    );
  } finally {
    senderGone.abort();
    await Promise.all(senders);
    for (const replica of replicas) {
      if (replica) Deno.kill(replica.pid, "SIGCONT");
    }
    await Promise.all([...clients, ...replicas].map((proc) => proc?.stop()));
  }
});
