/**
 * Tests of the release build (`deno task compile`, `deploy/compile.ts`).
 *
 * Everything about the plan (targets, names, flags, checksum format) is checked offline. The
 * smoke test compiles the host binary for real and drives `server`, `echo` and `client` through
 * it; `deno compile` needs a runtime (`denort`), downloaded from the internet or named by
 * `DENORT_BIN`, so the smoke test is registered as ignored (reported by `deno test` as
 * "ignored", never as passed) when no runtime can be had.
 *
 * @module
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import {
  binaryFileName,
  CHECKSUM_FILE,
  formatSha256Sums,
  formatStep,
  listBinaries,
  parseCompileArgs,
  PERMISSION_FLAGS,
  planCompile,
  readUnstableFeatures,
  REPO_ROOT,
  resolveTarget,
  sha256File,
  TARGETS,
  writeChecksums,
} from "../deploy/compile.ts";

const LINUX_X64 = "x86_64-unknown-linux-gnu";
const COMPILE_SCRIPT = join(REPO_ROOT, "deploy", "compile.ts");

Deno.test("TARGETS lists the five release triples with Go/Docker os-arch names", () => {
  assert.deepEqual(
    TARGETS.map((t) => [t.triple, binaryFileName(t)]),
    [
      ["x86_64-unknown-linux-gnu", "webhook-over-websocket-linux-amd64"],
      ["aarch64-unknown-linux-gnu", "webhook-over-websocket-linux-arm64"],
      ["x86_64-apple-darwin", "webhook-over-websocket-darwin-amd64"],
      ["aarch64-apple-darwin", "webhook-over-websocket-darwin-arm64"],
      ["x86_64-pc-windows-msvc", "webhook-over-websocket-windows-amd64.exe"],
    ],
  );
});

Deno.test("planCompile builds every target into dist/ with permissions and deno.json's unstable features", () => {
  const unstable = readUnstableFeatures();
  assert.ok(unstable.includes("net"), "deno.json enables net (Deno.listenDatagram)");
  const steps = planCompile({ hostTriple: LINUX_X64 });
  assert.equal(steps.length, 5);
  for (const step of steps) {
    assert.equal(step.output, join("dist", binaryFileName(step.target)));
    assert.equal(step.args[0], "compile");
    assert.equal(step.args.at(-1), "main.ts");
    const flagValue = (flag: string) => step.args[step.args.indexOf(flag) + 1];
    assert.equal(flagValue("--target"), step.target.triple);
    assert.equal(flagValue("--output"), step.output);
    for (const flag of PERMISSION_FLAGS) assert.ok(step.args.includes(flag), flag);
    for (const feature of unstable) assert.ok(step.args.includes(`--unstable-${feature}`));
    assert.ok(step.args.includes("--unstable-net"));
    // Least privilege: no blanket grant, no subprocesses, no native code.
    for (const flag of ["-A", "--allow-all", "--allow-run", "--allow-ffi"]) {
      assert.ok(!step.args.includes(flag), flag);
    }
    assert.equal(step.denortBin, "unset");
  }
});

Deno.test("deno.json, which holds the version, is in main.ts's module graph (so embedded)", async () => {
  const info = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", "main.ts"],
    cwd: REPO_ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(info.code, 0, new TextDecoder().decode(info.stderr));
  const graph = JSON.parse(new TextDecoder().decode(info.stdout));
  const specifiers: string[] = graph.modules.map((m: { specifier: string }) => m.specifier);
  assert.ok(specifiers.some((s) => s.endsWith("/deno.json")), "deno.json is imported");
});

Deno.test("planCompile resolves host, drops duplicates and keeps release order", () => {
  const steps = planCompile({
    targets: ["x86_64-pc-windows-msvc", "host", LINUX_X64],
    hostTriple: LINUX_X64,
    outDir: "/tmp/out",
  });
  assert.deepEqual(steps.map((s) => s.target.triple), [LINUX_X64, "x86_64-pc-windows-msvc"]);
  assert.equal(steps[1].output, "/tmp/out/webhook-over-websocket-windows-amd64.exe");
  assert.equal(planCompile({ targets: ["all"] }).length, 5);
});

Deno.test("planCompile rejects unknown targets and a host that is not a release target", () => {
  assert.throws(() => planCompile({ targets: ["riscv64gc-unknown-linux-gnu"] }), RangeError);
  assert.throws(
    () => resolveTarget("host", "aarch64-pc-windows-msvc"),
    /Host target "aarch64-pc-windows-msvc" is not a release target/,
  );
});

Deno.test("planCompile passes DENORT_BIN to the host target only", () => {
  const steps = planCompile({ hostTriple: LINUX_X64, denortBin: "/opt/denort" });
  for (const step of steps) {
    const host = step.target.triple === LINUX_X64;
    assert.equal(step.denortBin, host ? "pass" : "remove");
    assert.equal(step.denortBinPath, host ? "/opt/denort" : undefined);
  }
  assert.match(formatStep(steps[0]), /^DENORT_BIN=\/opt\/denort deno compile --target x86_64-/);
  assert.match(formatStep(steps[1]), /^env -u DENORT_BIN deno compile --target aarch64-/);
});

Deno.test("formatStep quotes arguments the shell would split", () => {
  const [step] = planCompile({ targets: [LINUX_X64], outDir: "/tmp/it's here", unstable: [] });
  assert.ok(formatStep(step).includes(`--output '/tmp/it'\\''s here/webhook-over-websocket-`));
});

Deno.test("parseCompileArgs reads repeated targets, = forms and switches; rejects the rest", () => {
  assert.deepEqual(
    parseCompileArgs([
      "--target",
      "host",
      "--target=aarch64-apple-darwin",
      "--out-dir=o",
      "--dry-run",
    ]),
    {
      targets: ["host", "aarch64-apple-darwin"],
      outDir: "o",
      dryRun: true,
      checksumsOnly: false,
      help: false,
    },
  );
  assert.equal(parseCompileArgs(["--checksums-only"]).checksumsOnly, true);
  assert.throws(() => parseCompileArgs(["--target"]), /Option "--target" needs a value/);
  assert.throws(() => parseCompileArgs(["--bogus"]), TypeError);
});

Deno.test("formatSha256Sums writes sorted sha256sum lines and refuses bad input", () => {
  const a = "a".repeat(64);
  const b = "0123456789abcdef".repeat(4);
  assert.equal(
    formatSha256Sums([{ name: "z.exe", sha256: a }, { name: "b", sha256: b }]),
    `${b}  b\n${a}  z.exe\n`,
  );
  assert.throws(() => formatSha256Sums([{ name: "x", sha256: "A".repeat(64) }]), TypeError);
  assert.throws(() => formatSha256Sums([{ name: "d/x", sha256: a }]), TypeError);
});

Deno.test("writeChecksums and --checksums-only produce a file that sha256sum -c accepts", async () => {
  const dir = await Deno.makeTempDir({ prefix: "wow-sums-" });
  try {
    const names = [binaryFileName(TARGETS[4]), binaryFileName(TARGETS[0])];
    for (const [i, name] of names.entries()) {
      await Deno.writeTextFile(join(dir, name), `binary ${i}\n`);
    }
    await Deno.writeTextFile(join(dir, "unrelated.txt"), "not a release binary\n");
    assert.deepEqual(await listBinaries(dir), [names[1], names[0]]);
    const expected = createHash("sha256").update("binary 0\n").digest("hex");
    assert.equal(await sha256File(join(dir, names[0])), expected);

    const text = await writeChecksums(dir, names);
    assert.equal(await Deno.readTextFile(join(dir, CHECKSUM_FILE)), text);
    assert.match(text, new RegExp(`^${expected}  ${names[0].replace(".", "\\.")}$`, "m"));

    await Deno.remove(join(dir, CHECKSUM_FILE));
    const run = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", COMPILE_SCRIPT, "--checksums-only", "--out-dir", dir],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(run.code, 0, new TextDecoder().decode(run.stderr));
    assert.equal(await Deno.readTextFile(join(dir, CHECKSUM_FILE)), text);

    const check = await tryOutput("sha256sum", ["-c", CHECKSUM_FILE], dir) ??
      await tryOutput("shasum", ["-a", "256", "-c", CHECKSUM_FILE], dir);
    if (check !== undefined) assert.equal(check.code, 0, new TextDecoder().decode(check.stdout));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deno task compile --dry-run prints the planned commands and runs nothing", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["task", "compile", "--dry-run", "--out-dir", "does-not-exist"],
    cwd: REPO_ROOT,
    env: { DENORT_BIN: "/nonexistent/denort" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const lines = new TextDecoder().decode(out.stdout).trimEnd().split("\n");
  assert.equal(lines.length, 6);
  for (const target of TARGETS) {
    const line = lines.find((l) => l.includes(`--target ${target.triple} `));
    assert.ok(line, target.triple);
    assert.ok(line.includes(`--output does-not-exist/${binaryFileName(target)} `));
    const host = target.triple === Deno.build.target;
    assert.equal(line.startsWith("DENORT_BIN=/nonexistent/denort "), host);
    assert.equal(line.startsWith("env -u DENORT_BIN "), !host);
  }
  assert.match(lines[5], /sha256sum .* > SHA256SUMS\)$/);
  await assert.rejects(Deno.stat(join(REPO_ROOT, "does-not-exist")), Deno.errors.NotFound);
});

Deno.test("deno task compile rejects an unknown target with status 2", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", COMPILE_SCRIPT, "--target", "sparc-sun-solaris", "--dry-run"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 2);
  assert.match(new TextDecoder().decode(out.stderr), /Target "sparc-sun-solaris" is not a release/);
});

// --- the real build, when a runtime is available ------------------------------------------------

/** How long the probe may take (a first download of denort is ~40 MB). */
const PROBE_TIMEOUT_MS = 120_000;
const PROBE_MARKER = "wow-denort-probe-ok";

/**
 * Whether `deno compile` can build a working host binary here: `DENORT_BIN` names an existing
 * file, or a tiny program compiles (runtime cached or downloadable) and prints its marker.
 */
async function runtimeAvailable(): Promise<boolean> {
  const denortBin = Deno.env.get("DENORT_BIN");
  if (denortBin) {
    try {
      return (await Deno.stat(denortBin)).isFile;
    } catch {
      return false;
    }
  }
  if (!TARGETS.some((t) => t.triple === Deno.build.target)) return false;
  const dir = await Deno.makeTempDir({ prefix: "wow-probe-" });
  try {
    await Deno.writeTextFile(
      join(dir, "probe.ts"),
      `console.log(${JSON.stringify(PROBE_MARKER)});\n`,
    );
    const exe = join(dir, Deno.build.os === "windows" ? "probe.exe" : "probe");
    const compiled = await new Deno.Command(Deno.execPath(), {
      args: ["compile", "--no-config", "--no-check", "--output", exe, "probe.ts"],
      cwd: dir,
      stdout: "null",
      stderr: "null",
      signal: AbortSignal.timeout(PROBE_TIMEOUT_MS),
    }).output();
    if (compiled.code !== 0) return false;
    const ran = await new Deno.Command(exe, {
      stdout: "piped",
      stderr: "null",
      signal: AbortSignal.timeout(PROBE_TIMEOUT_MS),
    }).output();
    return new TextDecoder().decode(ran.stdout).trim() === PROBE_MARKER;
  } catch {
    return false;
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

const available = await runtimeAvailable();

Deno.test({
  name: "compiled host binary runs server, echo and client and delivers a webhook",
  ignore: !available,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "wow-compile-" });
    const children: Deno.ChildProcess[] = [];
    try {
      const build = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", COMPILE_SCRIPT, "--target", "host", "--out-dir", dir],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(build.code, 0, new TextDecoder().decode(build.stderr));
      const host = TARGETS.find((t) => t.triple === Deno.build.target)!;
      const exe = join(dir, binaryFileName(host));
      const sums = await Deno.readTextFile(join(dir, CHECKSUM_FILE));
      assert.equal(sums, `${await sha256File(exe)}  ${binaryFileName(host)}\n`);

      const config = JSON.parse(await Deno.readTextFile(join(REPO_ROOT, "deno.json")));
      for (const args of [["--version"], ["version"]]) {
        const out = await new Deno.Command(exe, {
          args,
          stdout: "piped",
          stderr: "piped",
          signal: AbortSignal.timeout(10_000),
        }).output();
        assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
        assert.ok(new TextDecoder().decode(out.stdout).includes(config.version), args[0]);
      }

      // Runs with no Deno flags: permissions and --unstable-net come from the binary.
      const env = { HOME: dir, XDG_CONFIG_HOME: dir, APPDATA: dir, NO_COLOR: "1" };
      const [serverPort, echoPort] = [freePort(), freePort()];
      const spawn = (args: string[]) => {
        const child = new Deno.Command(exe, {
          args,
          env,
          stdin: "null",
          stdout: "piped",
          stderr: "inherit",
        }).spawn();
        children.push(child);
        return child;
      };
      const echo = spawn(["echo", "--port", String(echoPort)]);
      drain(echo.stdout);
      const server = spawn([
        "server",
        "--port",
        String(serverPort),
        "--bind-addr",
        "127.0.0.1",
        "--memberlist-port",
        "0",
      ]);
      drain(server.stdout);
      await waitForOk(`http://127.0.0.1:${serverPort}/healthz`);

      const health = await new Deno.Command(exe, {
        args: ["healthcheck", "--port", String(serverPort)],
        env,
        stdout: "null",
        stderr: "null",
      }).output();
      assert.equal(health.code, 0, "healthcheck against a healthy server");

      const client = spawn([
        "client",
        "--server-url",
        `http://127.0.0.1:${serverPort}`,
        "--target-url",
        `http://127.0.0.1:${echoPort}`,
      ]);
      const lines = client.stdout.pipeThrough(new TextDecoderStream()).getReader();
      const prefix = "Please set the webhook destination as follows: ";
      let webhookUrl: string | undefined;
      let established = false;
      let buffered = "";
      const deadline = Date.now() + 20_000;
      while (!established && Date.now() < deadline) {
        let timer: ReturnType<typeof setTimeout> | undefined;
        const { value, done } = await Promise.race([
          lines.read(),
          new Promise<{ value: undefined; done: true }>((resolve) => {
            timer = setTimeout(
              () => resolve({ value: undefined, done: true }),
              deadline - Date.now(),
            );
          }),
        ]).finally(() => clearTimeout(timer));
        if (done) break;
        buffered += value;
        for (const line of buffered.split("\n")) {
          if (line.startsWith(prefix)) webhookUrl = line.slice(prefix.length).trim();
          if (line.startsWith("A tunnel to the server has been established")) established = true;
        }
      }
      assert.ok(webhookUrl, `client printed no webhook URL: ${JSON.stringify(buffered)}`);
      assert.ok(established, "client never reported the tunnel as established");
      drain(client.stdout, lines);

      // Plain text, so the echo's JSON answer carries it unescaped.
      const body = `smoke-${crypto.randomUUID()}`;
      const res = await fetch(`${webhookUrl}/smoke/path?x=1`, {
        method: "POST",
        headers: { "content-type": "text/plain", "x-smoke": "yes" },
        body,
        signal: AbortSignal.timeout(10_000),
      });
      const text = await res.text();
      assert.equal(res.status, 200, text);
      assert.ok(text.includes(body), `echo answer lacks the body: ${text}`);
    } finally {
      for (const child of children) {
        try {
          child.kill("SIGTERM");
        } catch { /* already gone */ }
      }
      for (const child of children) {
        const timer = setTimeout(() => {
          try {
            child.kill("SIGKILL");
          } catch { /* already gone */ }
        }, 12_000);
        await child.status;
        clearTimeout(timer);
      }
      await Deno.remove(dir, { recursive: true });
    }
  },
});

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** Keeps reading a child's stdout so it never blocks on a full pipe. */
function drain(
  stream: ReadableStream<Uint8Array>,
  reader?: ReadableStreamDefaultReader<string>,
): void {
  if (reader) {
    (async () => {
      while (!(await reader.read()).done) { /* discard */ }
    })().catch(() => {});
  } else {
    stream.pipeTo(new WritableStream()).catch(() => {});
  }
}

async function waitForOk(url: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1_000) });
      await res.body?.cancel();
      if (res.status === 200) return;
      last = `status ${res.status}`;
    } catch (error) {
      last = String(error);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`Server not ready at "${url}": ${last}`);
}

async function tryOutput(
  cmd: string,
  args: string[],
  cwd: string,
): Promise<Deno.CommandOutput | undefined> {
  try {
    return await new Deno.Command(cmd, { args, cwd, stdout: "piped", stderr: "piped" }).output();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}
