/**
 * Adversarial suite, path confusion: what a proxy in front routes on (the request line's path)
 * is what the server routes on. `/internal/*` is open without `--gossip-key`/`--admin-token`, and
 * the shipped nginx and Traefik configurations keep it private by path alone.
 */
import assert from "node:assert/strict";
import { startServerProc } from "../_harness.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Sends `head` on a fresh connection and returns the whole answer as text. */
async function rawRequest(port: number, head: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(encoder.encode(head));
    let text = "";
    const buffer = new Uint8Array(16 * 1024);
    for (let n = await conn.read(buffer); n !== null; n = await conn.read(buffer)) {
      text += decoder.decode(buffer.subarray(0, n), { stream: true });
    }
    return text;
  } finally {
    conn.close();
  }
}

Deno.test("a Host header cannot route a request whose path is not /internal/* to /internal/*", async () => {
  await using server = await startServerProc();
  // Paths a proxy lets through (not /internal/...), each with a Host that made the server's URL
  // of the request `/internal/members`: before the fix they got the member list.
  const requests: [string, string][] = [
    ["GET /webhook/x%41", "h\\internal\\members#"],
    ["GET /webhook/x%41", "h/internal/members?"],
    ["GET /h/internal/members?'", ""],
  ];
  for (const [requestLine, host] of requests) {
    const answer = await rawRequest(
      server.port,
      `${requestLine} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
    );
    assert.doesNotMatch(answer, /"members"/, `${requestLine} with Host "${host}"`);
    assert.match(answer, /^HTTP\/1\.1 400 /, answer.split("\r\n")[0]);
  }
  // The operator's own request still works.
  const members = await rawRequest(
    server.port,
    "GET /internal/members HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
  );
  assert.match(members, /^HTTP\/1\.1 200 .*"members"/s);
});

Deno.test("an absolute-form target that makes no valid URL gets 400, never 500 or an error log", async () => {
  await using server = await startServerProc(["--log-level", "debug"]);
  for (const target of ["http://[/healthz", "http://a:99999/healthz", "http://%zz/healthz"]) {
    const answer = await rawRequest(
      server.port,
      `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
    );
    assert.match(answer, /^HTTP\/1\.1 400 /, `${target}: ${answer.split("\r\n")[0]}`);
  }
  const logs = [...server.stdout, ...server.stderr].join("\n");
  assert.doesNotMatch(logs, /Unhandled error/);
});
