import assert from "node:assert/strict";
import { promtoolCheckMetrics } from "../../tests/_metrics.ts";
import type { Registry } from "prom-client";
import {
  CHANNEL_STATES,
  clusterObserver,
  createServerMetrics,
  DISCONNECT_REASONS,
  exposedNames,
  QUEUE_DROP_REASONS,
  REFUSAL_REASONS,
  SERVER_METRICS,
  UNSUPPORTED_PROCESS_METRICS,
} from "./mod.ts";

/** The value of one series, or undefined when the series does not exist. */
async function value(
  registry: Registry,
  name: string,
  labels: Record<string, string> = {},
): Promise<number | undefined> {
  const base = name.replace(/_(bucket|sum|count)$/, "");
  const metric = registry.getSingleMetric(base);
  if (metric === undefined) return undefined;
  const data = await metric.get();
  const found = data.values.find((v) =>
    ((v as { metricName?: string }).metricName ?? data.name) === name &&
    Object.entries(labels).every(([k, l]) => String(v.labels[k]) === l) &&
    Object.keys(v.labels).filter((k) => k !== "le").length === Object.keys(labels).length
  );
  return found?.value;
}

Deno.test("SERVER_METRICS names use wow_, base units, _total only on counters, and help text", () => {
  for (const d of Object.values(SERVER_METRICS)) {
    assert.match(d.name, /^wow_[a-z][a-z_]*[a-z]$/, d.name);
    if (d.type === "counter") assert.ok(d.name.endsWith("_total"), d.name);
    else assert.ok(!d.name.endsWith("_total"), d.name);
    if (d.type === "histogram") assert.match(d.name, /_(seconds|bytes)$/, d.name);
    assert.doesNotMatch(d.name, /_(ms|milliseconds|kb|kib|mb)(_|$)/, d.name);
    assert.ok(d.help.length > 10 && !d.help.endsWith("."), d.name);
    if ("buckets" in d) {
      const b = d.buckets as readonly number[];
      assert.ok(b.every((x, i) => i === 0 || x > b[i - 1]), `${d.name} buckets ascend`);
    }
  }
});

Deno.test("createServerMetrics registers every definition with its help and labels", async () => {
  const metrics = createServerMetrics({ processMetrics: false });
  const json = await metrics.registry.getMetricsAsJSON();
  assert.deepEqual(
    json.map((m) => m.name).sort(),
    Object.values(SERVER_METRICS).map((d) => d.name).sort(),
  );
  for (const d of Object.values(SERVER_METRICS)) {
    const m = json.find((j) => j.name === d.name)!;
    assert.equal(m.help, d.help);
    assert.equal(String(m.type), d.type);
  }
});

Deno.test("createServerMetrics gives each server a registry of its own", async () => {
  const a = createServerMetrics();
  const b = createServerMetrics();
  assert.notEqual(a.registry, b.registry);
  a.webhookStarted();
  a.webhookDone("local", 200, 0.01, 5, 7);
  a.refused("draining");
  assert.equal(await value(a.registry, "wow_webhooks_total", { route: "local", code: "200" }), 1);
  assert.equal(
    await value(b.registry, "wow_webhooks_total", { route: "local", code: "200" }),
    undefined,
  );
  assert.equal(await value(a.registry, "wow_refusals_total", { reason: "draining" }), 1);
  assert.equal(await value(b.registry, "wow_refusals_total", { reason: "draining" }), 0);
  // both carry the same process metrics
  assert.ok((await a.metrics()).includes("process_resident_memory_bytes "));
  assert.ok((await b.metrics()).includes("process_resident_memory_bytes "));
});

Deno.test("ServerMetrics.webhookDone records count, duration, bytes, in-flight and relays", async () => {
  const m = createServerMetrics({ processMetrics: false });
  const r = m.registry;
  m.webhookStarted();
  m.webhookStarted();
  assert.equal(await value(r, "wow_in_flight"), 2);
  m.webhookDone("local", 200, 0.003, 1024, 2);
  assert.equal(await value(r, "wow_in_flight"), 1);
  m.webhookDone("relay", 502, 0.2, 10, 0);
  m.relayFailed();
  assert.equal(await value(r, "wow_in_flight"), 0);
  assert.equal(await value(r, "wow_webhooks_total", { route: "local", code: "200" }), 1);
  assert.equal(await value(r, "wow_webhooks_total", { route: "relay", code: "502" }), 1);
  assert.equal(await value(r, "wow_webhook_duration_seconds_count", { route: "local" }), 1);
  assert.equal(await value(r, "wow_webhook_duration_seconds_sum", { route: "relay" }), 0.2);
  const text = await m.metrics();
  assert.match(text, /wow_webhook_duration_seconds_bucket\{le="0.0025",route="local"\} 0/);
  assert.match(text, /wow_webhook_duration_seconds_bucket\{le="0.005",route="local"\} 1/);
  assert.equal(await value(r, "wow_webhook_request_bytes_total", { route: "local" }), 1024);
  assert.equal(await value(r, "wow_webhook_response_bytes_total", { route: "local" }), 2);
  assert.equal(await value(r, "wow_webhook_response_bytes_total", { route: "relay" }), undefined);
  assert.equal(await value(r, "wow_cluster_relays_total"), 1);
  assert.equal(await value(r, "wow_cluster_relay_failures_total"), 1);
  m.tunnelAdded(0.0004);
  m.tunnelAdded(-1); // clock skew: counted as 0
  assert.equal(await value(r, "wow_tunnel_added_seconds_count"), 2);
  assert.equal(await value(r, "wow_tunnel_added_seconds_sum"), 0.0004);
});

Deno.test("ServerMetrics pre-creates every closed label value at 0 and counts each", async () => {
  const m = createServerMetrics({ processMetrics: false });
  const r = m.registry;
  for (const reason of REFUSAL_REASONS) {
    assert.equal(await value(r, "wow_refusals_total", { reason }), 0, reason);
    m.refused(reason);
    assert.equal(await value(r, "wow_refusals_total", { reason }), 1, reason);
  }
  for (const reason of DISCONNECT_REASONS) {
    assert.equal(await value(r, "wow_tunnel_disconnects_total", { reason }), 0, reason);
    m.tunnelClosed(reason);
    assert.equal(await value(r, "wow_tunnel_disconnects_total", { reason }), 1, reason);
  }
  for (const reason of QUEUE_DROP_REASONS) {
    assert.equal(await value(r, "wow_queue_dropped_total", { reason }), 0, reason);
    m.queueDropped(reason, 3);
    assert.equal(await value(r, "wow_queue_dropped_total", { reason }), 3, reason);
  }
  m.tunnelOpened();
  m.probed(true);
  m.probed(false);
  m.probed(false);
  m.suspected();
  m.refuted();
  m.declaredDead();
  m.gossip("in", 100);
  m.gossip("out", 40);
  m.gossip("out", 2);
  m.badPacket();
  m.relayReceived();
  m.traefikGathered("ok", 0.02);
  m.traefikGathered("not_synced", 0);
  m.queueEnqueued();
  m.queueDelivered(2);
  m.queueRetried();
  m.queueStoreError();
  const expected: [string, Record<string, string>, number][] = [
    ["wow_tunnel_sessions_total", {}, 1],
    ["wow_cluster_probes_total", { result: "ok" }, 1],
    ["wow_cluster_probes_total", { result: "failed" }, 2],
    ["wow_cluster_suspicions_total", {}, 1],
    ["wow_cluster_refutations_total", {}, 1],
    ["wow_cluster_dead_verdicts_total", {}, 1],
    ["wow_cluster_gossip_messages_total", { direction: "in" }, 1],
    ["wow_cluster_gossip_messages_total", { direction: "out" }, 2],
    ["wow_cluster_gossip_bytes_total", { direction: "out" }, 42],
    ["wow_cluster_bad_packets_total", {}, 1],
    ["wow_cluster_relays_received_total", {}, 1],
    ["wow_traefik_config_gathers_total", { result: "ok" }, 1],
    ["wow_traefik_config_gathers_total", { result: "not_synced" }, 1],
    ["wow_traefik_config_gather_duration_seconds_count", {}, 1],
    ["wow_queue_enqueued_total", {}, 1],
    ["wow_queue_delivered_total", {}, 2],
    ["wow_queue_retried_total", {}, 1],
    ["wow_queue_store_errors_total", {}, 1],
  ];
  for (const [name, labels, n] of expected) {
    assert.equal(await value(r, name, labels), n, `${name} ${JSON.stringify(labels)}`);
  }
});

Deno.test("ServerMetrics providers feed the state gauges at scrape time", async () => {
  let attached = 2;
  const m = createServerMetrics({
    processMetrics: false,
    providers: { channels: () => ({ attached, issued: 1 }) },
  });
  const r = m.registry;
  assert.equal(await value(r, "wow_channels", { state: "attached" }), 2);
  attached = 5;
  assert.equal(await value(r, "wow_channels", { state: "attached" }), 5);
  assert.equal(await value(r, "wow_channels", { state: "detached" }), 0);
  assert.equal(await value(r, "wow_channels", { state: "issued" }), 1);
  assert.equal(await value(r, "wow_cluster_members", { state: "alive" }), 0);
  assert.equal(await value(r, "wow_queue_depth"), 0);
  m.provide({
    clusterMembers: () => ({ alive: 3, dead: 1 }),
    queue: () => ({ depth: 7, oldestAgeSeconds: 12.5, storedBytes: 4096 }),
  });
  assert.equal(await value(r, "wow_channels", { state: "attached" }), 5, "provide() keeps others");
  assert.equal(await value(r, "wow_cluster_members", { state: "alive" }), 3);
  assert.equal(await value(r, "wow_cluster_members", { state: "dead" }), 1);
  assert.equal(await value(r, "wow_cluster_members", { state: "suspect" }), 0);
  assert.equal(await value(r, "wow_queue_depth"), 7);
  assert.equal(await value(r, "wow_queue_oldest_age_seconds"), 12.5);
  assert.equal(await value(r, "wow_queue_stored_bytes"), 4096);
  const text = await m.metrics();
  for (const state of CHANNEL_STATES) {
    assert.match(text, new RegExp(`wow_channels\\{state="${state}"\\}`));
  }
});

Deno.test("ServerMetrics perChannel labels only the webhook counters; forgetChannel drops them", async () => {
  const off = createServerMetrics({ processMetrics: false });
  off.webhookStarted();
  off.webhookDone("local", 200, 0.01, 1, 1, "c1");
  assert.doesNotMatch(await off.metrics(), /channel=/);

  const m = createServerMetrics({ processMetrics: false, perChannel: true });
  const r = m.registry;
  m.webhookDone("local", 200, 0.01, 10, 20, "c1");
  m.webhookDone("local", 200, 0.01, 10, 20, "c1");
  m.webhookDone("local", 404, 0.01, 0, 5, "c2");
  assert.equal(
    await value(r, "wow_webhooks_total", { route: "local", code: "200", channel: "c1" }),
    2,
  );
  assert.equal(
    await value(r, "wow_webhook_request_bytes_total", { route: "local", channel: "c1" }),
    20,
  );
  const text = await m.metrics();
  assert.doesNotMatch(text, /wow_webhook_duration_seconds_count\{[^}]*channel/);
  m.forgetChannel("c1");
  assert.equal(
    await value(r, "wow_webhooks_total", { route: "local", code: "200", channel: "c1" }),
    undefined,
  );
  assert.equal(
    await value(r, "wow_webhook_request_bytes_total", { route: "local", channel: "c1" }),
    undefined,
  );
  assert.equal(
    await value(r, "wow_webhooks_total", { route: "local", code: "404", channel: "c2" }),
    1,
  );
  m.webhookDone("local", 200, 0.01, 1, 1, "c1"); // a new series after forgetting starts at 1
  assert.equal(
    await value(r, "wow_webhooks_total", { route: "local", code: "200", channel: "c1" }),
    1,
  );
});

Deno.test("ServerMetrics.response answers the Prometheus text format", async () => {
  const m = createServerMetrics();
  const response = await m.response();
  assert.equal(response.status, 200);
  assert.match(response.headers.get("content-type")!, /^text\/plain; version=0\.0\.4/);
  assert.match(await response.text(), /^# HELP /m);
});

Deno.test("promtool check metrics accepts a server scrape after traffic of every kind", async () => {
  const m = createServerMetrics({ perChannel: true });
  m.provide({
    channels: () => ({ attached: 1 }),
    queue: () => ({ depth: 1, oldestAgeSeconds: 2, storedBytes: 3 }),
  });
  m.tunnelOpened();
  m.tunnelClosed("client_closed");
  m.webhookStarted();
  m.webhookDone("local", 200, 0.01, 10, 20, "c1");
  m.webhookDone("relay", 503, 0.01, 10, 20);
  m.tunnelAdded(0.001);
  for (const reason of REFUSAL_REASONS) m.refused(reason);
  m.traefikGathered("ok", 0.01);
  m.gossip("in", 10);
  const result = await promtoolCheckMetrics(await m.metrics());
  assert.equal(result.code, 0, result.output);
  // and promtool does fail on a bad exposition, so the check above can fail
  const bad = await promtoolCheckMetrics("# TYPE x_total gauge\nx_total 1\n");
  assert.notEqual(bad.code, 0);
});

Deno.test("process metrics: those Deno supports report real values, unsupported ones are absent", async () => {
  const m = createServerMetrics();
  const r = m.registry;
  const names = await exposedNames(r);
  for (const name of UNSUPPORTED_PROCESS_METRICS) assert.ok(!names.has(name), name);
  assert.ok((await value(r, "process_resident_memory_bytes"))! > 10_000_000);
  assert.ok((await value(r, "process_cpu_seconds_total"))! > 0);
  assert.ok((await value(r, "process_open_fds"))! > 2);
  assert.ok((await value(r, "process_start_time_seconds"))! > 1.7e9);
  assert.ok((await value(r, "nodejs_heap_size_used_bytes"))! > 1_000_000);
  // Event-loop lag: a setImmediate round trip started at each scrape, read at the next one
  await m.metrics();
  const blockedUntil = Date.now() + 40;
  while (Date.now() < blockedUntil) { /* block the event loop */ }
  await new Promise((resolve) => setTimeout(resolve, 5));
  const lag = (await r.getSingleMetric("nodejs_eventloop_lag_seconds")!.get()).values[0].value;
  assert.ok(lag >= 0.035, `lag ${lag}`);
});

Deno.test("exposedNames adds the histogram series suffixes", async () => {
  const names = await exposedNames(createServerMetrics({ processMetrics: false }).registry);
  assert.ok(names.has("wow_webhook_duration_seconds_bucket"));
  assert.ok(names.has("wow_webhook_duration_seconds_count"));
  assert.ok(names.has("wow_webhooks_total"));
  assert.ok(!names.has("wow_webhooks_total_count"));
});

Deno.test("clusterObserver maps the cluster's counters onto the cluster metrics", async () => {
  const m = createServerMetrics({ processMetrics: false });
  const r = m.registry;
  const observer = clusterObserver(m);
  const counts: [string, number][] = [
    ["probes", 5],
    ["probeAcks", 1],
    ["probeAcks", 1],
    ["tcpFallbackSuccesses", 1],
    ["probeFailures", 1],
    ["probesInconclusive", 1],
    ["suspicions", 1],
    ["refutations", 1],
    ["deadVerdicts", 1],
    ["udpSent", 1],
    ["udpSentBytes", 100],
    ["tcpSent", 1],
    ["tcpSentBytes", 900],
    ["udpReceived", 1],
    ["udpReceivedBytes", 60],
    ["tcpReceived", 1],
    ["tcpReceivedBytes", 400],
    ["tcpReceivedBytes", 100],
    ["udpDecodeErrors", 1],
    ["udpDecryptErrors", 1],
    ["tcpDecodeErrors", 1],
    ["tcpDecryptErrors", 1],
    ["udpPartsDropped", 1],
    ["somethingElse", 7],
  ];
  for (const [name, by] of counts) observer.counted(name, by);
  const expected: [string, Record<string, string>, number][] = [
    ["wow_cluster_probes_total", { result: "ok" }, 3],
    ["wow_cluster_probes_total", { result: "failed" }, 1],
    ["wow_cluster_suspicions_total", {}, 1],
    ["wow_cluster_refutations_total", {}, 1],
    ["wow_cluster_dead_verdicts_total", {}, 1],
    ["wow_cluster_gossip_messages_total", { direction: "out" }, 2],
    ["wow_cluster_gossip_messages_total", { direction: "in" }, 2],
    ["wow_cluster_gossip_bytes_total", { direction: "out" }, 1000],
    ["wow_cluster_gossip_bytes_total", { direction: "in" }, 560],
    ["wow_cluster_bad_packets_total", {}, 4],
  ];
  for (const [name, labels, want] of expected) {
    assert.equal(await value(r, name, labels), want, `${name} ${JSON.stringify(labels)}`);
  }
});
