import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { bytesFor, queueContract } from "./_contract.ts";
import { killConsumer, killMidWrite } from "./_kill.ts";
import { openSqliteQueue } from "./sqlite.ts";
import { QueueStoreError } from "./types.ts";

const HEAD = { method: "POST", target: "/", headers: [] as [string, string][] };

Deno.test("openSqliteQueue meets the queue store contract", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "wow-queue-sqlite-" });
  try {
    await queueContract(t, {
      durable: true,
      open: (space, options) => Promise.resolve(openSqliteQueue(`${dir}/${space}.db`, options)),
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("openSqliteQueue refuses a corrupt file, naming its path, and leaves it alone", async () => {
  const dir = await Deno.makeTempDir({ prefix: "wow-queue-sqlite-" });
  try {
    const path = `${dir}/corrupt.db`;
    const garbage = bytesFor(1, 8192);
    await Deno.writeFile(path, garbage);
    assert.throws(
      () => openSqliteQueue(path),
      (error: Error) =>
        error instanceof QueueStoreError && error.message.includes(`"${path}"`) &&
        /not a database/.test(error.message),
    );
    assert.deepEqual(await Deno.readFile(path), garbage, "never reset");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("openSqliteQueue refuses a database that is not a queue", async () => {
  const dir = await Deno.makeTempDir({ prefix: "wow-queue-sqlite-" });
  try {
    const path = `${dir}/other.db`;
    const other = new DatabaseSync(path);
    other.exec("CREATE TABLE users (name TEXT)");
    other.close();
    assert.throws(() => openSqliteQueue(path), /Cannot open queue database .*not a queue database/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("openSqliteQueue refuses a database another process holds", async () => {
  const dir = await Deno.makeTempDir({ prefix: "wow-queue-sqlite-" });
  try {
    const path = `${dir}/held.db`;
    await using first = openSqliteQueue(path);
    await first.enqueue("ch", { head: HEAD, body: new Uint8Array([1]) });
    assert.throws(() => openSqliteQueue(path), /Cannot open queue database .*another server/);
    assert.equal((await first.depth("ch")).count, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("openSqliteQueue deletes the chunks of a body that never finished", async () => {
  const dir = await Deno.makeTempDir({ prefix: "wow-queue-sqlite-" });
  try {
    const path = `${dir}/orphans.db`;
    const store = openSqliteQueue(path, { synchronous: "normal" });
    // A 3 MiB body whose sender stalls after 2 MiB: two batches are on disk, no message row.
    const body = bytesFor(3, 3 * 1024 * 1024);
    let sent = 0;
    let stalled!: () => void;
    const stalledAt = new Promise<void>((resolve) => stalled = resolve);
    const stream = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (sent >= 2 * 1024 * 1024 + 65536) {
          stalled();
          await new Promise(() => {}); // never resolves: the sender hangs
        }
        controller.enqueue(body.subarray(sent, sent + 65536));
        sent += 65536;
      },
    });
    const pending = store.enqueue("ch", { head: HEAD, body: stream }).catch((e) => e);
    await stalledAt;
    await store.close();
    const raw = new DatabaseSync(path);
    const chunks = (raw.prepare("SELECT COUNT(*) AS n FROM chunks").get() as { n: number }).n;
    raw.close();
    assert.ok(chunks >= 32, `chunks on disk before reopen: ${chunks}`);
    await using again = openSqliteQueue(path);
    assert.deepEqual(await again.depth("ch"), { count: 0, bytes: 0 });
    await again.close();
    const check = new DatabaseSync(path);
    assert.equal((check.prepare("SELECT COUNT(*) AS n FROM chunks").get() as { n: number }).n, 0);
    check.close();
    void pending;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("openSqliteQueue keeps every committed delivery whole when the writer is SIGKILLed mid-write", async () => {
  const dir = await Deno.makeTempDir({ prefix: "wow-queue-sqlite-" });
  try {
    const path = `${dir}/killed.db`;
    let orphans = -1;
    await killMidWrite(["sqlite", path], () => {
      // Before the store cleans up: the killed body's first batch is on disk, unreferenced.
      const raw = new DatabaseSync(path);
      orphans = (raw.prepare(
        "SELECT COUNT(*) AS n FROM chunks WHERE id NOT IN (SELECT id FROM messages)",
      ).get() as { n: number }).n;
      raw.close();
      return Promise.resolve(openSqliteQueue(path));
    });
    assert.ok(orphans >= 16, `orphan chunks of the killed body: ${orphans}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("openSqliteQueue hands a SIGKILLed consumer's deliveries out again as soon as it reopens", async () => {
  const dir = await Deno.makeTempDir({ prefix: "wow-queue-sqlite-" });
  try {
    const path = `${dir}/consumer.db`;
    // The file has one owner: the survivor opens it after the consumer died, and the dead
    // process's leases are released on open, well before their 1.5 s would run out.
    const after = await killConsumer(
      ["sqlite", path],
      () => Promise.resolve(openSqliteQueue(path)),
      {
        openBeforeChild: false,
        withinMs: 1_000,
      },
    );
    assert.ok(after < 1_000, `${after} ms`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
