import assert from "node:assert/strict";
import { StreamTable } from "./_stream_table.ts";

Deno.test("StreamTable matches a Map under random inserts and deletes, values in key order", () => {
  let seed = 7;
  const random = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
  const table = new StreamTable<string>();
  const map = new Map<number, string>();
  let next = 1;
  for (let step = 0; step < 50_000; step++) {
    const r = random();
    if (r < 0.45 || map.size === 0) {
      // Mostly sequential odd ids, sometimes arbitrary u32s (collisions, wrap-around).
      const key = random() < 0.9 ? (next += 2) : Math.floor(random() * 2 ** 32);
      table.set(key, `v${key}`);
      map.set(key, `v${key}`);
    } else if (r < 0.9) {
      const keys = [...map.keys()];
      const key = keys[Math.floor(random() * keys.length)];
      assert.equal(table.delete(key), true);
      map.delete(key);
    } else {
      const key = Math.floor(random() * 2 ** 32);
      assert.equal(table.delete(key), map.delete(key));
    }
    assert.equal(table.size, map.size);
    if (step % 997 === 0) {
      for (const [key, value] of map) assert.equal(table.get(key), value);
      assert.deepEqual(table.values(), [...map].sort((a, b) => a[0] - b[0]).map(([, v]) => v));
    }
  }
  table.clear();
  assert.equal(table.size, 0);
  assert.equal(table.get(next), undefined);
});

Deno.test("StreamTable grows past its first size and empties back", () => {
  const table = new StreamTable<number>();
  for (let i = 1; i <= 5000; i += 2) table.set(i, i);
  assert.equal(table.size, 2500);
  for (let i = 1; i <= 5000; i += 2) assert.equal(table.get(i), i);
  for (let i = 1; i <= 5000; i += 2) assert.equal(table.delete(i), true);
  assert.equal(table.size, 0);
  assert.equal(table.get(1), undefined);
  table.set(0xffff_ffff, 1);
  assert.equal(table.get(0xffff_ffff), 1);
});
