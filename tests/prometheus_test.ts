/**
 * End to end with a real Prometheus: two clustered replicas (127.0.0.174–175) serve their metrics
 * on `--metrics-addr`, a real `/usr/bin/prometheus` started by the test (free loopback port,
 * temporary storage, 1 s scrape interval, stopped at the end) ingests them, and its HTTP API
 * answers what the test did: `sum(wow_webhooks_total)` is the number of webhooks sent (each one
 * counted once, by the replica the sender reached, relayed or not), and each replica reports
 * `wow_cluster_members{state="alive"} 2` (its own view: itself and the other one).
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  freePort,
  freePorts,
  type Proc,
  type ServerProc,
  startApp,
  startClientProc,
  startServerProc,
  waitUntil,
} from "./_harness.ts";

const PROMETHEUS = "/usr/bin/prometheus";
const HOSTS = ["127.0.0.174", "127.0.0.175"];
const PROMETHEUS_HOST = "127.0.0.176";
/** Replicas that share a gossip key recognize each other's relays (whatever the source address). */
const GOSSIP_KEY = btoa("prometheus-test-gossip-key-32by!");
/** How long Prometheus may take to scrape what the test did (a few 1 s scrape intervals). */
const INGEST_TIMEOUT = 40_000;

/** A running Prometheus. */
interface Prometheus extends AsyncDisposable {
  /** Its HTTP API's base URL. */
  url: string;
}

/** Starts Prometheus scraping `targets` (`host:port`) every second, with throwaway storage. */
async function startPrometheus(targets: string[]): Promise<Prometheus> {
  const dir = await Deno.makeTempDir({ prefix: "wow-prometheus-" });
  const config = join(dir, "prometheus.yml");
  await Deno.writeTextFile(
    config,
    JSON.stringify({
      global: { scrape_interval: "1s", scrape_timeout: "900ms", evaluation_interval: "1s" },
      scrape_configs: [{ job_name: "wow", static_configs: [{ targets }] }],
    }),
  );
  const port = freePort(PROMETHEUS_HOST);
  const child = new Deno.Command(PROMETHEUS, {
    args: [
      `--config.file=${config}`,
      `--storage.tsdb.path=${join(dir, "data")}`,
      `--web.listen-address=${PROMETHEUS_HOST}:${port}`,
      "--log.level=warn",
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stderr = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  const log: string[] = [];
  (async () => {
    for (;;) {
      const { value, done } = await stderr.read();
      if (done) return;
      log.push(value);
    }
  })();
  const url = `http://${PROMETHEUS_HOST}:${port}`;
  const stop = async () => {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
    await child.status;
    await Deno.remove(dir, { recursive: true });
  };
  try {
    await waitUntil(async () => {
      try {
        const response = await fetch(`${url}/-/ready`);
        await response.body?.cancel();
        return response.ok;
      } catch {
        return false;
      }
    }, `prometheus ready on ${url}:\n${log.join("")}`);
  } catch (error) {
    await stop();
    throw error;
  }
  return { url, [Symbol.asyncDispose]: stop };
}

/** One instant-vector sample of a query result. */
interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

async function query(prometheus: Prometheus, promql: string): Promise<Sample[]> {
  const response = await fetch(
    `${prometheus.url}/api/v1/query?query=${encodeURIComponent(promql)}`,
  );
  const doc = await response.json();
  assert.equal(doc.status, "success", JSON.stringify(doc));
  return doc.data.result;
}

Deno.test("a real Prometheus scraping two replicas sees every webhook once and 2 alive members per replica", async () => {
  await using app = startApp(async (request) =>
    new Response(`got ${(await request.text()).length}`)
  );
  const [httpPort, gossipPort] = freePorts(2, HOSTS[0]);
  const metricsPorts = HOSTS.map((host) => freePort(host));
  const replicas: ServerProc[] = [];
  const procs: Proc[] = [];
  try {
    for (const [i, host] of HOSTS.entries()) {
      const replica = await startServerProc([
        "--memberlist-port",
        String(gossipPort),
        "--node-name",
        `prom-${i}`,
        "--metrics-addr",
        `${host}:${metricsPorts[i]}`,
        "--gossip-key",
        GOSSIP_KEY,
        "--log-level",
        "WARN",
        ...(i === 0 ? [] : ["--join", `${HOSTS[0]}:${gossipPort}`]),
      ], { host, port: httpPort });
      replicas.push(replica);
      procs.push(replica);
    }
    const [a, b] = replicas;
    await waitUntil(async () => {
      const response = await fetch(`${b.url}/readyz`);
      await response.body?.cancel();
      return response.ok;
    }, "the second replica synced");
    const client = await startClientProc(a.url, app.url);
    procs.push(client);
    const webhookPath = new URL(client.webhookUrl).pathname;

    // Local deliveries on the client's replica, relays through the other one, and one refusal.
    let sent = 0;
    for (const [replica, count] of [[a, 5], [b, 4]] as const) {
      for (let i = 0; i < count; i++) {
        const response = await fetch(`${replica.url}${webhookPath}/n${i}`, {
          method: "POST",
          body: "x".repeat(10 * i),
        });
        assert.equal(response.status, 200, await response.text());
        sent++;
      }
    }
    const missing = await fetch(`${a.url}/webhook/${crypto.randomUUID()}`, { method: "POST" });
    await missing.body?.cancel();
    assert.equal(missing.status, 404);
    sent++;

    await using prometheus = await startPrometheus(
      HOSTS.map((host, i) => `${host}:${metricsPorts[i]}`),
    );
    let seen = "nothing";
    const total = await waitUntil(
      async () => {
        const [sample] = await query(prometheus, "sum(wow_webhooks_total)");
        const up = await query(prometheus, "sum(up)");
        seen = `sum ${sample?.value[1]}, up ${up[0]?.value[1]}`;
        return sample && up[0]?.value[1] === "2" && Number(sample.value[1]) === sent
          ? sample
          : undefined;
      },
      `sum(wow_webhooks_total) = ${sent} in Prometheus`,
      INGEST_TIMEOUT,
    ).catch((error) => {
      throw new Error(`${error.message} (last seen: ${seen})`);
    });
    assert.equal(Number(total!.value[1]), sent);

    const relayed = await query(prometheus, 'sum(wow_webhooks_total{route="relay"})');
    assert.equal(Number(relayed[0].value[1]), 4);
    const received = await query(prometheus, "sum(wow_cluster_relays_received_total)");
    assert.equal(Number(received[0].value[1]), 4);

    const alive = await query(prometheus, 'wow_cluster_members{state="alive"}');
    assert.deepEqual(
      alive.map((s) => [s.metric.instance, s.value[1]]).sort(),
      HOSTS.map((host, i) => [`${host}:${metricsPorts[i]}`, "2"]),
    );
    // Gossip flows both ways on both replicas.
    const gossip = await query(prometheus, "wow_cluster_gossip_bytes_total > 0");
    assert.equal(gossip.length, 4, JSON.stringify(gossip.map((s) => s.metric)));
    const probes = await query(prometheus, 'sum(wow_cluster_probes_total{result="ok"})');
    assert.ok(Number(probes[0].value[1]) > 0);
  } finally {
    for (const proc of procs.reverse()) await proc.stop();
  }
});
