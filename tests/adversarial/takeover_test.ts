/**
 * Adversarial suite, one client per channel (issue 13, finding 14): two real replicas (sharing a
 * gossip key on 127.0.0.184-185, without one on 127.0.0.188-189; the same-replica case on .186),
 * and two real clients holding one channel's secret.
 */
import assert from "node:assert/strict";
import {
  freePorts,
  type ServerProc,
  startApp,
  startClientProc,
  startServerProc,
  tempStateFile,
  waitUntil,
} from "../_harness.ts";

const GOSSIP_KEY = btoa("takeover-test-key-0123456789abcd");

/**
 * Two replicas on 127.0.0.184-185 (or `base`, `base + 1`); they find each other before the
 * test sends anything (it waits until a webhook sent to B is relayed to A's client).
 */
async function twoReplicas(
  keyed: boolean,
  base = 184,
): Promise<{ a: ServerProc; b: ServerProc }> {
  const [httpPort, gossipPort] = freePorts(2, `127.0.0.${base}`);
  const replica = (i: number, extra: string[] = []) =>
    startServerProc([
      "--memberlist-port",
      String(gossipPort),
      "--node-name",
      `takeover-${i}`,
      ...(keyed ? ["--gossip-key", GOSSIP_KEY] : []),
      ...extra,
    ], { host: `127.0.0.${base + i}`, port: httpPort });
  const a = await replica(0);
  const b = await replica(1, ["--join", `127.0.0.${base}:${gossipPort}`]);
  return { a, b };
}

/** A state file that makes a client on `serverUrl` use the channel another client saved. */
async function sharedStateFile(
  from: { stateFile: string },
  serverUrl: string,
  targetUrl: string,
): Promise<string> {
  const saved = JSON.parse(await Deno.readTextFile(from.stateFile));
  const channel = Object.values(saved.channels)[0];
  const path = await tempStateFile();
  const key = `${new URL(serverUrl).href} ${new URL(targetUrl).href}`;
  await Deno.writeTextFile(path, JSON.stringify({ version: 1, channels: { [key]: channel } }));
  return path;
}

/** POSTs to `url` until the answer is `expected` (the owner lookups settle after a takeover). */
async function answersWith(url: string, expected: string): Promise<void> {
  await waitUntil(async () => {
    const response = await fetch(url, { method: "POST", body: "x" });
    const text = await response.text();
    return text === expected ? text : undefined;
  }, `${url} answered by "${expected}"`);
}

for (const [keyed, base] of [[true, 184], [false, 188]] as const) {
  Deno.test(`#13.14: a second client with the secret attaching on another replica takes the channel over cluster-wide (${keyed ? "with" : "without"} a gossip key)`, async () => {
    await using first = startApp(() => new Response("first"));
    await using second = startApp(() => new Response("second"));
    const { a, b } = await twoReplicas(keyed, base);
    await using _a = a;
    await using _b = b;
    await using older = await startClientProc(a.url, first.url);
    const path = `/webhook/${older.channelId}/hook`;
    await answersWith(`${b.url}${path}`, "first"); // the cluster has formed: B relays to A

    await using newer = await startClientProc(b.url, second.url, [
      "--state-file",
      await sharedStateFile(older, b.url, second.url),
    ]);
    assert.equal(newer.channelId, older.channelId, "the same channel");

    // The older client is told why and stops for good (no flapping back).
    await older.waitFor(/was taken over/, { stream: "stderr" });
    const status = await older.status;
    assert.equal(status.code, 1);
    const said = [...older.stderr, ...older.stdout].join("\n");
    assert.match(
      said,
      new RegExp(
        `Channel "${older.channelId}" was taken over \\(Taken over by a newer client on replica ${
          b.url.replaceAll(".", "\\.")
        }\\); this client stops`,
      ),
    );
    await a.waitFor(
      new RegExp(`a newer client attached on ${b.url.replaceAll(".", "\\.")}`),
      { stream: "stderr" },
    );

    // Every replica now delivers to the newer client: B directly, A by relaying.
    await answersWith(`${b.url}${path}`, "second");
    await answersWith(`${a.url}${path}`, "second");
    const internal = await (await fetch(`${a.url}/metrics`)).text();
    assert.match(internal, /wow_tunnel_disconnects_total\{reason="taken_over"\} 1/);
  });
}

Deno.test("#13.14: a second client with the secret attaching on the same replica takes the channel over", async () => {
  await using first = startApp(() => new Response("first"));
  await using second = startApp(() => new Response("second"));
  await using server = await startServerProc([], { host: "127.0.0.186" });
  await using older = await startClientProc(server.url, first.url);
  await using _newer = await startClientProc(server.url, second.url, [
    "--state-file",
    await sharedStateFile(older, server.url, second.url),
  ]);
  await older.waitFor(/was taken over/, { stream: "stderr" });
  assert.equal((await older.status).code, 1);
  assert.match(
    older.stderr.join("\n"),
    new RegExp(`Taken over by a newer client on replica ${server.url.replaceAll(".", "\\.")}`),
  );
  await answersWith(`${server.url}/webhook/${older.channelId}`, "second");
});
