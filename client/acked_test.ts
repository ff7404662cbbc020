import assert from "node:assert/strict";
import { AckedIds } from "./acked.ts";

Deno.test("AckedIds appends acked ids beside the state file, reloads them, and compacts to the newest", async () => {
  const dir = await Deno.makeTempDir();
  const state = `${dir}/state.json`;
  try {
    const acked = await AckedIds.open(state, "c1", 2);
    await Promise.all([acked.add("a"), acked.add("b")]);
    await acked.add("c");
    assert.equal(acked.has("a"), false);
    assert.equal(acked.has("c"), true);
    const path = AckedIds.pathOf(state, "c1");
    assert.equal(await Deno.readTextFile(path), "a\nb\nc\n");
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    // Past twice the kept count the file is rewritten with the newest only.
    await acked.add("d");
    assert.equal(await Deno.readTextFile(path), "a\nb\nc\nd\n");
    await acked.add("e");
    assert.equal(await Deno.readTextFile(path), "d\ne\n");
    // A restart loads them again; another channel has its own file.
    const reloaded = await AckedIds.open(state, "c1", 2);
    assert.equal(reloaded.has("e"), true);
    assert.equal(reloaded.has("c"), false);
    assert.equal((await AckedIds.open(state, "c2", 2)).has("d"), false);
    // Without a state file they live in memory only.
    const memory = await AckedIds.open(undefined, "c1", 2);
    await memory.add("x");
    assert.equal(memory.has("x"), true);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
