/**
 * One series of a prom-client metric, updated without prom-client's per-call work. prom-client's
 * `labels(...).inc()` and `.observe()` validate the label names, hash the label object into a
 * string and look it up on every call; for the few series a webhook touches that was ~4% of the
 * server's CPU. These keep a reference to the series' entry in the metric's `hashMap` (prom-client
 * 15's storage, the version pinned in deno.json) and apply the same arithmetic prom-client does,
 * so the exposition is the one prom-client renders. The first update of a series, an invalid
 * value, and an entry that was replaced (`reset`, `remove`) take prom-client's own path.
 *
 * @module
 */
import type { Counter, Gauge, Histogram } from "prom-client";

type Labels = Record<string, string>;

/** prom-client 15's storage of a metric's series. */
interface Stored<E> {
  hashMap: Record<string, E>;
}

interface ValueEntry {
  labels: Labels;
  value: number;
}

interface HistogramEntry {
  labels: Labels;
  sum: number;
  count: number;
  bucketValues: Record<string, number>;
}

/** Finds the key and entry of the series with exactly `labels`. */
function find<E extends { labels: Labels }>(
  map: Record<string, E>,
  labels: Labels,
): [string, E] | undefined {
  const names = Object.keys(labels);
  for (const key in map) {
    const entry = map[key];
    const stored = entry.labels;
    if (
      Object.keys(stored).length === names.length &&
      names.every((name) => stored[name] === labels[name])
    ) return [key, entry];
  }
  return undefined;
}

/** A counter (or gauge) series; see the module doc. */
export class ValueSeries {
  #metric: Counter<string> | Gauge<string>;
  #labels: Labels;
  #map: Record<string, ValueEntry>;
  #key = "";
  #entry: ValueEntry | undefined;

  /**
   * @param metric The counter or gauge.
   * @param labels The series' labels (`{}` for a metric without labels).
   */
  constructor(metric: Counter<string> | Gauge<string>, labels: Labels) {
    this.#metric = metric;
    this.#labels = labels;
    this.#map = (metric as unknown as Stored<ValueEntry>).hashMap;
  }

  /**
   * Adds to the series, as `metric.inc(labels, value)` does.
   * @param value How much (≥ 0, finite). @default 1
   */
  inc(value = 1): void {
    const entry = this.#entry;
    if (
      entry !== undefined && value >= 0 && value < Infinity && this.#current() === entry
    ) {
      entry.value += value;
      return;
    }
    this.#metric.inc(this.#labels, value);
    this.#locate();
  }

  /**
   * Subtracts from a gauge series, as `gauge.dec(labels, value)` does.
   * @param value How much. @default 1
   */
  dec(value = 1): void {
    const entry = this.#entry;
    if (entry !== undefined && typeof value === "number" && this.#current() === entry) {
      entry.value += -value;
      return;
    }
    (this.#metric as Gauge<string>).dec(this.#labels, value);
    this.#locate();
  }

  #current(): ValueEntry | undefined {
    const metric = this.#metric as unknown as Stored<ValueEntry>;
    if (metric.hashMap !== this.#map) return undefined;
    return this.#map[this.#key];
  }

  #locate(): void {
    this.#map = (this.#metric as unknown as Stored<ValueEntry>).hashMap;
    const found = find(this.#map, this.#labels);
    [this.#key, this.#entry] = found ?? ["", undefined];
  }
}

/** A histogram series; see the module doc. */
export class HistogramSeries {
  #metric: Histogram<string>;
  #labels: Labels;
  #bounds: Float64Array;
  #boundKeys: string[];
  #map: Record<string, HistogramEntry>;
  #key = "";
  #entry: HistogramEntry | undefined;

  /**
   * @param metric The histogram.
   * @param labels The series' labels (`{}` for a histogram without labels).
   */
  constructor(metric: Histogram<string>, labels: Labels) {
    this.#metric = metric;
    this.#labels = labels;
    const bounds = (metric as unknown as { upperBounds: readonly number[] }).upperBounds;
    this.#bounds = Float64Array.from(bounds);
    this.#boundKeys = bounds.map(String);
    this.#map = (metric as unknown as Stored<HistogramEntry>).hashMap;
  }

  /**
   * Records one observation, as `histogram.observe(labels, value)` does.
   * @param value The value (finite).
   */
  observe(value: number): void {
    const entry = this.#entry;
    const metric = this.#metric as unknown as Stored<HistogramEntry>;
    if (
      entry !== undefined && Number.isFinite(value) && metric.hashMap === this.#map &&
      this.#map[this.#key] === entry
    ) {
      const bounds = this.#bounds;
      entry.sum += value;
      entry.count += 1;
      for (let i = 0; i < bounds.length; i++) {
        if (value <= bounds[i]) {
          entry.bucketValues[this.#boundKeys[i]] += 1;
          break;
        }
      }
      return;
    }
    this.#metric.observe(this.#labels, value);
    this.#map = metric.hashMap;
    const found = find(this.#map, this.#labels);
    [this.#key, this.#entry] = found ?? ["", undefined];
  }
}
