import assert from "node:assert/strict";
import { startRedis } from "../../tests/_redis.ts";
import { queueContract } from "./_contract.ts";
import { killConsumer, killMidWrite } from "./_kill.ts";
import { openRedisQueue } from "./redis.ts";
import { QueueFullError, QueueStoreError } from "./types.ts";

const HEAD = { method: "POST", target: "/", headers: [] as [string, string][] };

Deno.test("openRedisQueue meets the queue store contract", async (t) => {
  await using redis = await startRedis();
  await queueContract(t, {
    durable: true,
    open: (space, options) => openRedisQueue(redis.url, { ...options, prefix: `t:${space}:` }),
  });
});

Deno.test("openRedisQueue keeps every committed delivery whole when the writer is SIGKILLed mid-write", async () => {
  await using redis = await startRedis();
  const killed = await killMidWrite(
    ["redis", redis.url, "kill:"],
    () => openRedisQueue(redis.url, { prefix: "kill:" }),
  );
  // The killed writer's partial body is on a TTL, not kept for ever.
  const probe = await openRedisQueue(redis.url, { prefix: "kill:" });
  await probe.close();
  const conn = await Deno.connect({ hostname: redis.hostname, port: redis.port });
  try {
    const key = `kill:{killed}:b:${killed}`;
    await conn.write(new TextEncoder().encode(`PTTL ${key}\r\n`));
    const buf = new Uint8Array(64);
    const n = (await conn.read(buf))!;
    const ttl = Number(new TextDecoder().decode(buf.subarray(1, n)).trim());
    assert.ok(ttl > 0 && ttl <= 60 * 60 * 1000, `PTTL of the partial body: ${ttl}`);
  } finally {
    conn.close();
  }
});

Deno.test("openRedisQueue answers QueueFullError when Redis is out of memory", async () => {
  await using redis = await startRedis({
    args: ["--maxmemory", "3mb", "--maxmemory-policy", "noeviction"],
  });
  await using queue = await openRedisQueue(redis.url);
  let error: unknown;
  for (let i = 0; i < 50 && !error; i++) {
    try {
      await queue.enqueue("ch", { head: HEAD, body: new Uint8Array(256 * 1024) });
    } catch (e) {
      error = e;
    }
  }
  assert.ok(error instanceof QueueFullError, String(error));
  assert.match((error as Error).message, /out of memory/);
});

Deno.test("openRedisQueue fails with the URL, password hidden, when Redis is unreachable", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  await assert.rejects(
    openRedisQueue(`redis://user:secret@127.0.0.1:${port}/0`),
    (error: Error) =>
      error instanceof QueueStoreError && error.message.includes(`127.0.0.1:${port}`) &&
      !error.message.includes("secret"),
  );
});

Deno.test("openRedisQueue: a delivery enqueued through one replica is leased through another", async () => {
  await using redis = await startRedis();
  await using a = await openRedisQueue(redis.url, { prefix: "shared:" });
  await using b = await openRedisQueue(redis.url, { prefix: "shared:" });
  const { id } = await a.enqueue("ch", { head: HEAD, body: new Uint8Array([1, 2, 3]) });
  await a.setSettings("ch", { offline: "queue" });
  assert.deepEqual(await b.getSettings("ch"), { offline: "queue" });
  const [got] = await b.lease("ch", { consumer: "replica-b" });
  assert.equal(got.id, id);
  assert.deepEqual(await a.lease("ch", { consumer: "replica-a" }), []);
  assert.equal(await a.ack("ch", id), true);
  assert.deepEqual(await b.depth("ch"), { count: 0, bytes: 0 });
});

Deno.test("openRedisQueue hands a SIGKILLed replica's leased deliveries to another once the lease runs out", async () => {
  await using redis = await startRedis();
  const after = await killConsumer(
    ["redis", redis.url, "consumer:"],
    () => openRedisQueue(redis.url, { prefix: "consumer:" }),
    { openBeforeChild: true, withinMs: 10_000 },
  );
  // The child leased for 1.5 s; its deliveries cannot come back before that is over.
  assert.ok(after > 500, `came back after ${after} ms, before the lease ran out`);
});
