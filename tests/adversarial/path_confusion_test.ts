/**
 * Adversarial suite, path confusion: what a proxy in front routes on (the request line's path)
 * is what the server routes on. `/internal/*` is open without `--gossip-key`/`--admin-token`, and
 * the shipped nginx and Traefik configurations keep it private by path alone.
 */
import assert from "node:assert/strict";
import { rawRequest, startServerProc } from "../_harness.ts";

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
