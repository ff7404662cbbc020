import assert from "node:assert/strict";
import type { ServerOptions } from "../server/mod.ts";
import type { ClientOptions } from "../client/mod.ts";
import { SUBCOMMANDS } from "./commands/mod.ts";
import { type AnyFlag, type FlagSpec, longName, toOption } from "./flags.ts";
import { envName } from "./options.ts";
import { runCli } from "./program.ts";
import { type ProbeCase, type ProbeResult, toJson } from "./_options_probe.ts";
import * as value from "./values.ts";

type Options = Record<string, unknown>;

/** Runs the CLI in process (no environment variables set) and returns the options built. */
async function optionsOf(args: string[]): Promise<Options> {
  let seen: object | undefined;
  const status = await runCli(args, {
    run: (_command, options) => {
      seen = options;
      return Promise.resolve();
    },
  });
  assert.equal(status, 0, `${args.join(" ")}: exit status`);
  assert.ok(seen, `${args.join(" ")}: the subcommand ran`);
  return seen as Options;
}

function parsed(flag: AnyFlag, text: string): unknown {
  return flag.arg?.parse ? flag.arg.parse(text, undefined) : text;
}

/** How a flag is set in one run and what its field must then hold. */
interface Setting {
  flag: AnyFlag;
  /** The text (absent for a switch). */
  text?: string;
  /** Checks the field (as JSON, see `toJson`). */
  reached(field: string): boolean;
}

/**
 * A setting of `flag` whose value differs from `baseline` (its field without the flag).
 * @param dir Where files named by `read` flags are written.
 */
async function settingOf(flag: AnyFlag, baseline: Options, dir: string): Promise<Setting> {
  const before = toJson(baseline[flag.key]);
  if (flag.read) {
    const content = `sample content of ${longName(flag)}`;
    const path = `${dir}/${longName(flag).slice(2)}.txt`;
    await Deno.writeTextFile(path, content);
    assert.ok(!before.includes(content));
    return { flag, text: path, reached: (field) => field.includes(content) };
  }
  if (flag.arg) {
    const text = flag.arg.samples.find((sample) => toJson(parsed(flag, sample)) !== before);
    assert.ok(text !== undefined, `${longName(flag)}: a sample that differs from the default`);
    const expected = toJson(parsed(flag, text));
    return { flag, text, reached: (field) => field === expected };
  }
  const expected = toJson(flag.set !== undefined ? flag.set : true);
  assert.notEqual(before, expected, `${longName(flag)}: the switch changes its field`);
  return { flag, reached: (field) => field === expected };
}

/** Runs the cases in one child process (environment variables stay out of this one). */
async function probe(cases: ProbeCase[]): Promise<ProbeResult[]> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("./_options_probe.ts", import.meta.url).pathname],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(JSON.stringify(cases)));
  await writer.close();
  const { code, stdout, stderr } = await child.output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  return JSON.parse(new TextDecoder().decode(stdout));
}

Deno.test("every flag of every subcommand reaches its options field, as a flag and as WOW_*", async () => {
  const dir = await Deno.makeTempDir();
  const checks: { name: string; field: string; setting: Setting }[] = [];
  const cases: ProbeCase[] = [];
  try {
    for (const command of SUBCOMMANDS) {
      const required = command.flags.filter((flag) => flag.required);
      const requiredArgs = (except: AnyFlag[]) =>
        required.filter((flag) => !except.includes(flag))
          .flatMap((flag) => [longName(flag), flag.arg!.samples[0]]);
      const baseline = await optionsOf([command.name, ...requiredArgs([])]);
      for (const flag of command.flags) {
        // A flag that must come with a partner is given with it.
        const given = [
          flag,
          ...command.flags.filter((other) =>
            other !== flag &&
            (flag.together === longName(other) || other.together === longName(flag))
          ),
        ];
        const settings = [];
        for (const each of given) settings.push(await settingOf(each, baseline, dir));
        const args = settings.flatMap((s) => [longName(s.flag), ...(s.text ? [s.text] : [])]);
        const env = Object.fromEntries(
          settings.map((s) => [envName(longName(s.flag).slice(2)), s.text ?? "1"]),
        );
        const base = [command.name, ...requiredArgs(given)];
        const runs: [string, ProbeCase][] = [
          ["flag", { args: [...base, ...args], env: {} }],
          ["environment", { args: base, env }],
        ];
        for (const [how, each] of runs) {
          cases.push(each);
          checks.push({
            name: `${command.name} ${longName(flag)} (${how})`,
            field: flag.key,
            setting: settings[0],
          });
        }
      }
    }
    const results = await probe(cases);
    assert.equal(results.length, checks.length);
    checks.forEach(({ name, field, setting }, i) => {
      const { status, options } = results[i];
      assert.equal(status, 0, `${name}: exit status`);
      const got = toJson(options?.[field]);
      assert.ok(setting.reached(got), `${name} does not reach options.${field}: got ${got}`);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  const declared = SUBCOMMANDS.reduce((sum, command) => sum + command.flags.length, 0);
  assert.equal(checks.length, 2 * declared);
  assert.ok(declared >= 40, `all flags checked (${declared})`);
});

Deno.test("a later switch wins over its field's value flag, and token files add to --auth-token", async () => {
  const client = await optionsOf([
    "client",
    "--server-url",
    "http://x.test",
    "--transfer-request-timeout",
    "5s",
    "--disabled-transfer-request-timeout",
  ]);
  assert.equal(client.transferRequestTimeout, 0);
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/tokens`, "# comment\nfrom-file\n\n");
    const server = await optionsOf([
      "server",
      "--auth-token",
      "a,b",
      "--auth-token-file",
      `${dir}/tokens`,
    ]);
    assert.deepEqual(server.authTokens, ["a", "b", "from-file"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the TLS-plus-cluster rule is checked before the certificate files are read", async () => {
  const status = await runCli(
    [
      "server",
      "--tls-cert",
      "/nonexistent/c.pem",
      "--tls-key",
      "/nonexistent/k.pem",
      "--join",
      "x",
    ],
    { run: () => Promise.reject(new Error("must not run")) },
  );
  assert.equal(status, 2);
});

Deno.test("toOption refuses a spec whose flags text and value kind disagree", () => {
  assert.throws(
    () => toOption({ key: "port", flags: "--port <port>", description: "x" }, {}),
    /needs "arg" or "read"/,
  );
  assert.throws(
    () => toOption({ key: "insecure", flags: "--insecure", description: "x", arg: value.text }, {}),
    /needs "arg" or "read"/,
  );
});

Deno.test("help defaults come from the options' defaults through the value kind", () => {
  const option = toOption(
    { key: "maxBodySize", flags: "--max-body-size <size>", description: "x", arg: value.size },
    { maxBodySize: 3 * 1024 * 1024 },
  );
  assert.equal(option.defaultValue, 3 * 1024 * 1024);
  assert.equal(option.defaultValueDescription, "3MiB");
  const duration = toOption(
    { key: "t", flags: "--t <duration>", description: "x", arg: value.duration },
    { t: 0 },
  );
  assert.equal(duration.defaultValueDescription, "0");
});

// Compile-time checks: `deno check` (and `deno test`) fail if these stop being errors.
export const _typeChecks: FlagSpec<ServerOptions & ClientOptions>[] = [
  // @ts-expect-error: a key that is not an options field.
  { key: "noSuchOption", flags: "--no-such <x>", description: "x", arg: value.text },
  // @ts-expect-error: a value kind whose result is not the field's type (string for a number).
  { key: "port", flags: "--port <url>", description: "x", arg: value.httpUrl },
  // @ts-expect-error: a switch for a field that is not boolean.
  { key: "maxChannels", flags: "--max-channels", description: "x" },
  // @ts-expect-error: `set` of the wrong type.
  { key: "transferRequestTimeout", flags: "--off", description: "x", set: "0" },
];
