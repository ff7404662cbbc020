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
import { waitUntil } from "./_harness.ts";

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

async function waitForRows(page: Page, count: number): Promise<string[][]> {
  let found: string[][] = [];
  await waitUntil(async () => (found = await rows(page)).length >= count, `${count} rows`);
  return found;
}

/** Waits until the first element matching `selector` has exactly `text` as its text. */
async function waitForText(page: Page, selector: string, text: string): Promise<void> {
  await page.waitForFunction(
    `document.querySelector(${JSON.stringify(selector)})?.textContent === ${JSON.stringify(text)}`,
    { timeout: 10_000 },
  );
}

async function assertNoInjection(page: Page): Promise<void> {
  assert.equal(await page.evaluate(() => (globalThis as { __xss?: number }).__xss), undefined);
  assert.equal(await page.$$eval("#detail img, #detail svg, #detail script", (n) => n.length), 0);
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
  const recorder = new Recorder();
  const http = new Http1Client();
  const inspector = startInspector({
    addr: { hostname: "127.0.0.1", port: 0 },
    recorder,
    targetUrl: target,
    replay: (original, edits) => replayDelivery(original, edits, { recorder, http, target }),
  });
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

    await page.click(`#list tbody tr[data-id="${id}"]`);
    await waitForText(page, "#req-body pre", XSS_BODY);
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
    await page.click(`#list tbody tr[data-id="${after[0][0]}"]`);
    await waitForText(page, "#resp-body pre", "<b>answer</b>");
    await assertNoInjection(page);
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
