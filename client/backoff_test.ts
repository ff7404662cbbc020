import assert from "node:assert/strict";
import { backoff } from "./client.ts";
import { CLIENT_DEFAULTS } from "./options.ts";

const SAMPLES = 2000;
const { reconnectInitialDelay: initial, reconnectMaxDelay: cap } = CLIENT_DEFAULTS;

/** The delay before jitter: doubling from the initial delay, capped. */
function base(attempt: number): number {
  return Math.min(cap, initial * 2 ** attempt);
}

Deno.test("backoff stays between half the capped base and the base (equal jitter)", () => {
  for (let attempt = 0; attempt < 40; attempt++) {
    const b = base(attempt);
    let lowest = Infinity;
    let highest = -Infinity;
    for (let i = 0; i < SAMPLES; i++) {
      const delay = backoff(attempt);
      assert.ok(
        delay >= b / 2 && delay <= b,
        `attempt ${attempt}: ${delay} ms not in [${b / 2}, ${b}]`,
      );
      lowest = Math.min(lowest, delay);
      highest = Math.max(highest, delay);
    }
    // The jitter spreads over the whole range (a fixed delay would make reconnects stampede).
    assert.ok(lowest < 0.55 * b && highest > 0.95 * b, `attempt ${attempt}: ${lowest}..${highest}`);
  }
});

Deno.test("backoff retries first within the initial delay, doubles, and reaches the cap", () => {
  for (let i = 0; i < SAMPLES; i++) {
    const first = backoff(0);
    assert.ok(first >= initial / 2 && first <= initial, `first retry ${first} ms`);
    // Each attempt's shortest delay is at least the previous attempt's longest, until the cap.
    for (let attempt = 1; base(attempt) < cap; attempt++) {
      assert.ok(backoff(attempt) >= base(attempt - 1), `attempt ${attempt} shorter than before`);
    }
    assert.ok(backoff(30) >= cap / 2 && backoff(30) <= cap);
  }
  assert.equal(base(6), cap, "the cap is reached after 6 doublings at the defaults");
});
