/**
 * README.md stays true: its flag tables match each subcommand's `--help`, its metric tables the
 * server's and client's registries.
 */
import assert from "node:assert/strict";
import { DOCUMENTED_COMMANDS, helpOf } from "../cli/docs.ts";
import { flagsTable, parseHelpFlags, replaceFlagsTable } from "../cli/help_markdown.ts";
import { METRIC_TABLES } from "../cli/metrics_docs.ts";

/** Collapses Markdown table padding so formatting differences do not matter. */
function normalize(text: string): string {
  return text.split("\n").map((line) =>
    line.replace(/\s*\|\s*/g, "|").replace(/-{3,}/g, "---").trim()
  ).filter(Boolean).join("\n");
}

function tableIn(readme: string, name: string, kind = "flags"): string {
  const start = readme.indexOf(`<!-- ${kind}:${name} -->`);
  const end = readme.indexOf(`<!-- /${kind}:${name} -->`);
  assert.ok(start >= 0 && end > start, `README has the ${name} ${kind} table markers`);
  return readme.slice(start + `<!-- ${kind}:${name} -->`.length, end);
}

Deno.test("README metric tables list exactly what the server's and client's registries export", async () => {
  const readme = await Deno.readTextFile(new URL("../README.md", import.meta.url));
  for (const [name, table] of Object.entries(METRIC_TABLES)) {
    const expected = await table();
    assert.ok(expected.includes("`wow_"), `${name} metrics table lists wow_* metrics`);
    assert.equal(
      normalize(tableIn(readme, name, "metrics")),
      normalize(expected),
      `README's ${name} metric table differs from the registry: run deno task docs`,
    );
  }
});

Deno.test("README flag tables match --help of every subcommand", async () => {
  const readme = await Deno.readTextFile(new URL("../README.md", import.meta.url));
  for (const command of DOCUMENTED_COMMANDS) {
    const flags = parseHelpFlags(await helpOf(command));
    assert.ok(flags.length >= 2, `${command} --help lists flags`);
    assert.equal(
      normalize(tableIn(readme, command)),
      normalize(flagsTable(flags)),
      `README's ${command} flags differ from --help: run deno task docs`,
    );
  }
});

Deno.test("parseHelpFlags reads defaults, environment variables and choices", () => {
  const help = `Usage: x server [options]

Options:
  -p, --port <port>      HTTP port (default: 8080, env: WOW_PORT)
  --log-level <level>    log level (choices: "DEBUG", "INFO", default: "INFO", env: WOW_LOG_LEVEL)
  --advertise-addr <a>   address (default: POD_IP, else auto) (env: WOW_ADVERTISE_ADDR)
  --insecure             skip checks (env: WOW_INSECURE)
  --log-format <format>  log format (choices: "text", "json", default: "text",
                         env: WOW_LOG_FORMAT)
  -h, --help             display help for command
`;
  assert.deepEqual(parseHelpFlags(help), [
    { flags: "-p, --port <port>", description: "HTTP port", default: "8080", env: "WOW_PORT" },
    {
      flags: "--log-level <level>",
      description: "log level",
      choices: "DEBUG, INFO",
      default: "INFO",
      env: "WOW_LOG_LEVEL",
    },
    {
      flags: "--advertise-addr <a>",
      description: "address",
      default: "POD_IP, else auto",
      env: "WOW_ADVERTISE_ADDR",
    },
    { flags: "--insecure", description: "skip checks", env: "WOW_INSECURE" },
    {
      flags: "--log-format <format>",
      description: "log format",
      choices: "text, json",
      default: "text",
      env: "WOW_LOG_FORMAT",
    },
  ]);
});

Deno.test("replaceFlagsTable rewrites only between its markers and needs them", () => {
  const readme = "a\n<!-- flags:x -->\nold\n<!-- /flags:x -->\nb\n";
  assert.equal(
    replaceFlagsTable(readme, "x", "T"),
    "a\n<!-- flags:x -->\n\nT\n\n<!-- /flags:x -->\nb\n",
  );
  assert.throws(() => replaceFlagsTable("no markers", "x", "T"), SyntaxError);
});
