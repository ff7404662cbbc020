/**
 * The inspector's page: static HTML, CSS and one script, embedded as strings so `deno compile`
 * binaries carry them and the page works offline. No framework, no CDN, no inline script or
 * style (the Content-Security-Policy allows only these files).
 *
 * Webhook bodies and headers are attacker-controlled: the script only ever puts them into the
 * page through `textContent`, `value` and `createElement`, never as HTML.
 *
 * @module
 */

/** `GET /`. */
export const INDEX_HTML = String.raw`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>webhook-over-websocket inspector</title>
<link rel="stylesheet" href="/app.css">
<script type="module" src="/app.js"></script>
</head>
<body>
<header>
  <h1>Inspector</h1>
  <span id="live" class="live off" title="Live updates">offline</span>
  <span class="target">target <code id="target"></code></span>
  <input id="filter" type="search" placeholder="Filter: path, method, event, id…" aria-label="Filter">
  <select id="status-class" aria-label="Status class">
    <option value="">all</option>
    <option value="2">2xx</option>
    <option value="3">3xx</option>
    <option value="4">4xx</option>
    <option value="5">5xx</option>
    <option value="failed">failed</option>
    <option value="pending">pending</option>
  </select>
  <button id="clear" type="button">Clear</button>
</header>
<main>
  <section id="list-pane">
    <table id="list">
      <thead><tr><th>Time</th><th>Method</th><th>Path</th><th>Provider / event</th><th>Status</th><th>Duration</th></tr></thead>
      <tbody></tbody>
    </table>
    <p id="empty" class="muted">No webhooks yet. Send one to the webhook URL the client printed.</p>
  </section>
  <section id="detail" hidden>
    <div class="toolbar">
      <strong id="detail-title"></strong>
      <button id="replay" type="button">Replay</button>
      <button id="edit" type="button">Edit and replay</button>
      <button id="curl" type="button">Copy as curl</button>
      <a id="download-request" download>Request body</a>
      <a id="download-response" download>Response body</a>
      <span class="replay-to"><input id="replay-url" type="url" placeholder="http://localhost:4000" aria-label="Replay to URL"><button id="replay-to" type="button">Replay to URL</button></span>
    </div>
    <p id="message" class="muted" role="status"></p>
    <p id="verification" hidden><span id="verification-badge" class="badge"></span> <span id="verification-reason"></span></p>
    <textarea id="curl-text" readonly hidden rows="6" aria-label="curl command"></textarea>
    <form id="editor" hidden>
      <label>Headers (one <code>Name: value</code> per line)<textarea id="edit-headers" rows="8"></textarea></label>
      <label><span id="edit-body-label">Body</span><textarea id="edit-body" rows="10"></textarea></label>
      <button id="edit-send" type="submit">Send edited replay</button>
      <button id="edit-cancel" type="button">Cancel</button>
    </form>
    <div class="panes">
      <article>
        <h2>Request</h2>
        <p id="req-line" class="mono"></p>
        <table class="headers" id="req-headers"><tbody></tbody></table>
        <div class="body" id="req-body"></div>
      </article>
      <article>
        <h2>Response</h2>
        <p id="resp-line" class="mono"></p>
        <table class="headers" id="resp-headers"><tbody></tbody></table>
        <div class="body" id="resp-body"></div>
      </article>
    </div>
  </section>
</main>
</body>
</html>
`;

/** `GET /app.css`. */
export const APP_CSS = String
  .raw`:root { color-scheme: light dark; --line: #8884; --accent: #2563eb; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, sans-serif; }
header { display: flex; gap: .75rem; align-items: center; padding: .5rem 1rem; border-bottom: 1px solid var(--line); flex-wrap: wrap; }
h1 { font-size: 1.1rem; margin: 0; }
h2 { font-size: 1rem; margin: .5rem 0; }
.live { font-size: .8rem; padding: .1rem .5rem; border-radius: 1rem; background: #16a34a33; }
.live.off { background: #dc262633; }
#filter { flex: 1; min-width: 12rem; padding: .3rem; }
main { display: grid; grid-template-columns: minmax(22rem, 2fr) 3fr; height: calc(100vh - 3rem); }
#list-pane { overflow: auto; border-right: 1px solid var(--line); }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .25rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
#list tbody tr { cursor: pointer; }
#list tbody tr:hover { background: #8881; }
#list tbody tr.selected { background: #2563eb33; }
td.path { word-break: break-all; font-family: ui-monospace, monospace; }
.s2 { color: #16a34a; } .s3 { color: #0891b2; } .s4 { color: #d97706; } .s5, .failed { color: #dc2626; }
#detail { overflow: auto; padding: .5rem 1rem; }
.toolbar { display: flex; gap: .5rem; align-items: center; flex-wrap: wrap; }
.replay-to { display: inline-flex; gap: .25rem; }
.panes { display: grid; grid-template-columns: 1fr 1fr; gap: 1rem; }
.mono, pre, code, textarea { font-family: ui-monospace, monospace; font-size: 12.5px; }
pre { white-space: pre-wrap; word-break: break-all; background: #8881; padding: .5rem; margin: .25rem 0; max-height: 60vh; overflow: auto; }
table.headers td:first-child { font-weight: 600; white-space: nowrap; }
table.headers td { font-family: ui-monospace, monospace; font-size: 12.5px; word-break: break-all; }
textarea { width: 100%; }
#editor label { display: block; margin: .5rem 0; }
.muted, .note { color: #888; font-size: .85rem; }
.note { margin: .25rem 0; }
a[download] { color: var(--accent); }
.badge { display: inline-block; font-size: .75rem; padding: 0 .4rem; border-radius: .6rem; margin-left: .25rem; background: #8883; }
.badge.valid { background: #16a34a33; color: #15803d; }
.badge.invalid { background: #dc262633; color: #dc2626; }
#verification { margin: .25rem 0; }
@media (max-width: 900px) { main, .panes { grid-template-columns: 1fr; height: auto; } }
`;

/** `GET /app.js`. */
export const APP_JS = String
  .raw`// The inspector page. Every recorded value is attacker-controlled: it enters the page only
// through textContent, value and createElement, never as HTML.
const $ = (id) => document.getElementById(id);
const deliveries = new Map();
let selected = null;
let selectedDetail = null;
let targetUrl = "";
// Deliveries announced while the history loads: the list may have been read before them, so
// they are applied again over it (else a webhook arriving right after (re)connecting vanished).
let arrivedWhileLoading = null;

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}

async function api(path, init) {
  const res = await fetch(path, init);
  if (!res.ok) {
    let message = res.status + " " + res.statusText;
    try { message = (await res.json()).error || message; } catch (_) { /* not JSON */ }
    throw new Error(message);
  }
  return res.status === 204 ? null : res.json();
}

function bytesOf(b64) {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function b64Of(bytes) {
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    bin += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(bin);
}

function header(pairs, name) {
  const wanted = name.toLowerCase();
  for (const [key, value] of pairs) if (key.toLowerCase() === wanted) return value;
  return null;
}

function statusClass(d) {
  if (d.outcome === "pending") return "pending";
  if (d.status === null || d.outcome !== "ok") return "failed";
  return String(d.status)[0];
}

function formatTime(iso) {
  const date = new Date(iso);
  return date.toLocaleTimeString([], { hour12: false }) + "." +
    String(date.getMilliseconds()).padStart(3, "0");
}

function formatSize(n) {
  if (n < 1024) return n + " B";
  if (n < 1024 * 1024) return (n / 1024).toFixed(1) + " KiB";
  return (n / 1024 / 1024).toFixed(1) + " MiB";
}

// The signature check's verdict as a badge: valid, invalid, unsigned (or unchecked, with another
// reason); none when no verifier is configured.
function badgeText(v) {
  if (!v) return null;
  return v.result === "unchecked" && v.code === "unsigned" ? "unsigned" : v.result;
}

function badge(v) {
  const text = badgeText(v);
  if (text === null) return null;
  const node = el("span", text, "badge " + v.result);
  node.title = (v.provider ? v.provider + ": " : "") + v.reason;
  return node;
}

function matches(d) {
  const cls = $("status-class").value;
  if (cls && statusClass(d) !== cls) return false;
  const text = $("filter").value.trim().toLowerCase();
  if (!text) return true;
  return [d.id, d.method, d.path, d.provider, d.event, d.outcome, String(d.status), badgeText(d.verification) || ""]
    .some((v) => String(v).toLowerCase().includes(text));
}

function row(d) {
  const tr = document.createElement("tr");
  tr.dataset.id = d.id;
  const who = el("td", [d.provider, d.event].filter(Boolean).join(" / ") + (d.replay_of ? " (replay)" : "") + (d.queued ? " (queued)" : ""));
  const mark = badge(d.verification);
  if (mark) who.append(mark);
  tr.append(
    el("td", formatTime(d.received_at)),
    el("td", d.method),
    el("td", d.path, "path"),
    who,
    el("td", d.outcome === "ok" ? d.status : d.outcome, "s" + statusClass(d)),
    el("td", d.duration_ms === null ? "…" : d.duration_ms.toFixed(1) + " ms"),
  );
  if (d.id === selected) tr.classList.add("selected");
  tr.addEventListener("click", () => select(d.id));
  return tr;
}

function renderList() {
  const body = $("list").tBodies[0];
  const rows = [...deliveries.values()].sort((a, b) => (a.id < b.id ? 1 : -1)).filter(matches);
  body.replaceChildren(...rows.map(row));
  $("empty").hidden = deliveries.size > 0;
}

function upsert(d) {
  if (arrivedWhileLoading) arrivedWhileLoading.set(d.id, d);
  deliveries.set(d.id, d);
  renderList();
  if (d.id === selected && d.outcome !== "pending" && selectedDetail && selectedDetail.outcome === "pending") {
    select(d.id);
  }
}

function headerRows(table, pairs) {
  table.tBodies[0].replaceChildren(...pairs.map(([name, value]) => {
    const tr = document.createElement("tr");
    tr.append(el("td", name), el("td", value));
    return tr;
  }));
}

function hexHead(bytes) {
  const lines = [];
  const n = Math.min(bytes.length, 256);
  for (let i = 0; i < n; i += 16) {
    const chunk = [...bytes.subarray(i, Math.min(i + 16, n))];
    const hex = chunk.map((b) => b.toString(16).padStart(2, "0")).join(" ");
    const ascii = chunk.map((b) => (b >= 32 && b < 127 ? String.fromCharCode(b) : ".")).join("");
    lines.push(i.toString(16).padStart(8, "0") + "  " + hex.padEnd(48) + "  " + ascii);
  }
  return lines.join("\n");
}

function textOf(bytes) {
  try {
    const text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    return /[\u0000-\u0008\u000e-\u001f]/.test(text) ? null : text;
  } catch (_) {
    return null;
  }
}

async function gunzip(bytes, format) {
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream(format));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

async function renderBody(box, pairs, b64, truncated, total) {
  box.replaceChildren();
  let bytes = bytesOf(b64);
  const info = el("p", formatSize(total) + (truncated ? " (truncated in the history: " + formatSize(bytes.length) + " kept)" : ""), "note");
  box.append(info);
  if (bytes.length === 0) return;
  const encoding = (header(pairs, "content-encoding") || "").toLowerCase().trim();
  if ((encoding === "gzip" || encoding === "deflate") && !truncated) {
    try {
      bytes = await gunzip(bytes, encoding);
      box.append(el("p", "Shown decoded from Content-Encoding: " + encoding + " (" + formatSize(bytes.length) + "); replay and downloads use the encoded bytes.", "note"));
    } catch (error) {
      box.append(el("p", "Cannot decode " + encoding + ": " + error.message, "note"));
    }
  }
  const type = (header(pairs, "content-type") || "").toLowerCase();
  const text = textOf(bytes);
  if (text === null) {
    box.append(el("p", "Binary body: first " + Math.min(bytes.length, 256) + " bytes", "note"), el("pre", hexHead(bytes), "hex"));
    return;
  }
  let pretty = null;
  let form = null;
  if (type.includes("json") || /^\s*[\[{]/.test(text)) {
    try { pretty = JSON.stringify(JSON.parse(text), null, 2); } catch (_) { pretty = null; }
  }
  if (type.startsWith("application/x-www-form-urlencoded")) form = [...new URLSearchParams(text)];
  const rawPre = el("pre", text, "raw");
  if (pretty === null && form === null) {
    box.append(rawPre);
    return;
  }
  const view = pretty !== null ? el("pre", pretty, "pretty") : document.createElement("table");
  if (form !== null && pretty === null) {
    view.className = "headers form";
    const tbody = document.createElement("tbody");
    for (const [k, v] of form) {
      const tr = document.createElement("tr");
      tr.append(el("td", k), el("td", v));
      tbody.append(tr);
    }
    view.append(tbody);
  }
  rawPre.hidden = true;
  const toggle = el("button", "Raw", "toggle");
  toggle.type = "button";
  toggle.addEventListener("click", () => {
    rawPre.hidden = !rawPre.hidden;
    view.hidden = !rawPre.hidden;
    toggle.textContent = rawPre.hidden ? "Raw" : (pretty !== null ? "Pretty" : "Fields");
  });
  box.append(toggle, view, rawPre);
}

async function select(id) {
  selected = id;
  for (const tr of $("list").tBodies[0].rows) tr.classList.toggle("selected", tr.dataset.id === id);
  let d;
  try {
    d = await api("/api/deliveries/" + encodeURIComponent(id));
  } catch (error) {
    message("Cannot load " + id + ": " + error.message);
    return;
  }
  if (selected !== id) return;
  selectedDetail = d;
  $("detail").hidden = false;
  $("editor").hidden = true;
  $("curl-text").hidden = true;
  $("detail-title").textContent = d.method + " " + d.path;
  $("req-line").textContent = d.method + " " + d.path + "  ·  " + d.received_at + "  ·  id " + d.id +
    (d.replay_of ? "  ·  replay of " + d.replay_of : "") +
    (d.provider ? "  ·  " + d.provider + (d.event ? " / " + d.event : "") : "");
  $("resp-line").textContent = (d.status === null ? "no answer" : "HTTP " + d.status) + "  ·  " + d.outcome +
    (d.ttfb_ms !== null ? "  ·  first byte " + d.ttfb_ms + " ms" : "") +
    (d.duration_ms !== null ? "  ·  total " + d.duration_ms + " ms" : "") + (d.error ? "  ·  " + d.error : "");
  const v = d.verification;
  $("verification").hidden = !v;
  $("verification-badge").textContent = v ? badgeText(v) : "";
  $("verification-badge").className = "badge" + (v ? " " + v.result : "");
  $("verification-reason").textContent = v
    ? "Signature " + v.result + (v.provider ? " (" + v.provider + ")" : "") + ": " + v.reason
    : "";
  headerRows($("req-headers"), d.request_headers);
  headerRows($("resp-headers"), d.response_headers);
  $("download-request").href = "/api/deliveries/" + d.id + "/request-body";
  $("download-response").href = "/api/deliveries/" + d.id + "/response-body";
  $("replay").disabled = d.request_truncated;
  await renderBody($("req-body"), d.request_headers, d.request_body_b64, d.request_truncated, d.request_bytes);
  await renderBody($("resp-body"), d.response_headers, d.response_body_b64, d.response_truncated, d.response_bytes);
}

function message(text) {
  $("message").textContent = text;
}

async function replay(edits) {
  if (!selectedDetail) return;
  message("Replaying " + selectedDetail.id + "…");
  try {
    const d = await api("/api/deliveries/" + selectedDetail.id + "/replay", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(edits || {}),
    });
    upsert(d);
    message("Replayed as " + d.id + ": " + (d.status === null ? d.outcome : "HTTP " + d.status));
  } catch (error) {
    message("Replay failed: " + error.message);
  }
}

function shellQuote(text) {
  return "'" + text.replace(/'/g, "'\\''") + "'";
}

function curlCommand(d) {
  const base = new URL(targetUrl);
  const url = base.origin + d.path;
  const parts = ["curl", "-X", shellQuote(d.method), shellQuote(url)];
  for (const [name, value] of d.request_headers) {
    const lower = name.toLowerCase();
    if (lower === "host" || lower === "content-length" || lower === "transfer-encoding") continue;
    parts.push("-H", shellQuote(name + ": " + value));
  }
  const bytes = bytesOf(d.request_body_b64);
  if (bytes.length === 0) return parts.join(" ");
  parts.push("--data-binary", "@-");
  const text = textOf(bytes);
  if (text !== null) return "printf '%s' " + shellQuote(text) + " | " + parts.join(" ");
  return "printf '%s' " + shellQuote(d.request_body_b64) + " | base64 -d | " + parts.join(" ");
}

async function copyCurl() {
  if (!selectedDetail) return;
  const text = curlCommand(selectedDetail);
  const box = $("curl-text");
  box.value = text;
  box.hidden = false;
  try {
    await navigator.clipboard.writeText(text);
    message("Copied the curl command (exact body bytes).");
  } catch (_) {
    box.select();
    message("Select and copy the curl command below.");
  }
}

function openEditor() {
  const d = selectedDetail;
  if (!d) return;
  $("edit-headers").value = d.request_headers.map(([n, v]) => n + ": " + v).join("\n");
  const bytes = bytesOf(d.request_body_b64);
  const text = textOf(bytes);
  $("edit-body").dataset.mode = text === null ? "base64" : "text";
  $("edit-body-label").textContent = text === null ? "Body (binary: edit as base64)" : "Body";
  $("edit-body").value = text === null ? d.request_body_b64 : text;
  $("editor").hidden = false;
}

function editedRequest() {
  const headers = [];
  for (const line of $("edit-headers").value.split("\n")) {
    if (!line.trim()) continue;
    const at = line.indexOf(":");
    if (at <= 0) throw new Error("Not a header line: " + line);
    headers.push([line.slice(0, at).trim(), line.slice(at + 1).trim()]);
  }
  const value = $("edit-body").value;
  const body_b64 = $("edit-body").dataset.mode === "base64" ? value.replace(/\s+/g, "") : b64Of(new TextEncoder().encode(value));
  return { headers, body_b64 };
}

async function load() {
  const arrived = arrivedWhileLoading = new Map();
  try {
    const info = await api("/api/info");
    targetUrl = info.target_url;
    $("target").textContent = targetUrl;
    const list = await api("/api/deliveries?limit=" + info.history);
    if (arrivedWhileLoading !== arrived) return; // a clear or a newer load supersedes this one
    deliveries.clear();
    for (const d of list.deliveries) deliveries.set(d.id, d);
    for (const d of arrived.values()) deliveries.set(d.id, d);
    renderList();
  } catch (error) {
    message("Cannot load the history: " + error.message);
  } finally {
    if (arrivedWhileLoading === arrived) arrivedWhileLoading = null;
  }
}

function connect() {
  const source = new EventSource("/api/events");
  source.addEventListener("open", () => {
    $("live").textContent = "live";
    $("live").classList.remove("off");
    load();
  });
  source.addEventListener("error", () => {
    $("live").textContent = "offline";
    $("live").classList.add("off");
  });
  source.addEventListener("delivery", (event) => upsert(JSON.parse(event.data)));
  source.addEventListener("clear", () => {
    arrivedWhileLoading = null; // a load under way read a list from before the clear
    deliveries.clear();
    selected = null;
    selectedDetail = null;
    $("detail").hidden = true;
    renderList();
  });
}

$("filter").addEventListener("input", renderList);
$("status-class").addEventListener("change", renderList);
$("clear").addEventListener("click", () => api("/api/deliveries", { method: "DELETE" }).catch((e) => message(e.message)));
$("replay").addEventListener("click", () => replay({}));
$("replay-to").addEventListener("click", () => {
  const url = $("replay-url").value.trim();
  if (url) replay({ target_url: url });
});
$("curl").addEventListener("click", copyCurl);
$("edit").addEventListener("click", openEditor);
$("edit-cancel").addEventListener("click", () => { $("editor").hidden = true; });
$("editor").addEventListener("submit", (event) => {
  event.preventDefault();
  let edits;
  try {
    edits = editedRequest();
  } catch (error) {
    message(error.message);
    return;
  }
  $("editor").hidden = true;
  replay(edits);
});
connect();
`;
