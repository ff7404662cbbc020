/**
 * Adversarial suite, `/new` behind proxies (issue 13, finding 5): a real server process, raw
 * requests from chosen loopback source addresses (127.0.0.180-189), so the socket peer is what
 * the test says it is.
 */
import assert from "node:assert/strict";
import net from "node:net";
import { startServerProc } from "../_harness.ts";

const SERVER_HOST = "127.0.0.180";
const TRUSTED_PROXY = "127.0.0.181";
const STRANGER = "127.0.0.182";

/** `GET /new` from source address `from`, with extra header lines; the status and the body. */
function newFrom(
  port: number,
  from: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  const lines = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join("");
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: SERVER_HOST, port, localAddress: from });
    let text = "";
    socket.setEncoding("utf8");
    socket.on(
      "connect",
      () => socket.write(`GET /new HTTP/1.1\r\nHost: wow\r\n${lines}Connection: close\r\n\r\n`),
    );
    socket.on("data", (chunk) => (text += chunk));
    socket.on("error", reject);
    socket.on("close", () => {
      const status = Number(text.match(/^HTTP\/1\.1 (\d{3})/)?.[1]);
      resolve({ status, body: text.slice(text.indexOf("\r\n\r\n") + 4) });
    });
  });
}

Deno.test("#13.5: a forged X-Forwarded-For from a peer that is no --trusted-proxy does not bypass the /new limit", async () => {
  await using server = await startServerProc(
    ["--new-rate-limit", "2", "--trusted-proxy", TRUSTED_PROXY],
    { host: SERVER_HOST },
  );
  const statuses: number[] = [];
  let refusal = "";
  for (let i = 1; i <= 4; i++) {
    // A loopback (private) peer that forges a new client address on every request.
    const answer = await newFrom(server.port, STRANGER, { "X-Forwarded-For": `198.51.100.${i}` });
    statuses.push(answer.status);
    if (answer.status === 429) refusal = answer.body;
  }
  assert.deepEqual(statuses, [200, 200, 429, 429]);
  assert.match(
    refusal,
    new RegExp(`Too many new channels from ${STRANGER.replaceAll(".", "\\.")}`),
  );
});

Deno.test("#13.5: X-Forwarded-For from a --trusted-proxy is honoured: the right-most untrusted hop is the client", async () => {
  await using server = await startServerProc(
    ["--new-rate-limit", "2", "--trusted-proxy", `${TRUSTED_PROXY},10.0.0.0/8`],
    { host: SERVER_HOST },
  );
  // What the client wrote (6.6.6.x, left) changes every time; the proxies appended the rest.
  const viaProxy = (forged: number, client: string) =>
    newFrom(server.port, TRUSTED_PROXY, {
      "X-Forwarded-For": `6.6.6.${forged}, ${client}, 10.1.2.3`,
    });
  const statuses = [];
  for (let i = 0; i < 3; i++) statuses.push((await viaProxy(i, "203.0.113.5")).status);
  assert.deepEqual(statuses, [200, 200, 429], "one bucket for 203.0.113.5, whatever it forged");
  const limited = await viaProxy(9, "203.0.113.5");
  assert.match(limited.body, /Too many new channels from 203\.0\.113\.5;/);
  assert.equal((await viaProxy(0, "203.0.113.6")).status, 200, "another client has its own");
  // The proxy itself was never limited as a client.
  assert.equal((await newFrom(server.port, TRUSTED_PROXY)).status, 200);
});

Deno.test("#13.5: --max-channels-per-ip answers 429 with a clear message once an address holds that many", async () => {
  await using server = await startServerProc(
    ["--new-rate-limit", "0", "--max-channels-per-ip", "3"],
    { host: SERVER_HOST },
  );
  const statuses = [];
  for (let i = 0; i < 3; i++) statuses.push((await newFrom(server.port, STRANGER)).status);
  const refused = await newFrom(server.port, STRANGER);
  assert.deepEqual([...statuses, refused.status], [200, 200, 200, 429]);
  assert.match(
    JSON.parse(refused.body).error,
    /^127\.0\.0\.182 already holds 3 channels on this server \(--max-channels-per-ip\); reuse one/,
  );
  assert.equal((await newFrom(server.port, "127.0.0.183")).status, 200, "others still get one");
  await server.waitFor(/Refused GET \/new from 127\.0\.0\.182: 429/, { stream: "stderr" });
});
