/**
 * End to end: replicas on their own loopback addresses form a cluster by gossip; every replica
 * serves every channel and renders the same Traefik configuration.
 */
import assert from "node:assert/strict";
import {
  dechunk,
  freePorts,
  type ServerProc,
  startApp,
  startClientProc,
  startServerProc,
  tempStateFile,
  waitUntil,
} from "./_harness.ts";
import { dnsServer } from "./_dns.ts";
import { assertValidTraefikDynamicConfig } from "./_traefik_schema.ts";

interface MemberView {
  name: string;
  state: string;
  server_url: string;
}

async function membersOf(server: ServerProc): Promise<MemberView[]> {
  const response = await fetch(`${server.url}/internal/members`);
  return (await response.json()).members;
}

async function aliveNames(server: ServerProc): Promise<string[]> {
  return (await membersOf(server)).filter((m) => m.state === "alive").map((m) => m.name).sort();
}

async function traefikText(server: ServerProc): Promise<{ status: number; text: string }> {
  const response = await fetch(`${server.url}/traefik-config`);
  return { status: response.status, text: await response.text() };
}

/** Starts `count` replicas on 127.0.0.<first+i>, same ports, the later ones joining the first. */
async function startReplicas(
  first: number,
  count: number,
  extra: (i: number, gossipPort: number) => string[],
) {
  const [httpPort, gossipPort] = freePorts(2, `127.0.0.${first}`);
  const replicas: ServerProc[] = [];
  const start = (i: number) =>
    startServerProc([
      "--memberlist-port",
      String(gossipPort),
      "--node-name",
      `replica-${i}`,
      ...extra(i, gossipPort),
    ], { host: `127.0.0.${first + i}`, port: httpPort });
  for (let i = 0; i < count; i++) replicas.push(await start(i));
  return { replicas, gossipPort, start };
}

Deno.test("cluster joined with --join: members, routing from every replica, failure and rejoin", async (t) => {
  await using app = startApp(async (request) => {
    const path = new URL(request.url).pathname;
    if (path === "/exact") {
      const headers = new Headers({
        "content-encoding": "gzip",
        "x-ae": request.headers.get("accept-encoding") ?? "none",
      });
      headers.append("set-cookie", "a=1");
      headers.append("set-cookie", "b=2");
      const body = new Uint8Array(await request.arrayBuffer());
      return new Response(body, { status: 201, headers });
    }
    return new Response(`app:${path}:${await request.text()}`);
  });
  const first = 61;
  const { replicas, start } = await startReplicas(
    first,
    3,
    (i, gossipPort) => i === 0 ? [] : ["--join", `127.0.0.${first}:${gossipPort}`],
  );
  const [a, b, c] = replicas;
  const clients: { stop(): Promise<unknown> }[] = [];
  try {
    await t.step("every replica lists all three alive", async () => {
      for (const server of replicas) {
        await waitUntil(
          async () => (await aliveNames(server)).length === 3,
          `${server.url} sees 3 alive`,
        );
      }
      const members = await membersOf(a);
      assert.deepEqual(members.map((m) => m.name).sort(), ["replica-0", "replica-1", "replica-2"]);
      assert.deepEqual(
        members.map((m) => m.server_url).sort(),
        replicas.map((r) => r.url).sort(),
      );
    });

    // Client 1 on replica A; client 2 got its channel from A but attaches through B.
    const client1 = await startClientProc(a.url, app.url);
    clients.push(client1);
    const issued = await (await fetch(`${a.url}/new`)).json();
    const stateFile = await tempStateFile();
    await Deno.writeTextFile(
      stateFile,
      JSON.stringify({
        version: 1,
        channels: {
          [`${new URL(b.url).href} ${new URL(app.url).href}`]: {
            channel_id: issued.channel_id,
            channel_secret: issued.channel_secret,
          },
        },
      }),
    );
    const client2 = await startClientProc(b.url, app.url, ["--state-file", stateFile]);
    clients.push(client2);

    await t.step("a channel issued by A attaches through B at once", () => {
      assert.equal(client2.channelId, issued.channel_id);
    });

    await t.step("a webhook landing on a replica without the client is relayed", async () => {
      for (const server of replicas) {
        for (const client of [client1, client2]) {
          const response = await fetch(`${server.url}/webhook/${client.channelId}/x?y=1`, {
            method: "POST",
            body: `via ${server.url}`,
          });
          assert.equal(response.status, 200);
          assert.equal(await response.text(), `app:/x:via ${server.url}`);
        }
      }
    });

    await t.step("a relayed webhook stays byte-exact both ways", async () => {
      const body = new Uint8Array(300_000).map((_, i) => (i * 7919) & 0xff);
      const target = new URL(c.url);
      const conn = await Deno.connect({ hostname: target.hostname, port: Number(target.port) });
      // A raw request without Accept-Encoding, landing on C (the client is on A).
      const head = `POST /webhook/${client1.channelId}/exact HTTP/1.1\r\nHost: x\r\n` +
        `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n`;
      await conn.write(new TextEncoder().encode(head));
      for (let o = 0; o < body.length;) o += await conn.write(body.subarray(o));
      const raw = new Uint8Array(await new Response(conn.readable).arrayBuffer());
      const text = new TextDecoder("latin1").decode(raw);
      const split = text.indexOf("\r\n\r\n");
      const headText = text.slice(0, split).toLowerCase();
      assert.match(headText, /^http\/1\.1 201/);
      assert.match(headText, /content-encoding: gzip/);
      assert.match(headText, /x-ae: none/);
      assert.equal(headText.match(/set-cookie: /g)?.length, 2);
      let back: Uint8Array = raw.subarray(split + 4);
      if (/transfer-encoding: chunked/.test(headText)) back = dechunk(back);
      assert.deepEqual(back, body);
    });

    await t.step(
      "every replica renders the same valid Traefik config routing each channel to its owner",
      async () => {
        const texts = await Promise.all(replicas.map(traefikText));
        for (const { status } of texts) assert.equal(status, 200);
        assert.equal(new Set(texts.map((x) => x.text)).size, 1, "byte-identical");
        const config = JSON.parse(texts[0].text);
        await assertValidTraefikDynamicConfig(config);
        assert.deepEqual(
          config.http.services[`service-${client1.channelId}`].loadBalancer.servers,
          [{ url: a.url }],
        );
        assert.deepEqual(
          config.http.services[`service-${client2.channelId}`].loadBalancer.servers,
          [{ url: b.url }],
        );
        assert.ok(config.http.routers[`webhook-${client2.channelId}`]);
      },
    );

    const client3 = await startClientProc(c.url, app.url);
    clients.push(client3);
    await waitUntil(async () => {
      const config = JSON.parse((await traefikText(a)).text);
      return config.http?.routers[`webhook-${client3.channelId}`];
    }, "C's channel routed");

    await t.step(
      "a frozen replica never stalls /traefik-config past 2 s; its channels drop out",
      async () => {
        c.kill("SIGSTOP");
        try {
          const started = performance.now();
          const { status, text } = await traefikText(a);
          const took = performance.now() - started;
          assert.equal(status, 200);
          assert.ok(took < 2000, `answered after ${took} ms`);
          const config = JSON.parse(text);
          assert.equal(config.http.routers[`webhook-${client3.channelId}`], undefined);
          assert.ok(config.http.routers[`webhook-${client1.channelId}`]);
        } finally {
          c.kill("SIGCONT");
        }
      },
    );

    await t.step("kill -9 of a replica: the others see it dead and drop its channels", async () => {
      const killedAt = performance.now();
      await c.stop("SIGKILL");
      for (const server of [a, b]) {
        await waitUntil(async () => {
          const member = (await membersOf(server)).find((m) => m.name === "replica-2");
          return member?.state === "dead";
        }, `${server.url} sees replica-2 dead`);
      }
      console.log(
        `kill -9 seen dead by both survivors after ${Math.round(performance.now() - killedAt)} ms`,
      );
      for (const server of [a, b]) {
        const config = JSON.parse((await traefikText(server)).text);
        assert.equal(config.http.routers[`webhook-${client3.channelId}`], undefined);
        assert.ok(config.http.routers[`webhook-${client1.channelId}`]);
      }
    });

    await t.step("the killed replica restarts and rejoins", async () => {
      const restarted = await start(2);
      replicas[2] = restarted;
      for (const server of [a, b, restarted]) {
        await waitUntil(
          async () => (await aliveNames(server)).length === 3,
          `${server.url} sees 3 alive again`,
        );
      }
    });
  } finally {
    for (const client of clients) await client.stop();
    for (const server of replicas) await server.stop();
  }
});

Deno.test("cluster found through --peer-domain (DNS), with a gossip key protecting /internal", async (t) => {
  const first = 66;
  const ips = [0, 1, 2].map((i) => `127.0.0.${first + i}`);
  const dns = dnsServer("replicas.wow.test", () => ips);
  const key = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))));
  const { replicas } = await startReplicas(first, 3, () => [
    "--peer-domain",
    "replicas.wow.test",
    "--dns-server",
    dns.address,
    "--memberlist-sync-duration",
    "500ms",
    "--gossip-key",
    key,
  ]);
  const credentialHeaders = async () => {
    // The credential is HMAC-SHA256(key, "wow-internal"), base64url.
    const raw = Uint8Array.from(atob(key), (ch) => ch.charCodeAt(0));
    const hmacKey = await crypto.subtle.importKey(
      "raw",
      raw,
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign"],
    );
    const mac = new Uint8Array(
      await crypto.subtle.sign("HMAC", hmacKey, new TextEncoder().encode("wow-internal")),
    );
    const b64 = btoa(String.fromCharCode(...mac)).replaceAll("+", "-").replaceAll("/", "_").replace(
      /=+$/,
      "",
    );
    return { "x-wow-cluster-auth": b64 };
  };
  try {
    await t.step("the replicas find each other through DNS", async () => {
      const headers = await credentialHeaders();
      for (const server of replicas) {
        await waitUntil(async () => {
          const response = await fetch(`${server.url}/internal/members`, { headers });
          const members: MemberView[] = (await response.json()).members;
          return members.filter((m) => m.state === "alive").length === 3;
        }, `${server.url} sees 3 alive`);
      }
    });

    await t.step(
      "garbage gossip packets are dropped and counted in /internal/members; the replica keeps serving",
      async () => {
        const headers = await credentialHeaders();
        const target = replicas[0];
        const statsOf = async () =>
          (await (await fetch(`${target.url}/internal/members`, { headers })).json()).stats;
        const before = await statsOf();
        const sock = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
        const gossip = (await (await fetch(`${target.url}/internal/members`, { headers })).json())
          .members.find((m: MemberView & { address: string }) => m.server_url === target.url)
          .address as string;
        const [ip, port] = gossip.split(":");
        for (let i = 0; i < 20; i++) {
          await sock.send(crypto.getRandomValues(new Uint8Array(64 + i)), {
            transport: "udp",
            hostname: ip,
            port: Number(port),
          });
        }
        sock.close();
        await waitUntil(async () => {
          const after = await statsOf();
          const failures = (s: Record<string, number>) =>
            (s.udpDecryptErrors ?? 0) + (s.udpDecodeErrors ?? 0);
          return failures(after) >= failures(before) + 20;
        }, "garbage packets counted");
        // The replica is unharmed.
        const response = await fetch(`${target.url}/healthz`);
        assert.equal(response.status, 200);
        await response.body?.cancel();
      },
    );

    await t.step("/internal/* refuses callers without the replica credential", async () => {
      const response = await fetch(`${replicas[0].url}/internal/channels`);
      assert.equal(response.status, 401);
      await response.body?.cancel();
    });

    await t.step("/traefik-config stays open (no admin token) and agrees everywhere", async () => {
      const texts = await Promise.all(replicas.map(traefikText));
      assert.ok(texts.every((x) => x.status === 200));
      assert.equal(new Set(texts.map((x) => x.text)).size, 1);
    });
  } finally {
    for (const server of replicas) await server.stop();
    await dns.close();
  }
});
