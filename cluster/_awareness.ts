/**
 * Lifeguard's local health awareness: a score that grows when this node seems unhealthy
 * (missed nacks, refutations) and stretches its probe deadlines so it accuses others less.
 *
 * @module
 */

/** Local health score in `0 … max - 1` (memberlist's `awareness`). */
export class Awareness {
  #score = 0;
  readonly #max: number;

  /** @param max memberlist's `AwarenessMaxMultiplier` (score stays below it). */
  constructor(max: number) {
    this.#max = max;
  }

  /** Current score; 0 is healthy. */
  get score(): number {
    return this.#score;
  }

  /** Adds `delta` (may be negative), clamped to `0 … max - 1`. */
  apply(delta: number): void {
    this.#score = Math.min(this.#max - 1, Math.max(0, this.#score + delta));
  }

  /** `timeout × (score + 1)`. */
  scale(timeout: number): number {
    return timeout * (this.#score + 1);
  }
}
