/**
 * The inspector end to end: a real headless Chromium drives the page (live list over SSE,
 * detail, Replay, hostile bodies rendered as text), first against an inspector started in
 * process, then against real server, client and app processes.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { Page } from "puppeteer-core";
import { Http1Client } from "../http1/mod.ts";
import { Recorder, replayDelivery, startInspector } from "../client/inspector/mod.ts";
import { launchChromium } from "./_chromium.ts";
import {
  bytesOf,
  freePort,
  pseudoRandomBytes,
  spawnMain,
  startApp,
  startClientProc,
  startServerProc,
  waitUntil,
} from "./_harness.ts";

const enc = new TextEncoder();
const XSS_BODY = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>';
const XSS_HEADER = '"><svg onload="window.__xss=3">';

/** Rows of the live list: `[id, text]`. */
function rows(page: Page): Promise<string[][]> {
  return page.$$eval(
    "#list tbody tr",
    (trs) => trs.map((tr) => [tr.getAttribute("data-id") ?? "", tr.textContent ?? ""]),
  );
}

/**
 * Clicks the list row of delivery `id`. The live list re-renders a row when its delivery ends
 * (answer, signature verdict), which can detach the element between lookup and click, so the
 * click is retried until it lands (bounded by the harness's deadline).
 */
async function clickRow(page: Page, id: string): Promise<void> {
  await waitUntil(async () => {
    try {
      await page.click(`#list tbody tr[data-id="${id}"]`);
      return true;
    } catch (error) {
      if (/detached|No element found/i.test(String(error))) return false;
      throw error;
    }
  }, `a click on row ${id}`);
}

async function waitForRows(page: Page, count: number): Promise<string[][]> {
  let found: string[][] = [];
  await waitUntil(async () => (found = await rows(page)).length >= count, `${count} rows`);
  return found;
}

/**
 * Waits until the first element matching `selector` has exactly `text` as its text; on timeout
 * the error shows what it had.
 */
async function waitForText(page: Page, selector: string, text: string): Promise<void> {
  const expr = `document.querySelector(${JSON.stringify(selector)})?.textContent`;
  try {
    await page.waitForFunction(`${expr} === ${JSON.stringify(text)}`, { timeout: 10_000 });
  } catch (error) {
    const had = await page.evaluate(expr);
    throw new Error(`${selector}: expected ${JSON.stringify(text)}, had ${JSON.stringify(had)}`, {
      cause: error,
    });
  }
}

async function assertNoInjection(page: Page): Promise<void> {
  assert.equal(await page.evaluate(() => (globalThis as { __xss?: number }).__xss), undefined);
  assert.equal(await page.$$eval("#detail img, #detail svg, #detail script", (n) => n.length), 0);
}

/** An inspector on a loopback port in this process, replaying to `target`. */
function inspectorInProcess(target: URL) {
  const recorder = new Recorder();
  const http = new Http1Client();
  const inspector = startInspector({
    addr: { hostname: "127.0.0.1", port: 0 },
    recorder,
    targetUrl: target,
    replay: (original, edits) => replayDelivery(original, edits, { recorder, http, target }),
  });
  return { recorder, inspector, http };
}

Deno.test("inspector page: live list, detail, Replay and hostile bodies shown as text (in process)", async () => {
  const app: { headers: [string, string][]; body: Uint8Array }[] = [];
  const appServer = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (req) => {
      app.push({ headers: [...req.headers], body: new Uint8Array(await req.arrayBuffer()) });
      return new Response("<b>answer</b>", { headers: { "content-type": "text/html" } });
    },
  );
  const target = new URL(`http://127.0.0.1:${appServer.addr.port}`);
  const { recorder, inspector, http } = inspectorInProcess(target);
  await using chromium = await launchChromium();
  const dir = await Deno.makeTempDir({ prefix: "wow-inspector-" });
  try {
    const page = await chromium.browser.newPage();
    const violations: string[] = [];
    page.on("console", (message) => {
      if (/Content Security Policy|Refused/.test(message.text())) violations.push(message.text());
    });
    await page.goto(inspector.url, { waitUntil: "load" });
    await page.waitForFunction('document.getElementById("live").textContent === "live"');
    assert.deepEqual(await rows(page), []);

    // A delivery recorded after the page loaded appears without a reload.
    const rec = recorder.begin({
      method: "POST",
      path: "/hook?<i>q</i>",
      headers: [["content-type", "text/html"], ["x-evil", XSS_HEADER], ["x-github-event", "push"]],
    });
    rec.requestChunk(enc.encode(XSS_BODY));
    rec.responseHead(200, [["content-type", "text/plain"]]);
    rec.responseChunk(enc.encode("ok"));
    rec.finish("ok");
    const [[id, text]] = await waitForRows(page, 1);
    assert.equal(id, rec.id);
    assert.match(text, /POST\/hook\?<i>q<\/i>github \/ push200/);

    await clickRow(page, id);
    await waitForText(page, "#req-body pre.raw", XSS_BODY);
    const headerText = await page.$eval("#req-headers", (t) => t.textContent);
    assert.ok(headerText?.includes(XSS_HEADER));
    await assertNoInjection(page);

    await page.click("#replay");
    const after = await waitForRows(page, 2);
    assert.notEqual(after[0][0], id);
    assert.match(after[0][1], /\(replay\)/);
    await waitUntil(() => app.length === 1, "the app got the replay");
    assert.deepEqual(app[0].body, enc.encode(XSS_BODY));
    assert.equal(app[0].headers.find(([n]) => n === "x-evil")?.[1], XSS_HEADER);

    // The replay's HTML answer is shown as text too.
    await clickRow(page, after[0][0]);
    await waitForText(page, "#resp-body pre.raw", "<b>answer</b>");
    await assertNoInjection(page);

    // Gzip answers shown decoded, form bodies as fields, binary as hex; curl keeps exact bytes.
    const gzipped = new Uint8Array(
      await new Response(
        new Blob([enc.encode('{"zipped":true}')]).stream().pipeThrough(
          new CompressionStream("gzip"),
        ),
      ).arrayBuffer(),
    );
    const form = recorder.begin({
      method: "POST",
      path: "/form",
      headers: [["content-type", "application/x-www-form-urlencoded"]],
    });
    form.requestChunk(enc.encode("name=%3Cb%3Ex%3C%2Fb%3E&n=2"));
    form.responseHead(200, [["content-type", "application/json"], ["content-encoding", "gzip"]]);
    form.responseChunk(gzipped);
    form.finish("ok");
    const binary = recorder.begin({ method: "PUT", path: "/bin", headers: [] });
    binary.requestChunk(new Uint8Array([0, 1, 2, 0xff, 0x41]));
    binary.finish("target_unreachable", "refused");
    await waitForRows(page, 4);
    await clickRow(page, form.id);
    await waitForText(page, "#req-body table.form", "name<b>x</b>n2");
    await waitForText(page, "#resp-body pre.pretty", JSON.stringify({ zipped: true }, null, 2));
    const notes = await page.$eval("#resp-body", (n) => n.textContent ?? "");
    assert.match(notes, /Content-Encoding: gzip/);
    await clickRow(page, binary.id);
    await waitForText(
      page,
      "#req-body pre.hex",
      `00000000  ${"00 01 02 ff 41".padEnd(48)}  ....A`,
    );
    await page.click("#curl");
    const curl = await page.$eval("#curl-text", (n) => (n as unknown as { value: string }).value);
    assert.equal(
      curl,
      `printf '%s' 'AAEC/0E=' | base64 -d | curl -X 'PUT' '${target.origin}/bin' --data-binary @-`,
    );
    // The status-class filter keeps only failed deliveries.
    await page.select("#status-class", "failed");
    assert.deepEqual((await rows(page)).map(([rowId]) => rowId), [binary.id]);
    await page.select("#status-class", "");
    // Clear empties the list live.
    await page.click("#clear");
    await waitUntil(async () => (await rows(page)).length === 0, "an empty list");
    assert.equal(recorder.size, 0);
    assert.deepEqual(violations, []);

    const shot = Deno.env.get("INSPECTOR_SHOT") ?? `${dir}/inspector.png`;
    await page.screenshot({ path: shot as `${string}.png`, fullPage: true });
    const png = await Deno.readFile(shot);
    assert.ok(png.length > 1000, `screenshot has ${png.length} bytes`);
    assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  } finally {
    await chromium.close();
    await inspector.shutdown();
    await http.close();
    await appServer.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

// ---------------------------------------------------------------------------------------------
// Real processes: server, client (with its inspector) and an app in this process.

interface Seen {
  method: string;
  path: string;
  headers: [string, string][];
  body: Uint8Array;
}

async function sha256(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The app: keeps each request; answers `/bin` with 300 KiB of bytes, others with a short text. */
function recordingApp(seen: Seen[]) {
  return startApp(async (request) => {
    const url = new URL(request.url);
    const body = new Uint8Array(await request.arrayBuffer());
    seen.push({
      method: request.method,
      path: url.pathname + url.search,
      headers: [...request.headers],
      body,
    });
    if (url.pathname.endsWith("/bin")) {
      return new Response(pseudoRandomBytes(300 * 1024, 7), {
        headers: { "content-type": "application/octet-stream" },
      });
    }
    return new Response(`received ${body.length}`, { status: 201, headers: { "x-app": "1" } });
  });
}

interface Summary {
  id: string;
  method: string;
  path: string;
  status: number | null;
  outcome: string;
  provider: string;
  event: string;
  replay_of: string | null;
  request_bytes: number;
  response_bytes: number;
  duration_ms: number | null;
  received_at: string;
  /** The signature verdict; null without `--verify`. */
  verification: Verification | null;
}

async function getJson<T>(url: string, init?: RequestInit): Promise<T> {
  const response = await fetch(url, init);
  assert.ok(response.ok, `${url}: HTTP ${response.status}`);
  return await response.json() as T;
}

async function finishedDeliveries(inspector: string, count: number): Promise<Summary[]> {
  let list: Summary[] = [];
  await waitUntil(async () => {
    list = (await getJson<{ deliveries: Summary[] }>(`${inspector}/api/deliveries`)).deliveries;
    return list.length >= count && list.every((d) => d.outcome !== "pending");
  }, `${count} finished deliveries`);
  return list;
}

Deno.test("inspector page: a delivery announced while the history loads is not wiped by the older list", async () => {
  const { recorder, inspector, http } = inspectorInProcess(new URL("http://127.0.0.1:9"));
  await using chromium = await launchChromium();
  try {
    const page = await chromium.browser.newPage();
    await page.setRequestInterception(true);
    let recordedId = "";
    let staleId = "";
    page.on("request", async (request) => {
      const url = new URL(request.url());
      if (url.pathname !== "/api/deliveries" || recordedId) return void request.continue();
      // The page's history request is held: the server answers it (an empty history), then a
      // delivery is recorded and its live event reaches the page, and only then does the page
      // get its (now stale) list, with one made-up older entry to show it was applied.
      const stale = await (await fetch(url)).json();
      const rec = recorder.begin({ method: "POST", path: "/late", headers: [] });
      rec.finish("ok");
      recordedId = rec.id;
      await waitUntil(
        async () => (await rows(page)).some(([id]) => id === rec.id),
        "the live event's row",
      );
      const [summary] = (await (await fetch(url)).json()).deliveries;
      staleId = `${summary.id}-older`;
      stale.deliveries = [{ ...summary, id: staleId, path: "/older" }];
      await request.respond({
        status: 200,
        contentType: "application/json",
        body: JSON.stringify(stale),
      });
    });
    await page.goto(inspector.url, { waitUntil: "load" });
    await waitUntil(async () => (await rows(page)).some(([id]) => id === staleId), "the list");
    const ids = (await rows(page)).map(([id]) => id).sort();
    assert.deepEqual(ids, [recordedId, staleId].sort());
  } finally {
    await chromium.close();
    await inspector.shutdown();
    await http.close();
  }
});

Deno.test("inspector with real processes: API, exact bodies, replays, safety, browser, replay command", async (t) => {
  const seen: Seen[] = [];
  await using app = recordingApp(seen);
  await using server = await startServerProc();
  const inspectPort = freePort();
  const inspector = `http://127.0.0.1:${inspectPort}`;
  await using client = await startClientProc(server.url, app.url, [
    "--inspect-addr",
    `127.0.0.1:${inspectPort}`,
  ]);
  await client.waitFor(/^Inspector: http:\/\/127\.0\.0\.1:\d+$/, { stream: "stdout" });
  assert.ok(client.stdout.includes(`Inspector: ${inspector}`), client.stdout.join("\n"));

  const json = enc.encode(JSON.stringify({ action: "opened", number: 7 }));
  const binary = pseudoRandomBytes(1024 * 1024, 3);
  const form = enc.encode("name=a+b&token=x%26y");
  let ids: Record<string, string> = {};

  await t.step("deliveries appear with the right fields and byte-exact bodies", async () => {
    const sent = [
      await fetch(`${client.webhookUrl}/gh?x=1`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-github-event": "pull_request" },
        body: json,
      }),
      await fetch(`${client.webhookUrl}/bin`, { method: "PUT", body: binary }),
      await fetch(`${client.webhookUrl}/form`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: form,
      }),
    ];
    const answers = await Promise.all(sent.map((r) => bytesOf(r)));
    const list = await finishedDeliveries(inspector, 3);
    const [f, b, g] = list;
    ids = { json: g.id, binary: b.id, form: f.id };
    assert.deepEqual(
      [g.method, g.path, g.status, g.outcome, g.provider, g.event, g.request_bytes],
      ["POST", "/gh?x=1", 201, "ok", "github", "pull_request", json.length],
    );
    assert.deepEqual(
      [b.method, b.path, b.status, b.request_bytes, b.response_bytes],
      ["PUT", "/bin", 200, binary.length, 300 * 1024],
    );
    assert.deepEqual([f.path, f.status, f.replay_of], ["/form", 201, null]);
    assert.ok(g.duration_ms !== null && g.duration_ms >= 0);
    assert.ok(!Number.isNaN(Date.parse(g.received_at)));
    for (
      const [id, request, answer] of [[g.id, json, answers[0]], [b.id, binary, answers[1]], [
        f.id,
        form,
        answers[2],
      ]] as const
    ) {
      const raw = await bytesOf(await fetch(`${inspector}/api/deliveries/${id}/request-body`));
      assert.equal(await sha256(raw), await sha256(request as Uint8Array<ArrayBuffer>));
      const rawAnswer = await bytesOf(
        await fetch(`${inspector}/api/deliveries/${id}/response-body`),
      );
      assert.equal(await sha256(rawAnswer), await sha256(answer));
    }
    const detail = await getJson<{ request_headers: [string, string][] }>(
      `${inspector}/api/deliveries/${g.id}`,
    );
    assert.ok(
      detail.request_headers.some(([n, v]) => n === "x-github-event" && v === "pull_request"),
    );
  });

  await t.step(
    "a replay reaches the app with identical method, path, headers and body",
    async () => {
      const before = seen.length;
      const original = seen.find((s) => s.path === "/bin")!;
      const response = await fetch(`${inspector}/api/deliveries/${ids.binary}/replay`, {
        method: "POST",
      });
      assert.equal(response.status, 201);
      const replayed = await response.json();
      assert.equal(replayed.replay_of, ids.binary);
      assert.equal(replayed.status, 200);
      assert.equal(seen.length, before + 1);
      const again = seen[before];
      assert.equal(again.method, original.method);
      assert.equal(again.path, original.path);
      assert.deepEqual(again.headers, original.headers);
      assert.equal(await sha256(again.body as Uint8Array<ArrayBuffer>), await sha256(binary));
    },
  );

  await t.step("an edited replay carries the edit", async () => {
    const response = await fetch(`${inspector}/api/deliveries/${ids.json}/replay`, {
      method: "POST",
      body: JSON.stringify({
        headers: [["content-type", "application/json"], ["x-edited", "yes"]],
        body_b64: btoa('{"edited":true}'),
      }),
    });
    assert.equal(response.status, 201);
    await response.body?.cancel();
    const last = seen.at(-1)!;
    assert.equal(last.path, "/gh?x=1");
    assert.equal(new TextDecoder().decode(last.body), '{"edited":true}');
    assert.ok(last.headers.some(([n, v]) => n === "x-edited" && v === "yes"));
    assert.ok(!last.headers.some(([n]) => n === "x-github-event"));
  });

  await t.step("cross-site and rebinding requests get 403", async () => {
    const before = seen.length;
    const evil = await fetch(`${inspector}/api/deliveries/${ids.json}/replay`, {
      method: "POST",
      headers: { origin: "https://evil.example" },
    });
    assert.equal(evil.status, 403);
    await evil.body?.cancel();
    // fetch sets Host from the URL: speak HTTP/1.1 by hand to send a foreign one.
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: inspectPort });
    await conn.write(enc.encode(
      `POST /api/deliveries/${ids.json}/replay HTTP/1.1\r\nHost: evil.example:${inspectPort}\r\n` +
        "Content-Length: 0\r\nConnection: close\r\n\r\n",
    ));
    const answer = new TextDecoder().decode(await new Response(conn.readable).arrayBuffer());
    assert.match(answer, /^HTTP\/1\.1 403 /);
    assert.equal(seen.length, before);
  });

  await t.step(
    "replay command: exit 0 on 2xx with a status line, 1 for an unknown id, 2 without one",
    async () => {
      const ok = spawnMain(["replay", ids.form, "--inspect-addr", `127.0.0.1:${inspectPort}`]);
      assert.equal((await ok.status).code, 0, ok.stderr.join("\n"));
      assert.match(
        ok.stdout[0],
        new RegExp(`^[0-9a-z]+ POST /form 201 [\\d.]+ms replay_of=${ids.form}$`),
      );
      const unknown = spawnMain(["replay", "nope", "--inspect-addr", `127.0.0.1:${inspectPort}`]);
      assert.equal((await unknown.status).code, 1);
      assert.match(unknown.stderr.join("\n"), /404/);
      const usage = spawnMain(["replay", "--inspect-addr", `127.0.0.1:${inspectPort}`]);
      assert.equal((await usage.status).code, 2);
    },
  );

  await t.step(
    "the page shows a webhook sent after it loaded, its body, and replays it",
    async () => {
      await using chromium = await launchChromium();
      const page = await chromium.browser.newPage();
      await page.setViewport({ width: 1280, height: 900 });
      await page.goto(inspector, { waitUntil: "load" });
      await page.waitForFunction('document.getElementById("live").textContent === "live"');
      const initial = (await rows(page)).length;
      await waitUntil(async () => (await rows(page)).length === initial, "list loaded");
      const body = `{"hello":"browser","html":"${"<img src=x onerror=window.__xss=9>"}"}`;
      const sent = await fetch(`${client.webhookUrl}/browser`, {
        method: "POST",
        headers: { "content-type": "text/plain", "x-shopify-topic": "orders/create" },
        body,
      });
      await sent.body?.cancel();
      // The row appears when the delivery begins and shows its status once it finishes: two
      // live events, which the page may render apart.
      let found = await waitForRows(page, initial + 1);
      await waitUntil(
        async () => !(found = await rows(page))[0][1].endsWith("pending…"),
        "the delivery's status on the page",
      );
      const [id, text] = found[0];
      assert.match(text, /POST\/browsershopify \/ orders\/create201/);
      await clickRow(page, id);
      await waitForText(page, "#req-body pre.raw", body);
      await assertNoInjection(page);
      const before = seen.length;
      await page.click("#replay");
      const after = await waitForRows(page, initial + 2);
      assert.match(after[0][1], /\(replay\)/);
      await waitUntil(() => seen.length === before + 1, "the app got the replay");
      assert.equal(new TextDecoder().decode(seen.at(-1)!.body), body);
      assert.equal(seen.at(-1)!.path, "/browser");
      const dir = await Deno.makeTempDir({ prefix: "wow-inspector-" });
      try {
        const shot = `${dir}/inspector.png` as const;
        await page.screenshot({ path: shot, fullPage: true });
        const png = await Deno.readFile(shot);
        assert.ok(png.length > 1000);
        assert.deepEqual([...png.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47]);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  );

  await t.step("Clear empties the history", async () => {
    const cleared = await fetch(`${inspector}/api/deliveries`, { method: "DELETE" });
    assert.equal(cleared.status, 204);
    assert.deepEqual(await getJson(`${inspector}/api/deliveries`), { deliveries: [] });
  });
});

Deno.test("inspector bounds: oldest evicted, an oversized body kept truncated while the app gets it whole", async () => {
  const seen: Seen[] = [];
  await using app = recordingApp(seen);
  await using server = await startServerProc();
  const port = freePort();
  const inspector = `http://127.0.0.1:${port}`;
  await using client = await startClientProc(server.url, app.url, [
    "--inspect-addr",
    `127.0.0.1:${port}`,
    "--inspect-history",
    "2",
    "--inspect-max-bytes",
    "100KiB",
  ]);
  await client.waitFor(/^Inspector: /, { stream: "stdout" });
  for (const path of ["/one", "/two", "/three"]) {
    await (await fetch(`${client.webhookUrl}${path}`, { method: "POST", body: path })).body
      ?.cancel();
  }
  const list = await finishedDeliveries(inspector, 2);
  assert.deepEqual(list.map((d) => d.path), ["/three", "/two"]);

  const big = pseudoRandomBytes(512 * 1024, 11);
  const answer = await fetch(`${client.webhookUrl}/big`, { method: "POST", body: big });
  assert.equal(answer.status, 201);
  assert.equal(await answer.text(), `received ${big.length}`);
  assert.equal(await sha256(seen.at(-1)!.body as Uint8Array<ArrayBuffer>), await sha256(big));
  // Its 100 KiB kept fill the byte bound: the older records made room.
  const [latest, ...older] = await finishedDeliveries(inspector, 1);
  assert.equal(latest.path, "/big");
  assert.deepEqual(older, []);
  const detail = await getJson<{ request_truncated: boolean; request_bytes: number; id: string }>(
    `${inspector}/api/deliveries/${latest.id}`,
  );
  assert.equal(detail.request_truncated, true);
  assert.equal(detail.request_bytes, big.length);
  const kept = await bytesOf(await fetch(`${inspector}/api/deliveries/${latest.id}/request-body`));
  assert.equal(kept.length, 100 * 1024);
  assert.deepEqual(kept, big.subarray(0, kept.length));
  const replay = await fetch(`${inspector}/api/deliveries/${latest.id}/replay`, { method: "POST" });
  assert.equal(replay.status, 409);
  await replay.body?.cancel();
});

Deno.test("client --json prints one JSON line per delivery; a busy --inspect-addr is one warning", async () => {
  const seen: Seen[] = [];
  await using app = recordingApp(seen);
  await using server = await startServerProc();
  const busy = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const port = (busy.addr as Deno.NetAddr).port;
    await using client = await startClientProc(server.url, app.url, [
      "--json",
      "--inspect-addr",
      `127.0.0.1:${port}`,
    ]);
    await client.waitFor(/Cannot serve the inspector.*running without the inspector/, {
      stream: "stderr",
    });
    const sent = await fetch(`${client.webhookUrl}/json?q=1`, {
      method: "POST",
      headers: { "x-gitlab-event": "Push Hook" },
      body: "x",
    });
    await sent.body?.cancel();
    const [line] = await client.waitFor(/^\{.*\}$/, { stream: "stdout" });
    const record = JSON.parse(line);
    assert.deepEqual(Object.keys(record).sort(), [
      "duration_ms",
      "event",
      "id",
      "method",
      "outcome",
      "path",
      "provider",
      "queued",
      "received_at",
      "replay_of",
      "request_bytes",
      "response_bytes",
      "status",
      "verification",
    ]);
    assert.equal(record.verification, null, "no --verify rule: no verdict");
    assert.deepEqual(
      [record.method, record.path, record.status, record.outcome, record.provider, record.event],
      ["POST", "/json?q=1", 201, "ok", "gitlab", "Push Hook"],
    );
    assert.equal(client.stdout.length, 4, client.stdout.join("\n"));
    assert.ok(!client.stdout.some((l) => l.startsWith("Inspector:")));
    assert.ok(!client.stderr.some((l) => l.includes("POST /json")), "no text log line");
  } finally {
    busy.close();
  }
});

Deno.test("client refuses a non-loopback --inspect-addr without --inspect-token (exit 2)", async () => {
  const proc = spawnMain([
    "client",
    "--server-url",
    "http://127.0.0.1:1",
    "--inspect-addr",
    "0.0.0.0:4040",
  ]);
  const status = await proc.status;
  assert.equal(status.code, 2);
  assert.match(proc.stderr.join("\n"), /--inspect-token/);
});

interface Verification {
  result: string;
  provider: string;
  code: string;
  reason: string;
}

/** GitHub's `X-Hub-Signature-256` of `body` under `secret` (HMAC-SHA256, hex). */
async function githubSignature(secret: string, body: Uint8Array<ArrayBuffer>): Promise<string> {
  const key = await crypto.subtle.importKey(
    "raw",
    enc.encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, body));
  return "sha256=" + Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join("");
}

Deno.test("inspector shows signature verdicts: API verification and page badges for valid, forged and unsigned", async () => {
  const seen: Seen[] = [];
  await using app = recordingApp(seen);
  await using server = await startServerProc();
  const port = freePort();
  const inspector = `http://127.0.0.1:${port}`;
  const secret = "It's a Secret to Everybody";
  await using client = await startClientProc(server.url, app.url, [
    "--inspect-addr",
    `127.0.0.1:${port}`,
    "--verify",
    `github=${secret}`,
    // Two schemes: a delivery with no known signature header is "unsigned", not judged by one.
    "--verify",
    "gitlab=gitlab-token",
  ]);
  await client.waitFor(/^Inspector: /, { stream: "stdout" });

  const body = enc.encode(JSON.stringify({ action: "opened", number: 12 }));
  const signature = await githubSignature(secret, body);
  const forged = await githubSignature("not the secret", body);
  for (
    const [path, headers] of [
      ["/signed", { "x-github-event": "push", "x-hub-signature-256": signature }],
      ["/forged", { "x-github-event": "push", "x-hub-signature-256": forged }],
      ["/plain", {}],
    ] as const
  ) {
    const answer = await fetch(`${client.webhookUrl}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body,
    });
    // Flag mode (the default): every delivery reaches the app.
    assert.equal(answer.status, 201, path);
    await answer.body?.cancel();
  }
  const list = await finishedDeliveries(inspector, 3);
  const byPath = Object.fromEntries(
    list.map((d) => [d.path, d]),
  );
  const signed = byPath["/signed"].verification!;
  assert.deepEqual([signed.result, signed.provider, signed.code], ["valid", "github", "ok"]);
  const bad = byPath["/forged"].verification!;
  assert.deepEqual([bad.result, bad.provider, bad.code], ["invalid", "github", "bad_signature"]);
  assert.match(bad.reason, /\S/);
  const plain = byPath["/plain"].verification!;
  assert.deepEqual([plain.result, plain.code], ["unchecked", "unsigned"]);
  // The detail carries the same verdict.
  const detail = await getJson<{ verification: Verification }>(
    `${inspector}/api/deliveries/${byPath["/forged"].id}`,
  );
  assert.deepEqual(detail.verification, bad);

  await using chromium = await launchChromium();
  const page = await chromium.browser.newPage();
  await page.goto(inspector, { waitUntil: "load" });
  await page.waitForFunction('document.getElementById("live").textContent === "live"');
  await waitForRows(page, 3);
  const badges = await page.$$eval(
    "#list tbody tr",
    (trs) =>
      trs.map((tr) => [
        tr.querySelector("td.path")?.textContent ?? "",
        tr.querySelector(".badge")?.textContent ?? "",
        tr.querySelector(".badge")?.className ?? "",
      ]),
  );
  assert.deepEqual(badges.sort(), [
    ["/forged", "invalid", "badge invalid"],
    ["/plain", "unsigned", "badge unchecked"],
    ["/signed", "valid", "badge valid"],
  ]);
  await clickRow(page, byPath["/forged"].id);
  await waitForText(page, "#verification-badge", "invalid");
  await waitForText(
    page,
    "#verification-reason",
    `Signature invalid (github): ${bad.reason}`,
  );
  assert.equal(await page.evaluate(`document.getElementById("verification").hidden`), false);
  await clickRow(page, byPath["/signed"].id);
  await waitForText(page, "#verification-badge", "valid");
  await waitForText(page, "#verification-reason", `Signature valid (github): ${signed.reason}`);
});

/** An HMAC-SHA256 of `text` under `secret`, hex. */
async function hmacHex(secret: string, text: Uint8Array<ArrayBuffer>): Promise<string> {
  return (await githubSignature(secret, text)).slice("sha256=".length);
}

Deno.test("inspector replays are re-verified as sent: edited body invalid, stale Stripe timestamp expired", async () => {
  const seen: Seen[] = [];
  await using app = recordingApp(seen);
  await using server = await startServerProc();
  const port = freePort();
  const inspector = `http://127.0.0.1:${port}`;
  const secret = "gh-secret";
  const stripeSecret = "whsec_replay_test";
  await using client = await startClientProc(server.url, app.url, [
    "--inspect-addr",
    `127.0.0.1:${port}`,
    "--verify",
    `github=${secret}`,
    "--verify",
    `stripe=${stripeSecret}`,
    "--verify-tolerance",
    "2s",
  ]);
  await client.waitFor(/^Inspector: /, { stream: "stdout" });
  const body = enc.encode('{"id":"evt_1","type":"charge.succeeded"}');
  const t = Math.floor(Date.now() / 1000);
  const signed = new Uint8Array([...enc.encode(`${t}.`), ...body]);
  const stripeSignature = `t=${t},v1=${await hmacHex(stripeSecret, signed)}`;
  for (
    const [path, headers] of [
      ["/gh", {
        "x-github-event": "push",
        "x-hub-signature-256": await githubSignature(secret, body),
      }],
      ["/stripe", { "stripe-signature": stripeSignature }],
    ] as const
  ) {
    const answer = await fetch(`${client.webhookUrl}${path}`, { method: "POST", headers, body });
    assert.equal(answer.status, 201, path);
    await answer.body?.cancel();
  }
  const list = await finishedDeliveries(inspector, 2);
  const byPath = Object.fromEntries(
    list.map((d) => [d.path, d]),
  );
  assert.equal(byPath["/gh"].verification?.result, "valid");
  assert.equal(byPath["/stripe"].verification?.result, "valid");

  const replay = async (id: string, edits: unknown = {}) => {
    const response = await fetch(`${inspector}/api/deliveries/${id}/replay`, {
      method: "POST",
      body: JSON.stringify(edits),
    });
    assert.equal(response.status, 201);
    return await response.json() as Summary & { verification: Verification };
  };
  const again = await replay(byPath["/gh"].id);
  assert.equal(again.verification.result, "valid");
  const edited = await replay(byPath["/gh"].id, {
    body_b64: btoa('{"id":"evt_1","type":"charge.refunded"}'),
  });
  assert.deepEqual(
    [edited.verification.result, edited.verification.code],
    ["invalid", "bad_signature"],
  );
  // The list shows the replay's own verdict too.
  const listed = await finishedDeliveries(inspector, 4);
  assert.equal(listed.find((d) => d.id === edited.id)?.verification?.code, "bad_signature");

  // Past the 2 s tolerance the same Stripe bytes are rightly expired.
  await waitUntil(() => Date.now() / 1000 > t + 3, "the Stripe timestamp to go stale");
  const stale = await replay(byPath["/stripe"].id);
  assert.deepEqual(
    [stale.verification.result, stale.verification.provider, stale.verification.code],
    ["invalid", "stripe", "expired"],
  );
  assert.match(stale.verification.reason, /expired/);
  // The replay command prints the replay's verdict.
  const command = spawnMain(["replay", byPath["/gh"].id, "--inspect-addr", `127.0.0.1:${port}`]);
  assert.equal((await command.status).code, 0, command.stderr.join("\n"));
  assert.match(command.stdout[0], / replay_of=[0-9a-z]+ verify=valid \(github\)$/);
  assert.equal(seen.length, 6, "flag mode: every replay reached the app");
});
