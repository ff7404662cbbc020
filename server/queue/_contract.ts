/**
 * The contract every queue store must meet, as one test function run against each store
 * (`memory_test.ts`, `sqlite_test.ts`, `redis_test.ts`).
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  type NewDelivery,
  QUEUE_CHUNK_SIZE,
  QueueFullError,
  type QueueStore,
  type QueueStoreOptions,
} from "./types.ts";

/** How the contract opens the store under test. */
export interface ContractTarget {
  /**
   * Opens a store. The same `space` opens the same storage again (after `close()`); a new space
   * is empty.
   */
  open(space: string, options: QueueStoreOptions): Promise<QueueStore>;
  /** Whether reopening a space finds what was stored (false for `memory:`). */
  durable: boolean;
}

/** A settable clock for the contract's stores. */
class Clock {
  t = 1_800_000_000_000;
  now = () => this.t;
  advance(ms: number): void {
    this.t += ms;
  }
}

const HEAD = { method: "POST", target: "/hook?x=1", headers: [] as [string, string][] };

function delivery(body: Uint8Array | ReadableStream<Uint8Array>, id?: string): NewDelivery {
  return { head: HEAD, body, ...(id ? { id } : {}) };
}

/** Deterministic pseudo-random bytes (xorshift), so failures are reproducible. */
export function bytesFor(seed: number, size: number): Uint8Array {
  const out = new Uint8Array(size);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/** A stream of `bytes` in pieces of `piece` bytes. */
export function streamOf(bytes: Uint8Array, piece: number): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    pull(controller) {
      if (at >= bytes.byteLength) return controller.close();
      controller.enqueue(bytes.slice(at, at + piece));
      at += piece;
    },
  });
}

/** Reads a whole body and checks no chunk exceeds {@linkcode QUEUE_CHUNK_SIZE}. */
export async function readAll(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const chunk of stream) {
    assert.ok(chunk.byteLength <= QUEUE_CHUNK_SIZE, `chunk of ${chunk.byteLength} bytes`);
    parts.push(chunk);
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.byteLength;
  }
  return out;
}

let spaces = 0;

/**
 * Runs the store contract as test steps.
 *
 * @param t The test context to add steps to.
 * @param target How to open the store under test.
 */
export async function queueContract(t: Deno.TestContext, target: ContractTarget): Promise<void> {
  const open = async (options: QueueStoreOptions = {}, space = `s${++spaces}`) => {
    const clock = new Clock();
    const store = await target.open(space, { now: clock.now, ...options });
    return { store, clock, space };
  };

  await t.step("bodies come back byte for byte: empty, binary, chunk edges, 5 MiB", async () => {
    const { store } = await open();
    try {
      const sizes = [0, 1, 255, QUEUE_CHUNK_SIZE - 1, QUEUE_CHUNK_SIZE, QUEUE_CHUNK_SIZE + 1];
      const bodies = sizes.map((size, i) => bytesFor(i + 1, size));
      const binary = new Uint8Array(256).map((_, i) => i);
      bodies.push(binary, bytesFor(99, 5 * 1024 * 1024 + 3));
      const headers: [string, string][] = [
        ["Set-Cookie", "a=1"],
        ["set-cookie", "b=2"],
        ["X-Unicode", "żółw ✓"],
        ["X-Empty", ""],
      ];
      const ids: string[] = [];
      for (const [i, body] of bodies.entries()) {
        // Even ones as bytes, odd ones streamed in awkward pieces.
        const source = i % 2 === 0 ? body : streamOf(body, i === bodies.length - 1 ? 7777 : 1);
        const { id, dropped } = await store.enqueue("bytes", {
          head: { method: "PUT", target: `/p/${i}?q=${i}`, headers },
          body: source,
          meta: { remote: "192.0.2.1", n: String(i) },
        });
        assert.equal(dropped, 0);
        ids.push(id);
      }
      assert.deepEqual(await store.depth("bytes").then((d) => d.count), bodies.length);
      for (const [i, body] of bodies.entries()) {
        const [got] = await store.lease("bytes", { consumer: "c" });
        assert.equal(got.id, ids[i]);
        assert.equal(got.channel, "bytes");
        assert.equal(got.bodySize, body.byteLength);
        assert.deepEqual(got.head, { method: "PUT", target: `/p/${i}?q=${i}`, headers });
        assert.deepEqual(got.meta, { remote: "192.0.2.1", n: String(i) });
        assert.equal(got.attempts, 1);
        const read = await readAll(store.readBody("bytes", got.id));
        assert.equal(read.byteLength, body.byteLength);
        assert.ok(read.every((b, j) => b === body[j]), `body ${i} differs`);
        // Read twice: reading does not consume.
        assert.equal((await readAll(store.readBody("bytes", got.id))).byteLength, body.byteLength);
        assert.equal(await store.ack("bytes", got.id), true);
      }
      assert.deepEqual(await store.depth("bytes"), { count: 0, bytes: 0 });
      await assert.rejects(readAll(store.readBody("bytes", ids[0])), /gone/);
    } finally {
      await store.close();
    }
  });

  await t.step("a given delivery id is kept; a duplicate or malformed one is refused", async () => {
    const { store } = await open();
    try {
      const { id } = await store.enqueue("ch", delivery(new Uint8Array([1]), "dlv-1"));
      assert.equal(id, "dlv-1");
      await assert.rejects(store.enqueue("ch", delivery(new Uint8Array([2]), "dlv-1")), TypeError);
      await assert.rejects(store.enqueue("ch", delivery(new Uint8Array(), "a b")), TypeError);
      const generated = await store.enqueue("ch", delivery(new Uint8Array()));
      assert.match(generated.id, /^[0-9a-f-]{36}$/);
      assert.equal((await store.depth("ch")).count, 2);
    } finally {
      await store.close();
    }
  });

  await t.step("each channel is delivered in arrival order, channels independently", async () => {
    const { store } = await open();
    try {
      const sent: Record<string, string[]> = { a: [], b: [], c: [] };
      for (let i = 0; i < 60; i++) {
        const channel = "abc"[i % 3 === 0 ? 0 : i % 5 === 0 ? 1 : 2];
        const { id } = await store.enqueue(channel, delivery(bytesFor(i, i * 10)));
        sent[channel].push(id);
      }
      assert.deepEqual(await store.channels(), ["a", "b", "c"]);
      // Another consumer holding a's head does not block b.
      const [aHead] = await store.lease("a", { consumer: "other" });
      assert.deepEqual(await store.lease("a", { consumer: "me" }), []);
      assert.equal((await store.lease("b", { consumer: "me" }))[0].id, sent.b[0]);
      await store.release("b", "me");
      await store.ack("a", aHead.id);
      const got: Record<string, string[]> = { a: [aHead.id], b: [], c: [] };
      for (const channel of ["a", "b", "c"]) {
        while (true) {
          const batch = await store.lease(channel, { consumer: "me", limit: 4 });
          if (batch.length === 0) break;
          for (const d of batch) {
            got[channel].push(d.id);
            assert.equal(await store.ack(channel, d.id), true);
          }
        }
      }
      assert.deepEqual(got, sent);
      assert.deepEqual(await store.channels(), []);
    } finally {
      await store.close();
    }
  });

  await t.step("concurrent streamed enqueues keep their bytes apart", async () => {
    const { store } = await open();
    try {
      const bodies = Array.from({ length: 12 }, (_, i) => bytesFor(500 + i, 3000 + i * 20_000));
      const results = await Promise.all(
        bodies.map((b, i) => store.enqueue("conc", delivery(streamOf(b, 1000 + i * 333)))),
      );
      const byId = new Map(results.map((r, i) => [r.id, bodies[i]]));
      const batch = await store.lease("conc", { consumer: "c", limit: 100 });
      assert.equal(batch.length, bodies.length);
      for (const d of batch) {
        const read = await readAll(store.readBody("conc", d.id));
        assert.deepEqual(read, byId.get(d.id));
      }
    } finally {
      await store.close();
    }
  });

  await t.step("ackMany deletes a batch at once and counts what was there; oldest", async () => {
    const { store, clock } = await open({});
    try {
      const ids: string[] = [];
      const times: number[] = [];
      assert.equal(await store.oldest("am"), undefined);
      for (let i = 0; i < 6; i++) {
        times.push(clock.t);
        ids.push((await store.enqueue("am", delivery(new Uint8Array(100 + i)))).id);
        clock.advance(1_000);
      }
      assert.equal(await store.oldest("am"), times[0]);
      const leased = await store.lease("am", { consumer: "A", limit: 4 });
      assert.deepEqual(leased.map((d) => d.id), ids.slice(0, 4));
      assert.equal(await store.ackMany("am", [ids[0], ids[1], "never-there", ids[2]]), 3);
      assert.equal(await store.ackMany("am", [ids[0]]), 0, "a second ack finds nothing");
      assert.equal(await store.ackMany("am", []), 0);
      assert.deepEqual(await store.depth("am"), {
        count: 3,
        bytes: (await store.depth("am")).bytes,
      });
      const next = await store.lease("am", { consumer: "A", limit: 10 });
      assert.deepEqual(next.map((d) => d.id), ids.slice(4), "the held one is skipped, order kept");
      assert.equal(await store.oldest("am"), times[3], "the head's arrival time");
      assert.equal(await store.ackMany("am", ids.slice(3)), 3);
      assert.equal(await store.oldest("am"), undefined, "none when empty");
      assert.deepEqual(await store.depth("am"), { count: 0, bytes: 0 });
      assert.deepEqual(await store.channels(), []);
    } finally {
      await store.close();
    }
  });

  await t.step(
    "a consumer pipelines; another consumer is blocked until the lease ends",
    async () => {
      const { store, clock } = await open({ leaseMs: 5_000 });
      try {
        const ids: string[] = [];
        for (let i = 0; i < 10; i++) {
          ids.push((await store.enqueue("p", delivery(new Uint8Array([i])))).id);
        }
        const first = await store.lease("p", { consumer: "A", limit: 4 });
        assert.deepEqual(first.map((d) => d.id), ids.slice(0, 4));
        assert.equal(first[0].leaseUntil, clock.t + 5_000);
        const next = await store.lease("p", { consumer: "A", limit: 4 });
        assert.deepEqual(next.map((d) => d.id), ids.slice(4, 8));
        assert.deepEqual(await store.lease("p", { consumer: "B", limit: 4 }), []);
        // A dies: its leases run out and B gets the same deliveries, from the head, counted.
        clock.advance(5_001);
        const taken = await store.lease("p", { consumer: "B", limit: 3 });
        assert.deepEqual(taken.map((d) => d.id), ids.slice(0, 3));
        assert.deepEqual(taken.map((d) => d.attempts), [2, 2, 2]);
        assert.equal(await store.ack("p", ids[0]), true, "a late ack still deletes");
        assert.equal(await store.ack("p", ids[0]), false, "a second ack finds nothing");
        assert.equal(await store.ack("p", "never-there"), false);
        assert.equal(await store.ack("nochannel", ids[1]), false);
      } finally {
        await store.close();
      }
    },
  );

  await t.step("nack backs off 1 s doubling to 60 s and holds later deliveries back", async () => {
    const { store, clock } = await open();
    try {
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) {
        ids.push((await store.enqueue("n", delivery(new Uint8Array([i])))).id);
      }
      const held = await store.lease("n", { consumer: "A", limit: 3 });
      assert.equal(held.length, 3);
      assert.equal(await store.nack("n", ids[0]), true);
      // The later two were released with it, and the head's delay blocks them.
      assert.deepEqual(await store.lease("n", { consumer: "A", limit: 3 }), []);
      assert.deepEqual(await store.lease("n", { consumer: "B", limit: 3 }), []);
      const delays: number[] = [];
      for (let attempt = 2; attempt <= 9; attempt++) {
        let waited = 0;
        while ((await store.lease("n", { consumer: "B", limit: 1 })).length === 0) {
          clock.advance(250);
          waited += 250;
          assert.ok(waited <= 61_000, "delay beyond 60 s");
        }
        delays.push(waited);
        await store.nack("n", ids[0]);
      }
      assert.deepEqual(delays, [1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000]);
      clock.advance(60_000);
      const [again] = await store.lease("n", { consumer: "B" });
      assert.equal(again.id, ids[0]);
      assert.equal(again.attempts, 10);
      await store.nack("n", ids[0], { delayMs: 10 });
      clock.advance(10);
      const order = await store.lease("n", { consumer: "B", limit: 5 });
      assert.deepEqual(order.map((d) => d.id), ids);
      assert.equal(await store.nack("n", "missing"), false);
    } finally {
      await store.close();
    }
  });

  await t.step("release gives back a consumer's leases at once", async () => {
    const { store } = await open();
    try {
      for (let i = 0; i < 3; i++) await store.enqueue("r", delivery(new Uint8Array([i])));
      assert.equal((await store.lease("r", { consumer: "A", limit: 2 })).length, 2);
      assert.equal(await store.release("r", "B"), 0);
      assert.equal(await store.release("r", "A"), 2);
      const again = await store.lease("r", { consumer: "B", limit: 5 });
      assert.deepEqual(again.map((d) => d.attempts), [2, 2, 1]);
    } finally {
      await store.close();
    }
  });

  await t.step("count bound drops the oldest and counts them", async () => {
    const { store } = await open({ maxCount: 3 });
    try {
      const ids: string[] = [];
      const drops: number[] = [];
      for (let i = 0; i < 5; i++) {
        const r = await store.enqueue("cnt", delivery(new Uint8Array([i])));
        ids.push(r.id);
        drops.push(r.dropped);
      }
      assert.deepEqual(drops, [0, 0, 0, 1, 1]);
      assert.equal((await store.depth("cnt")).count, 3);
      const left = await store.lease("cnt", { consumer: "c", limit: 10 });
      assert.deepEqual(left.map((d) => d.id), ids.slice(2));
      assert.equal(await store.takeDropped("cnt"), 2);
      assert.equal(await store.takeDropped("cnt"), 0);
      assert.equal(await store.takeDropped("other"), 0);
    } finally {
      await store.close();
    }
  });

  await t.step("byte bound drops the oldest; a body that can never fit is refused", async () => {
    const { store } = await open({ maxBytes: 10_000 });
    try {
      const first = await store.enqueue("b", delivery(new Uint8Array(4000)));
      await store.enqueue("b", delivery(new Uint8Array(4000)));
      const before = await store.depth("b");
      assert.equal(before.count, 2);
      assert.ok(before.bytes > 8000 && before.bytes < 10_000, `bytes ${before.bytes}`);
      const third = await store.enqueue("b", delivery(new Uint8Array(4000)));
      assert.equal(third.dropped, 1);
      assert.notEqual((await store.lease("b", { consumer: "x" }))[0].id, first.id);
      await store.release("b", "x");
      await assert.rejects(store.enqueue("b", delivery(new Uint8Array(10_001))), QueueFullError);
      // A streamed body is cut off soon after the bound, not read to its end.
      let pulled = 0;
      const endless = new ReadableStream<Uint8Array>({
        pull(controller) {
          pulled += 1000;
          controller.enqueue(new Uint8Array(1000));
        },
      });
      await assert.rejects(store.enqueue("b", delivery(endless)), QueueFullError);
      assert.ok(pulled <= 12_000, `pulled ${pulled} bytes`);
      assert.equal((await store.depth("b")).count, 2, "a refused webhook drops nothing");
      assert.equal(await store.takeDropped("b"), 1);
    } finally {
      await store.close();
    }
  });

  await t.step("age bound drops old deliveries on read and on sweep", async () => {
    const { store, clock } = await open({ maxAgeMs: 1_000 });
    try {
      await store.enqueue("old", delivery(new Uint8Array([1])));
      await store.enqueue("old2", delivery(new Uint8Array([1])));
      clock.advance(600);
      const young = await store.enqueue("old", delivery(new Uint8Array([2])));
      clock.advance(401);
      assert.equal((await store.depth("old")).count, 1);
      assert.equal((await store.lease("old", { consumer: "c" }))[0].id, young.id);
      assert.equal(await store.sweep(), 1, "old2's one delivery");
      assert.deepEqual(await store.channels(), ["old"]);
      assert.equal(await store.takeDropped("old"), 1);
      assert.equal(await store.takeDropped("old2"), 1);
    } finally {
      await store.close();
    }
  });

  await t.step(
    "a full store refuses with QueueFullError instead of evicting other channels",
    async () => {
      const { store } = await open({ maxTotalBytes: 50_000 });
      try {
        let accepted = 0;
        let refused: unknown;
        for (let i = 0; i < 100 && !refused; i++) {
          try {
            await store.enqueue(`many-${i}`, delivery(new Uint8Array(4096)));
            accepted++;
          } catch (error) {
            refused = error;
          }
        }
        assert.ok(refused instanceof QueueFullError, String(refused));
        assert.match((refused as Error).message, /Queue full/);
        assert.ok(accepted >= 10 && accepted <= 12, `accepted ${accepted}`);
        assert.equal((await store.channels()).length, accepted, "nobody was evicted");
        for (const channel of await store.channels()) {
          assert.equal(await store.takeDropped(channel), 0);
        }
        // Acking makes room again.
        const [d] = await store.lease("many-0", { consumer: "c" });
        await store.ack("many-0", d.id);
        await store.enqueue("late", delivery(new Uint8Array(4096)));
      } finally {
        await store.close();
      }
    },
  );

  await t.step(
    "bad channels, heads and metadata are refused before anything is stored",
    async () => {
      const { store } = await open();
      try {
        for (const channel of ["", "a:b", "../x", "a b", "x".repeat(129), "ch\n", "*"]) {
          await assert.rejects(store.enqueue(channel, delivery(new Uint8Array())), TypeError);
        }
        const bad = [
          { method: "", target: "/", headers: [] },
          { method: "GET /x", target: "/", headers: [] },
          { method: "POST", target: "/", headers: [["a"]] },
          { method: "POST", target: "/", headers: "x" },
        ];
        for (const head of bad) {
          await assert.rejects(
            store.enqueue("ok", { head: head as never, body: new Uint8Array() }),
            TypeError,
          );
        }
        await assert.rejects(
          store.enqueue("ok", {
            head: { method: "POST", target: "/", headers: [["x", "y".repeat(200_000)]] },
            body: new Uint8Array(),
          }),
          RangeError,
        );
        await assert.rejects(
          store.enqueue("ok", { ...delivery(new Uint8Array()), meta: { x: "y".repeat(5000) } }),
          RangeError,
        );
        await assert.rejects(
          store.enqueue("ok", { ...delivery(new Uint8Array()), meta: { x: 1 as never } }),
          TypeError,
        );
        await assert.rejects(store.lease("ok", { consumer: "bad consumer" }), TypeError);
        assert.deepEqual(await store.channels(), []);
      } finally {
        await store.close();
      }
    },
  );

  await t.step("a body stream that fails stores nothing", async () => {
    const { store } = await open();
    try {
      let n = 0;
      const failing = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (n++ === 3) controller.error(new Error("sender went away"));
          else controller.enqueue(new Uint8Array(30_000));
        },
      });
      await assert.rejects(store.enqueue("f", delivery(failing)), /sender went away/);
      assert.deepEqual(await store.depth("f"), { count: 0, bytes: 0 });
      await store.enqueue("f", delivery(new Uint8Array([7])));
      assert.equal((await store.depth("f")).count, 1);
    } finally {
      await store.close();
    }
  });

  await t.step("settings are kept per channel, with or without a queue", async () => {
    const { store } = await open();
    try {
      assert.equal(await store.getSettings("s"), null);
      await store.setSettings("s", { offline: "queue" });
      assert.deepEqual(await store.getSettings("s"), { offline: "queue" });
      await store.enqueue("s", delivery(new Uint8Array([1])));
      const [d] = await store.lease("s", { consumer: "c" });
      await store.ack("s", d.id);
      assert.deepEqual(await store.getSettings("s"), { offline: "queue" });
      await store.setSettings("s", { offline: "reject" });
      assert.deepEqual(await store.getSettings("s"), { offline: "reject" });
      await store.setSettings("s", null);
      assert.equal(await store.getSettings("s"), null);
      await assert.rejects(store.setSettings("s", { x: 2 as never }), TypeError);
    } finally {
      await store.close();
    }
  });

  await t.step("wait wakes on enqueue, times out, and ends on abort", async () => {
    const { store } = await open();
    try {
      const woke = store.wait("w", { timeoutMs: 10_000 });
      await store.enqueue("w", delivery(new Uint8Array([1])));
      await woke;
      const started = performance.now();
      await store.wait("w", { timeoutMs: 20 });
      assert.ok(performance.now() - started >= 15);
      const controller = new AbortController();
      const aborted = store.wait("w", { timeoutMs: 10_000, signal: controller.signal });
      controller.abort();
      await aborted;
    } finally {
      await store.close();
    }
  });

  if (target.durable) {
    await t.step("a reopened store has every delivery, byte for byte, in order", async () => {
      const first = await open({ leaseMs: 1_000 });
      const bodies = [0, 10, 70_000, 300_000].map((size, i) => bytesFor(i + 40, size));
      const ids: string[] = [];
      for (const body of bodies) {
        ids.push((await first.store.enqueue("keep", delivery(streamOf(body, 4096)))).id);
      }
      await first.store.setSettings("keep", { offline: "queue" });
      const [leased] = await first.store.lease("keep", { consumer: "dead" });
      assert.equal(leased.id, ids[0]);
      await first.store.close();
      const clock = new Clock();
      clock.t = first.clock.t + 1_001;
      const again = await target.open(first.space, { now: clock.now, leaseMs: 1_000 });
      try {
        assert.deepEqual(await again.getSettings("keep"), { offline: "queue" });
        const got = await again.lease("keep", { consumer: "alive", limit: 10 });
        assert.deepEqual(got.map((d) => d.id), ids);
        assert.equal(got[0].attempts, 2);
        for (const [i, d] of got.entries()) {
          assert.deepEqual(await readAll(again.readBody("keep", d.id)), bodies[i]);
        }
      } finally {
        await again.close();
      }
    });
  }
}
