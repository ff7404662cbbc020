import assert from "node:assert/strict";
import { promtoolCheckMetrics } from "../tests/_metrics.ts";
import {
  CLIENT_METRICS,
  createClientMetrics,
  DELIVERY_OUTCOMES,
  NO_STATUS,
  UNSUPPORTED_CLIENT_PROCESS_METRICS,
} from "./metrics.ts";

Deno.test("CLIENT_METRICS names use wow_client_, base units and _total only on counters", () => {
  for (const d of Object.values(CLIENT_METRICS)) {
    assert.match(d.name, /^wow_client_[a-z_]*[a-z]$/, d.name);
    assert.equal(d.name.endsWith("_total"), d.type === "counter", d.name);
    if (d.type === "histogram") assert.match(d.name, /_seconds$/);
    assert.ok(d.help.length > 10 && !d.help.endsWith("."), d.name);
  }
  assert.ok(DELIVERY_OUTCOMES.includes("answered"));
  assert.ok(DELIVERY_OUTCOMES.includes("target_unreachable"));
  assert.ok(DELIVERY_OUTCOMES.includes("target_timeout"));
});

Deno.test("ClientMetrics records deliveries by outcome and status, latency, reconnects, tunnel state", async () => {
  const m = createClientMetrics({ processMetrics: false });
  m.delivered("answered", 200, 0.002);
  m.delivered("answered", 200, 0.004);
  m.delivered("answered", 500, 0.5);
  m.delivered("target_unreachable", undefined, 0.001);
  m.reconnected();
  m.tunnelUp(true);
  m.queueDrained(4);
  m.queueDropped(2);
  const text = await m.metrics();
  assert.match(text, /^wow_client_deliveries_total\{outcome="answered",code="200"\} 2$/m);
  assert.match(text, /^wow_client_deliveries_total\{outcome="answered",code="500"\} 1$/m);
  assert.match(
    text,
    new RegExp(
      `^wow_client_deliveries_total\\{outcome="target_unreachable",code="${NO_STATUS}"\\} 1$`,
      "m",
    ),
  );
  assert.match(text, /^wow_client_app_duration_seconds_count 3$/m, "only answered deliveries");
  assert.match(text, /^wow_client_app_duration_seconds_bucket\{le="0.0025"\} 1$/m);
  assert.match(text, /^wow_client_reconnects_total 1$/m);
  assert.match(text, /^wow_client_tunnel_up 1$/m);
  assert.match(text, /^wow_client_queue_drained_total 4$/m);
  assert.match(text, /^wow_client_queue_dropped_total 2$/m);
  m.tunnelUp(false);
  assert.match(await m.metrics(), /^wow_client_tunnel_up 0$/m);
});

Deno.test("createClientMetrics gives each client a registry of its own, with process metrics", async () => {
  const a = createClientMetrics();
  const b = createClientMetrics();
  a.reconnected();
  assert.match(await a.metrics(), /^wow_client_reconnects_total 1$/m);
  assert.match(await b.metrics(), /^wow_client_reconnects_total 0$/m);
  const text = await b.metrics();
  assert.match(text, /^process_resident_memory_bytes \d+$/m);
  for (const name of UNSUPPORTED_CLIENT_PROCESS_METRICS) {
    assert.ok(!text.includes(`\n${name} `) && !text.includes(`# TYPE ${name} `), name);
  }
});

Deno.test("ClientMetrics.response passes promtool check metrics", async () => {
  const m = createClientMetrics();
  for (const outcome of DELIVERY_OUTCOMES) {
    m.delivered(outcome, outcome === "answered" ? 204 : undefined, 0.01);
  }
  m.tunnelUp(true);
  const response = await m.response();
  assert.equal(response.status, 200);
  assert.match(response.headers.get("content-type")!, /^text\/plain; version=0\.0\.4/);
  const result = await promtoolCheckMetrics(await response.text());
  assert.equal(result.code, 0, result.output);
});
