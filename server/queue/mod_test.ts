import assert from "node:assert/strict";
import { startRedis } from "../../tests/_redis.ts";
import { openQueue, QueueStoreError } from "./mod.ts";

Deno.test("openQueue opens the store each --queue URL names", async () => {
  const dir = await Deno.makeTempDir({ prefix: "wow-queue-mod-" });
  await using redis = await startRedis();
  try {
    for (
      const [url, kind] of [
        ["memory:", "memory"],
        [`sqlite:${dir}/q.db`, "sqlite"],
        [`sqlite://${dir}/q2.db`, "sqlite"],
        [`${redis.url}/3`, "redis"],
      ]
    ) {
      await using store = await openQueue(url);
      assert.equal(store.kind, kind, url);
    }
    await Deno.stat(`${dir}/q2.db`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("openQueue refuses unknown schemes and empty paths, hiding passwords", async () => {
  await assert.rejects(openQueue("sqlite:"), TypeError);
  await assert.rejects(
    openQueue("postgres://u:hunter2@db/x"),
    (e: Error) => e instanceof TypeError && !e.message.includes("hunter2"),
  );
  await assert.rejects(openQueue("sqlite:/nonexistent-dir/x/q.db"), QueueStoreError);
});
