/**
 * End to end: channel secrets stop hijacking; tokens guard /new, /ws and the operator endpoints;
 * abuse limits refuse with clear JSON errors and log lines.
 */
import assert from "node:assert/strict";
import { startApp, startClientProc, startServerProc, waitUntil } from "./_harness.ts";

/** Attempts a WebSocket upgrade with `headers`; returns the HTTP status (101 on success). */
async function attach(serverUrl: string, id: string, headers: Record<string, string | undefined>) {
  const response = await fetch(`${serverUrl}/ws/${id}`, {
    headers: {
      upgrade: "websocket",
      connection: "Upgrade",
      "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
      "sec-websocket-version": "13",
      "x-wow-protocol": "1",
      ...Object.fromEntries(Object.entries(headers).filter(([, v]) => v !== undefined)) as Record<
        string,
        string
      >,
    },
  });
  const body = response.status === 101 ? "" : await response.text();
  if (response.status === 101) await response.body?.cancel();
  return { status: response.status, body };
}

async function json(response: Response) {
  return { status: response.status, body: await response.json() };
}

Deno.test("channel secrets stop anyone else from attaching to a channel", async (t) => {
  await using app = startApp(() => new Response("owner's app"));
  await using server = await startServerProc();
  await using owner = await startClientProc(server.url, app.url);
  const state = JSON.parse(await Deno.readTextFile(owner.stateFile));
  const ownerSecret = (Object.values(state.channels)[0] as { channel_secret: string })
    .channel_secret;
  const other = await (await fetch(`${server.url}/new`)).json();

  await t.step(
    "while the owner is connected: no, wrong and another channel's secret → 401",
    async () => {
      for (
        const headers of [{}, { "x-channel-secret": "guess" }, {
          "x-channel-secret": other.channel_secret,
        }]
      ) {
        const result = await attach(server.url, owner.channelId, headers);
        assert.equal(result.status, 401, JSON.stringify(headers));
        assert.equal(JSON.parse(result.body).reason, "channel_secret");
      }
    },
  );

  await t.step("the refusal is logged without the secret", async () => {
    await server.waitFor(/Refused GET \/ws\/.* 401 Missing or wrong channel secret/, {
      stream: "stderr",
    });
    assert.ok(!server.stderr.join("\n").includes(ownerSecret));
    assert.ok(!server.stderr.join("\n").includes(other.channel_secret));
  });

  await t.step(
    "while the owner is away: the same attempts are refused and webhooks wait (503)",
    async () => {
      await owner.stop("SIGKILL");
      await waitUntil(async () => {
        const r = await fetch(owner.webhookUrl, { method: "POST", body: "x" });
        await r.body?.cancel();
        return r.status === 503;
      }, "channel detached");
      for (
        const headers of [{}, { "x-channel-secret": "guess" }, {
          "x-channel-secret": other.channel_secret,
        }]
      ) {
        assert.equal((await attach(server.url, owner.channelId, headers)).status, 401);
      }
      const response = await fetch(owner.webhookUrl, { method: "POST", body: "x" });
      assert.equal(response.status, 503);
      assert.equal(response.headers.get("retry-after"), "30");
      await response.body?.cancel();
    },
  );

  await t.step("the owner's secret still attaches", async () => {
    await using back = await startClientProc(server.url, app.url, [
      "--state-file",
      owner.stateFile,
    ]);
    assert.equal(back.webhookUrl, owner.webhookUrl);
    assert.equal(
      await (await fetch(back.webhookUrl, { method: "POST", body: "x" })).text(),
      "owner's app",
    );
  });
});

Deno.test("--auth-token guards /new and /ws; --admin-token guards operator endpoints; webhooks stay open", async (t) => {
  await using app = startApp(() => new Response("ok"));
  const tokenFile = await Deno.makeTempFile();
  await Deno.writeTextFile(tokenFile, "# team tokens\nfile-token\n\n");
  await using server = await startServerProc([
    "--auth-token",
    "alpha,beta",
    "--auth-token-file",
    tokenFile,
    "--admin-token",
    "root",
  ]);

  await t.step("GET /new without or with a wrong token → 401", async () => {
    assert.equal((await json(await fetch(`${server.url}/new`))).status, 401);
    const wrong = await json(
      await fetch(`${server.url}/new`, { headers: { authorization: "Bearer nope" } }),
    );
    assert.equal(wrong.status, 401);
    assert.match(wrong.body.error, /requires a token/);
  });

  await t.step("each configured token (flag, list, file) is accepted", async () => {
    for (const token of ["alpha", "beta", "file-token"]) {
      const result = await json(
        await fetch(`${server.url}/new`, { headers: { authorization: `Bearer ${token}` } }),
      );
      assert.equal(result.status, 200, token);
    }
  });

  await t.step("/ws without the token → 401 even with the channel secret", async () => {
    const { body } = await json(
      await fetch(`${server.url}/new`, { headers: { authorization: "Bearer alpha" } }),
    );
    const result = await attach(server.url, body.channel_id, {
      "x-channel-secret": body.channel_secret,
    });
    assert.equal(result.status, 401);
    assert.equal(JSON.parse(result.body).reason, "auth_token");
  });

  await t.step(
    "a client without the token fails with a clear message; with it, works",
    async () => {
      await assert.rejects(startClientProc(server.url, app.url), /requires a token/);
      await using client = await startClientProc(server.url, app.url, ["--auth-token", "beta"]);
      const response = await fetch(client.webhookUrl, { method: "POST", body: "x" });
      assert.equal(await response.text(), "ok");
    },
  );

  await t.step("operator endpoints need the admin token; /healthz does not", async () => {
    for (const path of ["/traefik-config", "/internal/channels"]) {
      assert.equal((await json(await fetch(`${server.url}${path}`))).status, 401, path);
      const ok = await fetch(`${server.url}${path}`, { headers: { authorization: "Bearer root" } });
      assert.equal(ok.status, 200, path);
      await ok.body?.cancel();
    }
    assert.equal((await json(await fetch(`${server.url}/healthz`))).status, 200);
  });
  await Deno.remove(tokenFile);
});

Deno.test("abuse limits refuse with JSON errors", async (t) => {
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  let entered = 0;
  await using app = startApp(async (request) => {
    if (new URL(request.url).pathname === "/hold") {
      entered++;
      await held;
    }
    await request.body?.cancel();
    return new Response("ok");
  });
  await using server = await startServerProc([
    "--new-rate-limit",
    "3",
    "--max-in-flight",
    "2",
    "--max-channels",
    "5",
    "--max-header-count",
    "30",
    "--max-header-size",
    "2KiB",
  ]);
  await using client = await startClientProc(server.url, app.url);

  await t.step("GET /new beyond the per-IP rate → 429 with Retry-After", async () => {
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 5; i++) {
      const response = await fetch(`${server.url}/new`);
      statuses.push(response.status);
      if (response.status === 429) {
        retryAfter = response.headers.get("retry-after");
        assert.match((await response.json()).error, /Too many new channels/);
      } else await response.body?.cancel();
    }
    // The client already took one of the 3.
    assert.deepEqual(statuses, [200, 200, 429, 429, 429]);
    assert.ok(Number(retryAfter) >= 1);
    await server.waitFor(/Refused GET \/new from 127\.0\.0\.1: 429/, { stream: "stderr" });
  });

  await t.step("more than --max-in-flight requests on one channel → 429", async () => {
    const holding = [1, 2].map(() =>
      fetch(`${client.webhookUrl}/hold`, { method: "POST", body: "x" })
    );
    await waitUntil(() => entered === 2, "both requests reached the app");
    const third = await fetch(client.webhookUrl, { method: "POST", body: "x" });
    assert.equal(third.status, 429);
    assert.match((await third.json()).error, /2 requests in flight/);
    release();
    for (const response of await Promise.all(holding)) assert.equal(await response.text(), "ok");
    const after = await fetch(client.webhookUrl, { method: "POST", body: "x" });
    assert.equal(await after.text(), "ok");
  });

  await t.step("too many or too large headers → 431", async () => {
    const many: Record<string, string> = {};
    for (let i = 0; i < 40; i++) many[`x-h-${i}`] = "v";
    const tooMany = await fetch(client.webhookUrl, { method: "POST", body: "x", headers: many });
    assert.equal(tooMany.status, 431);
    assert.match((await tooMany.json()).error, /Too many header fields/);
    const tooLarge = await fetch(client.webhookUrl, {
      method: "POST",
      body: "x",
      headers: { "x-big": "a".repeat(3000) },
    });
    assert.equal(tooLarge.status, 431);
    assert.match((await tooLarge.json()).error, /Headers too large/);
  });

  await t.step("beyond --max-channels, /new is refused with 503", async () => {
    await using small = await startServerProc(["--max-channels", "2", "--new-rate-limit", "0"]);
    const statuses = [];
    for (let i = 0; i < 3; i++) {
      const response = await fetch(`${small.url}/new`);
      statuses.push(response.status);
      await response.body?.cancel();
    }
    assert.deepEqual(statuses, [200, 200, 503]);
  });
});

Deno.test("--header-timeout closes slow-loris connections with 408; normal traffic still flows", async () => {
  await using app = startApp(async (request) => new Response(`got:${await request.text()}`));
  await using server = await startServerProc([
    "--header-timeout",
    "500ms",
    "--new-rate-limit",
    "0",
  ]);
  await using client = await startClientProc(server.url, app.url);
  // A slow-loris connection: half a request head, then silence.
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  await conn.write(new TextEncoder().encode("POST /webhook/x HTTP/1.1\r\nHost: x\r\n"));
  const started = performance.now();
  const answer = new TextDecoder().decode(await new Response(conn.readable).arrayBuffer());
  const waited = performance.now() - started;
  assert.match(answer, /^HTTP\/1\.1 408/);
  assert.match(answer, /did not arrive within 500 ms/);
  assert.ok(waited >= 400 && waited < 5000, `closed after ${waited} ms`);
  await server.waitFor(/Refused a connection from 127\.0\.0\.1: 408/, { stream: "stderr" });
  // Tunnelled webhooks and the sender's address are unaffected.
  const response = await fetch(client.webhookUrl, { method: "POST", body: "through the guard" });
  assert.equal(await response.text(), "got:through the guard");
  await server.waitFor(/POST \/webhook\/.* 200/, { stream: "stderr" });
});
