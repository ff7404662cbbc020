import assert from "node:assert/strict";
import { AckedIds } from "./acked.ts";
import { loadChannel, saveChannel } from "./state.ts";

const SERVER = "http://s/";
const TARGET = "http://t/";

Deno.test("AckedIds saves acked ids beside the channel in the state file and forgets the oldest", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/state.json`;
  try {
    await saveChannel(path, SERVER, TARGET, { channel_id: "c1", channel_secret: "s" });
    const acked = new AckedIds("c1", undefined, { path, serverUrl: SERVER, targetUrl: TARGET }, 2);
    await Promise.all([acked.add("a"), acked.add("b")]);
    await acked.add("c");
    assert.equal(acked.has("a"), false);
    assert.equal(acked.has("c"), true);
    const saved = await loadChannel(path, SERVER, TARGET);
    assert.deepEqual(saved?.acked_ids, ["b", "c"]);
    assert.equal(saved?.channel_secret, "s");
    // A restart loads them again.
    const reloaded = new AckedIds("c1", saved?.acked_ids, {
      path,
      serverUrl: SERVER,
      targetUrl: TARGET,
    }, 2);
    assert.equal(reloaded.has("b"), true);
    // Ids of another channel never land on this entry.
    await new AckedIds("c2", [], { path, serverUrl: SERVER, targetUrl: TARGET }, 2).add("x");
    assert.deepEqual((await loadChannel(path, SERVER, TARGET))?.acked_ids, ["b", "c"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
