/**
 * End to end: the server's endpoints on a single node.
 */
import assert from "node:assert/strict";
import YAML from "yaml";
import { startApp, startClientProc, startServerProc, waitUntil } from "./_harness.ts";
import { assertValidTraefikDynamicConfig } from "./_traefik_schema.ts";

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

function wsUrl(base: string, id: string): string {
  return `${base.replace(/^http/, "ws")}/ws/${id}`;
}

/** Tries a WebSocket upgrade and returns the HTTP status of the refusal (or 101). */
async function upgradeStatus(url: string, headers: Record<string, string>): Promise<number> {
  const response = await fetch(url.replace(/^ws/, "http"), {
    headers: {
      upgrade: "websocket",
      connection: "Upgrade",
      "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
      "sec-websocket-version": "13",
      ...headers,
    },
  });
  await response.body?.cancel();
  return response.status;
}

Deno.test("server endpoints", async (t) => {
  await using app = startApp(() => new Response("ok"));
  await using server = await startServerProc(["--cleanup-duration", "1s"]);

  await t.step("GET /healthz → 200 {status: OK}", async () => {
    const response = await fetch(`${server.url}/healthz`);
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), { status: "OK" });
  });

  await t.step("GET /traefik-config → {} with no channels", async () => {
    const response = await fetch(`${server.url}/traefik-config`);
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), {});
  });

  await t.step("GET /new → a fresh UUID v4 channel id and its secret", async () => {
    const a = await (await fetch(`${server.url}/new`)).json();
    const b = await (await fetch(`${server.url}/new`)).json();
    assert.match(a.channel_id, UUID_V4);
    assert.notEqual(a.channel_id, b.channel_id);
    assert.equal(typeof a.channel_secret, "string");
  });

  await t.step("GET /ws/{unknown id} → 403", async () => {
    const status = await upgradeStatus(wsUrl(server.url, crypto.randomUUID()), {
      "x-wow-protocol": "1",
    });
    assert.equal(status, 403);
  });

  await using client = await startClientProc(server.url, app.url);

  // With the right secret a second client takes the channel over (tests/adversarial/takeover_test.ts).
  await t.step(
    "GET /ws/{id} of a channel with a client, with a wrong secret → 401, no takeover",
    async () => {
      const state = JSON.parse(await Deno.readTextFile(client.stateFile));
      const saved = Object.values(state.channels)[0] as { channel_secret: string };
      const status = await upgradeStatus(wsUrl(server.url, client.channelId), {
        "x-wow-protocol": "1",
        "x-channel-secret": saved.channel_secret.replace(/^./, (c) => c === "A" ? "B" : "A"),
      });
      assert.equal(status, 401);
    },
  );

  await t.step("GET /ws/{id} with another protocol version → 426 with a clear error", async () => {
    const { channel_id, channel_secret } = await (await fetch(`${server.url}/new`)).json();
    const response = await fetch(`${server.url}/ws/${channel_id}`, {
      headers: {
        upgrade: "websocket",
        connection: "Upgrade",
        "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
        "sec-websocket-version": "13",
        "x-wow-protocol": "99",
        "x-channel-secret": channel_secret,
      },
    });
    assert.equal(response.status, 426);
    assert.match((await response.json()).error, /Protocol version mismatch/);
  });

  await t.step("GET /internal/channels lists issued and attached channels", async () => {
    const body = await (await fetch(`${server.url}/internal/channels`)).json();
    assert.ok(body.ws_channels.includes(client.channelId));
    assert.deepEqual(body.webhook_channels, [client.channelId]);
    assert.equal(body.server_url, server.url);
    assert.deepEqual(body.ws_channels, [...body.ws_channels].sort());
  });

  await t.step(
    "GET /traefik-config routes the channels, valid for Traefik, also as YAML",
    async () => {
      const config = await (await fetch(`${server.url}/traefik-config`)).json();
      await assertValidTraefikDynamicConfig(config);
      const id = client.channelId;
      assert.deepEqual(config.http.routers[`webhook-${id}`], {
        rule: `PathPrefix(\`/webhook/${id}\`)`,
        service: `service-${id}`,
      });
      assert.deepEqual(config.http.routers[`ws-${id}`], {
        rule: `PathPrefix(\`/ws/${id}\`)`,
        service: `service-${id}`,
      });
      assert.deepEqual(config.http.services[`service-${id}`], {
        loadBalancer: { servers: [{ url: server.url }] },
      });
      const yaml = await fetch(`${server.url}/traefik-config?format=yaml`);
      assert.match(yaml.headers.get("content-type") ?? "", /yaml/);
      assert.deepEqual(YAML.parse(await yaml.text()), config);
    },
  );

  await t.step(
    "issued channels that never get a client are removed after --cleanup-duration",
    async () => {
      const { channel_id } = await (await fetch(`${server.url}/new`)).json();
      await waitUntil(
        async () => {
          const body = await (await fetch(`${server.url}/internal/channels`)).json();
          return !body.ws_channels.includes(channel_id);
        },
        "unused channel removed",
        5000,
      );
      const body = await (await fetch(`${server.url}/internal/channels`)).json();
      assert.ok(body.ws_channels.includes(client.channelId), "attached channel kept");
    },
  );
});
