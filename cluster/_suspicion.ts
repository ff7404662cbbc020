/**
 * Lifeguard suspicion timer: starts long and shrinks with each independent confirmation, with
 * memberlist's formula plus our confirmed floor (see `CONFIRMED_SUSPICION_FLOOR` in
 * `defaults.ts` for why).
 *
 * @module
 */

import type { Clock, TimerHandle } from "./_clock.ts";

/** Parameters of one suspicion; all durations in ms. */
export interface SuspicionParams {
  /** Independent confirmations memberlist waits for (`SuspicionMult - 2`, 0 in tiny clusters). */
  k: number;
  /** memberlist's minimum timeout `suspicionMult · max(1, log10 n) · probeInterval`. */
  min: number;
  /** memberlist's maximum timeout, `suspicionMaxTimeoutMult · min`. */
  max: number;
  /** Our timeout once fully confirmed (≤ `min`). */
  floor: number;
}

/**
 * Parameters memberlist derives for a cluster of `n` known nodes, plus our floor.
 *
 * @param n Entries in the member list (self, alive, suspect, dead not yet reaped).
 * @param timings The knobs used.
 * @param floorMult Confirmed floor in units of `probeInterval · max(1, log10 n)`.
 */
export function suspicionParams(
  n: number,
  timings: { suspicionMult: number; suspicionMaxTimeoutMult: number; probeInterval: number },
  floorMult: number,
): SuspicionParams {
  let k = timings.suspicionMult - 2;
  if (n - 2 < k) k = 0;
  // Go truncates the node scale to ms precision.
  const scale = Math.floor(Math.max(1, Math.log10(Math.max(1, n))) * 1000) / 1000;
  const min = timings.suspicionMult * scale * timings.probeInterval;
  const max = timings.suspicionMaxTimeoutMult * min;
  const floor = Math.min(min, floorMult * scale * timings.probeInterval);
  return { k, min, max, floor };
}

/**
 * Total suspicion time after `c` confirmations (measured from the start).
 *
 * memberlist: `max - ln(c+1)/ln(k+1) · (max - min)`, truncated to ms, never below `min`; with
 * `k = 0` simply `min`. Ours: once `c ≥ max(k, 1)`, `floor`.
 */
export function suspicionTimeout(c: number, p: SuspicionParams): number {
  if (c >= Math.max(p.k, 1)) return p.floor;
  if (p.k < 1) return p.min;
  const frac = Math.log(c + 1) / Math.log(p.k + 1);
  const raw = Math.floor(p.max - frac * (p.max - p.min));
  return Math.max(p.min, raw);
}

/** Options of a {@linkcode Suspicion}. */
export interface SuspicionOptions extends SuspicionParams {
  /** Clock driving the timer. */
  clock: Clock;
  /** The original accuser (its later messages do not count as confirmations). */
  from: string;
  /** Called once when the suspicion expires. */
  onTimeout: () => void;
  /** Lateness (ms) that reveals a local stall; then the timer waits `stallGrace` more once. */
  stallLateness: number;
  /** See `stallLateness`. */
  stallGrace: number;
}

/** One running suspicion of one node. */
export class Suspicion {
  readonly #o: SuspicionOptions;
  readonly #start: number;
  readonly #confirmations = new Set<string>();
  #timer: TimerHandle | undefined;
  #due = 0;
  #graced = false;

  /** Starts the timer at `max` (or `min` when `k = 0`). */
  constructor(options: SuspicionOptions) {
    this.#o = options;
    this.#start = options.clock.now();
    this.#confirmations.add(options.from);
    this.#arm(suspicionTimeout(0, options));
  }

  /** Confirmations counted so far (excluding the original accuser). */
  get confirmations(): number {
    return this.#confirmations.size - 1;
  }

  /** Time (ms) from the start at which the suspicion currently expires. */
  get timeout(): number {
    return suspicionTimeout(this.confirmations, this.#o);
  }

  /**
   * Counts a confirmation from `from`.
   *
   * @returns True when it was new and counted (the caller re-gossips it).
   */
  confirm(from: string): boolean {
    if (this.#timer === undefined) return false;
    if (this.confirmations >= Math.max(this.#o.k, 1)) return false;
    if (this.#confirmations.has(from)) return false;
    this.#confirmations.add(from);
    this.#arm(this.timeout);
    return true;
  }

  /** Cancels the timer. */
  stop(): void {
    if (this.#timer !== undefined) this.#o.clock.clearTimer(this.#timer);
    this.#timer = undefined;
  }

  #arm(total: number): void {
    const { clock } = this.#o;
    if (this.#timer !== undefined) clock.clearTimer(this.#timer);
    this.#due = this.#start + total;
    this.#timer = clock.setTimer(Math.max(0, this.#due - clock.now()), () => this.#fire());
  }

  #fire(): void {
    const { clock } = this.#o;
    const late = clock.now() - this.#due;
    if (late > this.#o.stallLateness && !this.#graced) {
      // Our loop was stalled: a refutation may be waiting unread. Read it first.
      this.#graced = true;
      this.#timer = clock.setTimer(this.#o.stallGrace, () => this.#fire());
      return;
    }
    this.#timer = undefined;
    this.#o.onTimeout();
  }
}
