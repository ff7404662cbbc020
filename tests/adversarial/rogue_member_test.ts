/**
 * Adversarial suite, a rogue gossip member (issue 13, finding 3): two real replicas without a
 * gossip key on 127.0.0.187-188, and this test process joining their gossip as a member on
 * 127.0.0.186 whose HTTP answers lie (a foreign `server_url`, an id that is a Traefik rule, an
 * old claim to a channel attached elsewhere).
 */
import assert from "node:assert/strict";
import { startCluster } from "../../cluster/mod.ts";
import {
  freePorts,
  type ServerProc,
  startApp,
  startClientProc,
  startServerProc,
  waitUntil,
} from "../_harness.ts";

const ROGUE = "127.0.0.186";
/** An id that would widen a router to every path if it reached the rule unchecked. */
const INJECTED = "x`) || PathPrefix(`/";
/** A URL that sorts before every real replica's. */
const LIE_URL = "http://0.0.0.0:1";

/** The rogue's HTTP side: lies about `channelId`, records every webhook it is sent. */
function rogueHttp(port: number, channelId: () => string) {
  const captured: string[] = [];
  const server = Deno.serve({ hostname: ROGUE, port, onListen: () => {} }, async (request) => {
    const path = new URL(request.url).pathname;
    await request.body?.cancel();
    if (path === "/internal/channels") {
      return Response.json({
        server_url: LIE_URL,
        ws_channels: [INJECTED, channelId()],
        webhook_channels: [INJECTED, channelId()],
        attached_at: { [channelId()]: 1 },
      });
    }
    if (path.startsWith("/internal/channels/")) {
      return Response.json({
        channel_id: path.split("/")[3],
        attached: true,
        server_url: LIE_URL,
        attached_at: 1,
      });
    }
    if (path.startsWith("/webhook/")) {
      captured.push(path);
      return new Response("rogue");
    }
    return new Response("no", { status: 404 });
  });
  return { captured, close: () => server.shutdown() };
}

/** Waits until `replica` lists every name in `names` as an alive member. */
async function seesAlive(replica: ServerProc, names: string[]): Promise<void> {
  await waitUntil(async () => {
    const { members }: { members: { name: string; state: string }[] } =
      await (await fetch(`${replica.url}/internal/members`)).json();
    return names.every((name) => members.some((m) => m.name === name && m.state === "alive"));
  }, `${replica.url} sees ${names.join(", ")} alive`);
}

Deno.test({
  name:
    "#13.3: a rogue gossip member can neither redirect /traefik-config, inject a rule, nor capture relays by claiming a channel",
  // The in-process gossip node's timers end with its shutdown, not with each await.
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    await using app = startApp(() => new Response("app"));
    const [httpPort, gossipPort] = freePorts(2, "127.0.0.187");
    const replica = (i: number, extra: string[] = []) =>
      startServerProc([
        "--memberlist-port",
        String(gossipPort),
        "--node-name",
        `honest-${i}`,
        ...extra,
      ], { host: `127.0.0.${187 + i}`, port: httpPort });
    await using owner = await replica(0);
    await using other = await replica(1, ["--join", `127.0.0.187:${gossipPort}`]);
    await using client = await startClientProc(owner.url, app.url);

    const rogue = rogueHttp(httpPort, () => client.channelId);
    const node = await startCluster({
      nodeName: "rogue",
      bindAddr: ROGUE,
      advertiseAddr: ROGUE,
      port: gossipPort,
      join: [`127.0.0.187:${gossipPort}`],
      // Metadata naming another address is ignored: the member is reached at its own.
      meta: new TextEncoder().encode(JSON.stringify({ server_url: LIE_URL })),
    });
    try {
      await seesAlive(owner, ["honest-1", "rogue"]);
      await seesAlive(other, ["honest-0", "rogue"]);
      const rogueUrl = `http://${ROGUE}:${httpPort}`;

      const text = await (await fetch(`${owner.url}/traefik-config`)).text();
      const config = JSON.parse(text);

      await t.step("/traefik-config never routes to the URL a peer's answer names", () => {
        assert.ok(!text.includes(LIE_URL), text);
      });

      await t.step(
        "an id that is no channel id is dropped and logged, not made a rule",
        async () => {
          assert.ok(!text.includes("PathPrefix(`/`)"), text);
          assert.deepEqual(
            Object.keys(config.http.routers).sort(),
            [`webhook-${client.channelId}`, `ws-${client.channelId}`],
          );
          await owner.waitFor(
            new RegExp(`Ignored 1 ids listed by replica ${rogueUrl.replaceAll(".", "\\.")}`),
            { stream: "stderr" },
          );
        },
      );

      await t.step(
        "a double claim routes to the latest attach (not the URL that sorts first), logged",
        async () => {
          assert.deepEqual(
            config.http.services[`service-${client.channelId}`].loadBalancer.servers,
            [{ url: owner.url }],
          );
          await owner.waitFor(/1 channels are claimed by several replicas/, { stream: "stderr" });
        },
      );

      await t.step(
        "the owner lookup relays to the latest attach, not to the rogue whose URL sorts first",
        async () => {
          const response = await fetch(`${other.url}/webhook/${client.channelId}/x`, {
            method: "POST",
            body: "secret payload",
          });
          assert.equal(await response.text(), "app");
          assert.deepEqual(rogue.captured, []);
          await other.waitFor(/is claimed by .*relaying to http:\/\/127\.0\.0\.187/, {
            stream: "stderr",
          });
        },
      );
    } finally {
      await node.shutdown();
      await rogue.close();
    }
  },
});
