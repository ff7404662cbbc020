import assert from "node:assert/strict";
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { HistogramSeries, ValueSeries } from "./_series.ts";

/** The same metrics in two registries: one updated through prom-client, one through series. */
function pair() {
  const make = () => {
    const registry = new Registry();
    const registers = [registry];
    return {
      registry,
      counter: new Counter({
        name: "c_total",
        help: "c",
        labelNames: ["route", "code"],
        registers,
      }),
      plain: new Counter({ name: "p_total", help: "p", registers }),
      gauge: new Gauge({ name: "g", help: "g", registers }),
      histogram: new Histogram({
        name: "h_seconds",
        help: "h",
        labelNames: ["route"],
        buckets: [0.001, 0.01, 0.1, 1],
        registers,
      }),
    };
  };
  return { viaClient: make(), viaSeries: make() };
}

Deno.test("series updates render the exposition prom-client renders", async () => {
  const { viaClient: a, viaSeries: b } = pair();
  const ok = new ValueSeries(b.counter, { route: "local", code: "200" });
  const failed = new ValueSeries(b.counter, { route: "relay", code: "502" });
  const plain = new ValueSeries(b.plain, {});
  const gauge = new ValueSeries(b.gauge, {});
  const local = new HistogramSeries(b.histogram, { route: "local" });
  let seed = 7;
  const random = () => (seed = (seed * 48271) % 2147483647) / 2147483647;
  for (let i = 0; i < 2000; i++) {
    const value = random() ** 3 * 2; // below, on and above every bucket
    a.counter.labels("local", "200").inc();
    ok.inc();
    if (i % 7 === 0) {
      a.counter.inc({ route: "relay", code: "502" }, 3);
      failed.inc(3);
    }
    a.plain.inc(i);
    plain.inc(i);
    a.gauge.inc();
    gauge.inc();
    if (i % 3 === 0) {
      a.gauge.dec();
      gauge.dec();
    }
    a.histogram.observe({ route: "local" }, value);
    local.observe(value);
    if (i === 1000) {
      // A reset replaces the stored series: the next updates start them again.
      for (const m of [a, b]) {
        m.counter.reset();
        m.histogram.reset();
      }
    }
  }
  a.histogram.observe({ route: "local" }, 0.01);
  local.observe(0.01); // exactly on a bound
  assert.equal(await b.registry.metrics(), await a.registry.metrics());
});

Deno.test("series refuse what prom-client refuses", () => {
  const { viaSeries: b } = pair();
  const counter = new ValueSeries(b.counter, { route: "local", code: "200" });
  counter.inc();
  assert.throws(() => counter.inc(-1), /not possible to decrease/);
  assert.throws(() => counter.inc(Infinity), TypeError);
  const histogram = new HistogramSeries(b.histogram, { route: "local" });
  histogram.observe(1);
  assert.throws(() => histogram.observe(NaN), TypeError);
});
