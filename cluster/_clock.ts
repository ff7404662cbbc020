/**
 * Time source and timers, injectable so the membership engine runs unchanged on real time and
 * on the simulation's virtual clock.
 *
 * @module
 */

/** Opaque timer handle returned by {@linkcode Clock.setTimer}. */
export type TimerHandle = number | ReturnType<typeof setTimeout>;

/** Milliseconds clock plus one-shot timers. */
export interface Clock {
  /** Current time in milliseconds (monotonic). */
  now(): number;
  /** Runs `fn` once after `ms` milliseconds; returns a handle for {@linkcode Clock.clearTimer}. */
  setTimer(ms: number, fn: () => void): TimerHandle;
  /** Cancels a timer; unknown or fired handles are ignored. */
  clearTimer(handle: TimerHandle): void;
}

/** The real clock: `performance.now()` and `setTimeout`. */
export const realClock: Clock = {
  now: () => performance.now(),
  setTimer: (ms, fn) => setTimeout(fn, Math.max(0, ms)),
  clearTimer: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};
