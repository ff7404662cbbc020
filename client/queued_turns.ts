/**
 * The client's sequential queue of queued deliveries: the server may send several at once (its
 * drain window), and each reaches the app only after the one before it was answered, in the
 * order the streams opened. A delivery the server marked `chained` is delivered only if the one
 * before it succeeded; otherwise the client skips it (NACK `skipped`), since the server re-sends
 * from the failed one and nothing may overtake it.
 *
 * @example
 * ```ts
 * import { QueuedTurns } from "./queued_turns.ts";
 * const turns = new QueuedTurns();
 * const a = {}, b = {};
 * const first = turns.wait(a, false); // resolves true at once
 * const second = turns.wait(b, true); // waits for a
 * await first;
 * turns.done(a, false); // a failed: b, chained, resolves false
 * console.log(await second); // false
 * ```
 *
 * @module
 */

/** Turns of queued deliveries, keyed by their stream (any object). */
export class QueuedTurns {
  /** Resolves when the last delivery that took a turn is done. */
  #tail: Promise<void> = Promise.resolve();
  /** How the last delivery that finished its turn went. */
  #lastOk = true;
  readonly #release = new Map<object, () => void>();

  /**
   * Takes a turn behind every delivery that took one before, and waits for it. Call in the
   * order the deliveries arrived.
   * @param key The delivery's stream.
   * @param chained Whether the server sent it chained behind the one before it.
   * @returns false when it is chained and the one before it failed (skip it), else true.
   */
  async wait(key: object, chained: boolean): Promise<boolean> {
    const before = this.#tail;
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#tail = promise;
    this.#release.set(key, resolve);
    await before;
    return !chained || this.#lastOk;
  }

  /**
   * Ends a delivery's turn (the next one may go); a second call, or one for a delivery that
   * took no turn, does nothing.
   * @param key The delivery's stream.
   * @param ok Whether it was acked (delivered, or already delivered before).
   */
  done(key: object, ok: boolean): void {
    const release = this.#release.get(key);
    if (!release) return;
    this.#release.delete(key);
    this.#lastOk = ok;
    release();
  }
}
