/**
 * Virtual time for the simulation: one event heap, per-node clocks, and stalls (a stalled node's
 * events wait until the stall ends, as a blocked event loop would).
 *
 * @module
 */

import type { Clock, TimerHandle } from "../_clock.ts";

interface SimEvent {
  time: number;
  seq: number;
  owner: SimOwner | undefined;
  fn: () => void;
  cancelled: boolean;
}

/** Something whose events can be stalled (a simulated node). */
export interface SimOwner {
  /** Virtual time until which this owner's events are held back. */
  stalledUntil: number;
  /** True once the owner is gone: its events are dropped. */
  dead: boolean;
}

/** Deterministic discrete-event scheduler with a virtual millisecond clock. */
export class Scheduler {
  #now = 0;
  #seq = 0;
  #heap: SimEvent[] = [];
  #timers = new Map<number, SimEvent>();
  #nextId = 1;
  #executed = 0;

  /** Current virtual time (ms). */
  get now(): number {
    return this.#now;
  }

  /** Events run so far. */
  get executed(): number {
    return this.#executed;
  }

  /** Runs `fn` at virtual time `time` (not before now) on behalf of `owner`. */
  at(time: number, owner: SimOwner | undefined, fn: () => void): SimEvent {
    const ev: SimEvent = {
      time: Math.max(time, this.#now),
      seq: this.#seq++,
      owner,
      fn,
      cancelled: false,
    };
    this.#push(ev);
    return ev;
  }

  /** A {@linkcode Clock} whose timers belong to `owner`. */
  clockFor(owner: SimOwner): Clock {
    return {
      now: () => this.#now,
      setTimer: (ms: number, fn: () => void): TimerHandle => {
        const id = this.#nextId++;
        const ev = this.at(this.#now + Math.max(0, ms), owner, () => {
          this.#timers.delete(id);
          fn();
        });
        this.#timers.set(id, ev);
        return id;
      },
      clearTimer: (handle: TimerHandle) => {
        if (typeof handle !== "number") return;
        const ev = this.#timers.get(handle);
        if (ev === undefined) return;
        ev.cancelled = true;
        this.#timers.delete(handle);
      },
    };
  }

  /**
   * Runs events until virtual time `until` or until `stop()` returns true (checked after each
   * event). Bounded by `maxEvents` so a bug cannot loop forever.
   *
   * @returns True when `stop` ended the run.
   */
  run(until: number, stop?: () => boolean, maxEvents = 50_000_000): boolean {
    let budget = maxEvents;
    while (this.#heap.length > 0 && budget-- > 0) {
      const ev = this.#heap[0];
      if (ev.time > until) break;
      this.#pop();
      if (ev.cancelled) continue;
      const owner = ev.owner;
      if (owner?.dead) continue;
      if (owner !== undefined && owner.stalledUntil > ev.time) {
        // Keep the original sequence so held-back events run in their original order.
        ev.time = owner.stalledUntil;
        this.#push(ev);
        continue;
      }
      this.#now = ev.time;
      this.#executed++;
      ev.fn();
      if (stop?.()) return true;
    }
    if (budget <= 0) throw new Error(`Simulation exceeded ${maxEvents} events`);
    this.#now = Math.max(this.#now, until);
    return false;
  }

  #less(a: SimEvent, b: SimEvent): boolean {
    return a.time < b.time || (a.time === b.time && a.seq < b.seq);
  }

  #push(ev: SimEvent): void {
    const h = this.#heap;
    h.push(ev);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.#less(h[i], h[p])) break;
      [h[i], h[p]] = [h[p], h[i]];
      i = p;
    }
  }

  #pop(): void {
    const h = this.#heap;
    const last = h.pop()!;
    if (h.length === 0) return;
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1, r = l + 1;
      let m = i;
      if (l < h.length && this.#less(h[l], h[m])) m = l;
      if (r < h.length && this.#less(h[r], h[m])) m = r;
      if (m === i) break;
      [h[i], h[m]] = [h[m], h[i]];
      i = m;
    }
  }
}
