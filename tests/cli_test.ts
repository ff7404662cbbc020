/**
 * End to end: the command line: help, version, environment variables and bad flags.
 */
import assert from "node:assert/strict";
import denoJson from "../deno.json" with { type: "json" };
import { startServer } from "../server/mod.ts";
import { spawnMain } from "./_harness.ts";

async function run(args: string[], env: Record<string, string> = {}) {
  const proc = spawnMain(args, env);
  const status = await proc.status;
  return { code: status.code, stdout: proc.stdout.join("\n"), stderr: proc.stderr.join("\n") };
}

Deno.test("version prints the version from deno.json", async () => {
  for (const args of [["version"], ["--version"]]) {
    const { code, stdout } = await run(args);
    assert.equal(code, 0);
    assert.equal(stdout.trim(), denoJson.version);
  }
});

Deno.test("--help lists every subcommand and each flag with its environment variable", async () => {
  const top = await run(["--help"]);
  assert.equal(top.code, 0);
  for (const name of ["server", "client", "echo", "healthcheck", "version"]) {
    assert.match(top.stdout, new RegExp(`^\\s+${name}\\b`, "m"));
  }
  const server = await run(["server", "--help"]);
  assert.equal(server.code, 0);
  for (
    const [flag, env] of [
      ["--port", "WOW_PORT"],
      ["--peer-domain", "WOW_PEER_DOMAIN"],
      ["--cleanup-duration", "WOW_CLEANUP_DURATION"],
      ["--memberlist-port", "WOW_MEMBERLIST_PORT"],
      ["--memberlist-sync-duration", "WOW_MEMBERLIST_SYNC_DURATION"],
      ["--log-level", "WOW_LOG_LEVEL"],
      ["--log-format", "WOW_LOG_FORMAT"],
      ["--bind-addr", "WOW_BIND_ADDR"],
      ["--advertise-addr", "WOW_ADVERTISE_ADDR"],
      ["--max-body-size", "WOW_MAX_BODY_SIZE"],
      ["--request-timeout", "WOW_REQUEST_TIMEOUT"],
    ]
  ) {
    assert.match(server.stdout, new RegExp(`${flag}[\\s\\S]*?env: ${env}`), flag);
  }
  assert.match(server.stdout, /-p, --port/);
  assert.match(server.stdout, /default: 8080/);
  assert.match(server.stdout, /default: "?5m"?/);
  assert.match(server.stdout, /default: "?32MiB"?/);
  const client = await run(["client", "--help"]);
  for (
    const flag of [
      "--server-url",
      "--target-url",
      "--insecure",
      "--transfer-request-timeout",
      "--disabled-transfer-request-timeout",
    ]
  ) {
    assert.match(client.stdout, new RegExp(flag));
  }
  assert.match(client.stdout, /env: WOW_SERVER_URL/);
  assert.match(client.stdout, /default: "http:\/\/localhost:3000"/);
  const echo = await run(["echo", "--help"]);
  assert.match(echo.stdout, /-p, --port[\s\S]*default: 3000/);
});

Deno.test("bad or missing flag values print one line naming the flag and exit 2", async () => {
  const cases: [string[], RegExp, Record<string, string>?][] = [
    [["server", "--port", "http"], /--port.*Expected a port number/],
    [["server", "--port", "70000"], /--port.*Expected a port number/],
    [["server", "--cleanup-duration", "5x"], /--cleanup-duration.*Cannot parse duration "5x"/],
    [["server", "--max-body-size", "lots"], /--max-body-size.*Cannot parse size "lots"/],
    [
      ["server", "--log-level", "LOUD"],
      /--log-level.*Allowed choices are DEBUG, INFO, WARN, ERROR/,
    ],
    [["server", "--log-format", "xml"], /--log-format.*Allowed choices are text, json/],
    [["client"], /required option '--server-url <url>' not specified/],
    [["client", "--server-url", "hooks.example.com"], /--server-url.*absolute URL/],
    [["client", "--server-url", "ftp://x"], /--server-url.*http:\/\/ or https:\/\//],
    [["server"], /--request-timeout.*Cannot parse duration "soon"/, {
      WOW_REQUEST_TIMEOUT: "soon",
    }],
    [["server", "--no-such-flag"], /unknown option '--no-such-flag'/],
    [
      ["server", "--tls-cert", "c.pem", "--tls-key", "k.pem", "--join", "127.0.0.1"],
      /--tls-cert cannot be combined with --peer-domain or --join/,
    ],
    [["server", "--gossip-key", "c2hvcnQ="], /--gossip-key.*16, 24 or 32 bytes/],
    [["serve"], /unknown command 'serve'/],
  ];
  for (const [args, pattern, env] of cases) {
    const { code, stderr } = await run(args, env);
    assert.equal(code, 2, `${args.join(" ")}: exit code`);
    const lines = stderr.trim().split("\n");
    assert.equal(lines.length, 1, `${args.join(" ")}: one line, got ${stderr}`);
    assert.match(lines[0], pattern);
  }
});

Deno.test("flags can come from WOW_* environment variables", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  await using proc = spawnMain(["server", "--memberlist-port", "0"], {
    WOW_PORT: String(port),
    WOW_BIND_ADDR: "127.0.0.1",
    WOW_LOG_FORMAT: "json",
  });
  const match = await proc.waitFor(/"Listening on/, { stream: "stderr" });
  const line = JSON.parse(match.input!);
  assert.equal(line.properties.port, port);
  const health = await fetch(`http://127.0.0.1:${port}/healthz`);
  assert.deepEqual(await health.json(), { status: "OK" });
});

Deno.test("a bad secret flag value is not echoed in the error", async () => {
  const { code, stderr } = await run(["server", "--gossip-key", "c2VjcmV0LXZhbHVl"]);
  assert.equal(code, 2);
  assert.match(stderr, /--gossip-key.*argument '\*\*\*' is invalid/);
  assert.ok(!stderr.includes("c2VjcmV0LXZhbHVl"));
});

Deno.test("healthcheck exits 0 when the server answers /healthz with 200", async () => {
  const server = await startServer({ port: 0, bindAddr: "127.0.0.1", memberlistPort: 0 });
  try {
    const port = String(server.addr.port);
    for (const [args, env] of [[["--port", port], {}], [[], { WOW_PORT: port }]] as const) {
      const { code, stdout, stderr } = await run(["healthcheck", ...args], env);
      assert.equal(code, 0, `healthcheck ${args.join(" ")} ${JSON.stringify(env)}: ${stderr}`);
      assert.equal(stdout.trim(), "");
      assert.equal(stderr.trim(), "");
    }
  } finally {
    await server.shutdown();
  }
});

Deno.test("healthcheck exits 1 with one Unhealthy line on a non-200 answer or no server", async () => {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () => Response.json({ status: "SHUTTING_DOWN" }, { status: 503 }),
  );
  const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const closedPort = (closed.addr as Deno.NetAddr).port;
  closed.close();
  try {
    const url = `http://127.0.0.1:${server.addr.port}/healthz`;
    const cases: [string[], RegExp][] = [
      [["--url", url], new RegExp(`^Unhealthy: ${url}: HTTP 503$`)],
      [["--port", String(server.addr.port)], new RegExp(`^Unhealthy: ${url}: HTTP 503$`)],
      [
        ["--port", String(closedPort)],
        new RegExp(`^Unhealthy: http://127\\.0\\.0\\.1:${closedPort}/healthz: `),
      ],
    ];
    for (const [args, pattern] of cases) {
      const { code, stderr } = await run(["healthcheck", ...args]);
      assert.equal(code, 1, `healthcheck ${args.join(" ")}: exit code`);
      const lines = stderr.trim().split("\n");
      assert.equal(lines.length, 1, `healthcheck ${args.join(" ")}: one line, got ${stderr}`);
      assert.match(lines[0], pattern);
    }
  } finally {
    await server.shutdown();
  }
});
