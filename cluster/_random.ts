/**
 * Randomness helpers over an injectable uniform source, so simulations are reproducible.
 *
 * @module
 */

/** A uniform random number in [0, 1), like `Math.random`. */
export type Random = () => number;

/**
 * A small seeded generator (mulberry32): fast, 32-bit state, good enough for simulation.
 *
 * @param seed Any integer.
 * @returns A {@linkcode Random} that yields the same sequence for the same seed.
 */
export function seededRandom(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Integer in [0, n). */
export function randomInt(random: Random, n: number): number {
  return Math.floor(random() * n);
}

/** Shuffles `items` in place (Fisher–Yates) and returns it. */
export function shuffle<T>(random: Random, items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = randomInt(random, i + 1);
    [items[i], items[j]] = [items[j], items[i]];
  }
  return items;
}

/**
 * Up to `k` distinct items that pass `accept`, chosen uniformly at random, scanning at most
 * `3 · items.length` random picks like memberlist's `kRandomNodes`, then falling back to a
 * full scan so small lists are always covered.
 */
export function pickRandom<T>(
  random: Random,
  items: readonly T[],
  k: number,
  accept: (item: T) => boolean,
): T[] {
  const picked: T[] = [];
  if (k <= 0 || items.length === 0) return picked;
  const n = items.length;
  const seen = new Set<number>();
  for (let i = 0; i < 3 * n && picked.length < k; i++) {
    const j = randomInt(random, n);
    if (seen.has(j)) continue;
    seen.add(j);
    if (accept(items[j])) picked.push(items[j]);
  }
  if (picked.length < k && seen.size < n) {
    const start = randomInt(random, n);
    for (let i = 0; i < n && picked.length < k; i++) {
      const j = (start + i) % n;
      if (seen.has(j)) continue;
      seen.add(j);
      if (accept(items[j])) picked.push(items[j]);
    }
  }
  return picked;
}
