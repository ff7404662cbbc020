import assert from "node:assert/strict";
import { backoff } from "./client.ts";
import { CLIENT_DEFAULTS } from "./options.ts";

Deno.test("backoff retries first within 1 s, grows, and never exceeds the 30 s cap", () => {
  for (let i = 0; i < 1000; i++) {
    const first = backoff(0);
    assert.ok(first > 0 && first <= 1000, `first retry ${first} ms`);
    for (let attempt = 1; attempt < 40; attempt++) {
      const delay = backoff(attempt);
      assert.ok(delay <= CLIENT_DEFAULTS.reconnectMaxDelay, `attempt ${attempt}: ${delay} ms`);
    }
    assert.ok(backoff(30) >= CLIENT_DEFAULTS.reconnectMaxDelay / 2);
  }
  assert.ok(backoff(4) > backoff(0), "delays grow");
});
