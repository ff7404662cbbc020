/**
 * The SIGKILL test shared by the durable stores: a child process writes deliveries until it is
 * killed mid-body; the reopened store must hold every committed delivery whole, in order, and no
 * partial one.
 *
 * @module
 */
import assert from "node:assert/strict";
import { bytesFor, readAll } from "./_contract.ts";
import { openSqliteQueue } from "./sqlite.ts";
import type { QueueStore } from "./types.ts";

const CHILD = new URL("./_kill_child.ts", import.meta.url).pathname;

/** Body sizes cycle through empty, small, over a chunk and 1.5 MiB (several body batches). */
const SIZES = [0, 100, 70_000, 1_500_000];

/** The body of delivery `k-i`. */
export function bodyFor(i: number): Uint8Array {
  return bytesFor(i + 1, SIZES[i % SIZES.length]);
}

/** Opens the store named by the child's arguments (`sqlite <path>` or `redis <url> <prefix>`). */
export async function openKillTarget(args: string[]): Promise<QueueStore> {
  if (args[0] === "sqlite") return openSqliteQueue(args[1]);
  if (args[0] === "redis") {
    const { openRedisQueue } = await import("./redis.ts");
    return await openRedisQueue(args[1], { prefix: args[2] });
  }
  throw new TypeError(`Unknown kill target "${args[0]}"`);
}

/**
 * Runs the child on `args`, kills it with SIGKILL while it streams a large body after at least
 * 9 commits, reopens with `reopen` and checks what is stored.
 * @returns The id of the delivery that was being written when the child died.
 */
export async function killMidWrite(
  args: string[],
  reopen: () => Promise<QueueStore>,
): Promise<string> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CHILD, ...args],
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  }).spawn();
  const committed: string[] = [];
  let started = "";
  let killed = false;
  const deadline = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
  }, 30_000);
  const stderr = new Response(child.stderr).text();
  let partial = "";
  for await (const text of child.stdout.pipeThrough(new TextDecoderStream())) {
    const lines = (partial + text).split("\n");
    partial = lines.pop()!;
    for (const line of lines) {
      const [word, id, size] = line.split(" ");
      if (word === "committed") committed.push(id);
      if (word === "start") started = id;
      // Kill mid-body once more than 1.05 MiB of a large body was handed to the store (past
      // its first 1 MiB write batch), after at least 9 commits.
      if (
        !killed && word === "piece" && committed.length >= 9 && id === started &&
        Number(size) > 1_100_000
      ) {
        child.kill("SIGKILL");
        killed = true;
      }
    }
  }
  clearTimeout(deadline);
  const status = await child.status;
  assert.equal(killed, true, `child ended on its own: ${await stderr}`);
  assert.equal(status.signal, "SIGKILL");
  const store = await reopen();
  try {
    const batch = await store.lease("killed", { consumer: "after", limit: 1000 });
    const ids = batch.map((d) => d.id);
    // Every committed delivery is there, in order; at most the one being written beyond them,
    // and only when it was complete.
    assert.deepEqual(ids.slice(0, committed.length), committed);
    assert.ok(ids.length <= committed.length + 1, `stored ${ids} after ${committed}`);
    if (ids.length > committed.length) assert.equal(ids.at(-1), started);
    for (const delivery of batch) {
      const i = Number(delivery.id.slice(2));
      const expected = bodyFor(i);
      assert.equal(delivery.bodySize, expected.byteLength);
      assert.deepEqual(delivery.head.headers, [["x-i", String(i)]]);
      const body = await readAll(store.readBody("killed", delivery.id));
      assert.ok(
        body.byteLength === expected.byteLength && body.every((b, j) => b === expected[j]),
        `body of ${delivery.id} differs`,
      );
    }
    // The store takes new deliveries after the crash.
    await store.enqueue("killed", {
      id: "k-after",
      head: { method: "POST", target: "/", headers: [] },
      body: new Uint8Array([1]),
    });
    assert.equal((await store.depth("killed")).count, ids.length + 1);
    return started;
  } finally {
    await store.close();
  }
}

/**
 * A consumer process leases deliveries and is SIGKILLed before acking; afterwards another
 * consumer gets the same deliveries, in order, with `attempts` 2, within `withinMs` of the kill.
 *
 * @param args The child's store arguments (`sqlite <path>` or `redis <url> <prefix>`).
 * @param open Opens the store in this process (before the child for a shared store; after
 *   the kill for a single-owner one, see `openBeforeChild`).
 * @returns How long after the kill the deliveries came back, ms.
 */
export async function killConsumer(
  args: string[],
  open: () => Promise<QueueStore>,
  options: { openBeforeChild: boolean; withinMs: number },
): Promise<number> {
  const seed = await open();
  const ids: string[] = [];
  for (let i = 0; i < 4; i++) {
    ids.push((await seed.enqueue("consumed", { head: HEAD, body: bodyFor(i) })).id);
  }
  if (!options.openBeforeChild) await seed.close();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CHILD, "lease", ...args],
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const deadline = setTimeout(() => child.kill("SIGKILL"), 30_000);
  let leased = "";
  let partial = "";
  for await (const text of child.stdout.pipeThrough(new TextDecoderStream())) {
    partial += text;
    const match = partial.match(/^leased (.*)\n/m);
    if (match) {
      leased = match[1];
      child.kill("SIGKILL");
      break;
    }
  }
  clearTimeout(deadline);
  const status = await child.status;
  const killedAt = performance.now();
  assert.equal(leased, ids.slice(0, 3).join(","), await stderr);
  assert.equal(status.signal, "SIGKILL");
  const store = options.openBeforeChild ? seed : await open();
  try {
    // Nobody else may take them while the dead consumer's lease runs; then they come back.
    let got: Awaited<ReturnType<QueueStore["lease"]>> = [];
    while (performance.now() - killedAt < options.withinMs) {
      got = await store.lease("consumed", { consumer: "survivor", limit: 10 });
      if (got.length) break;
      await store.wait("consumed", { timeoutMs: 50 });
    }
    const after = performance.now() - killedAt;
    assert.deepEqual(got.map((d) => d.id), ids, `after ${Math.round(after)} ms`);
    assert.deepEqual(got.map((d) => d.attempts), [2, 2, 2, 1]);
    for (const [i, d] of got.entries()) {
      assert.deepEqual(await readAll(store.readBody("consumed", d.id)), bodyFor(i));
    }
    return after;
  } finally {
    await store.close();
  }
}

const HEAD = { method: "POST", target: "/c", headers: [] as [string, string][] };
