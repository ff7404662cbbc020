/**
 * `deno task docs`: regenerates the flags tables in README.md from each subcommand's `--help`, and
 * the metric tables from the server's and client's registries.
 *
 * @module
 */
import { SUBCOMMANDS } from "./commands/mod.ts";
import { flagsTable, parseHelpFlags, replaceFlagsTable, replaceMarked } from "./help_markdown.ts";
import { METRIC_TABLES } from "./metrics_docs.ts";

/** Subcommands whose flags the README documents: every one that has flags. */
export const DOCUMENTED_COMMANDS: readonly string[] = SUBCOMMANDS
  .filter((command) => command.flags.length > 0)
  .map((command) => command.name);

/**
 * Runs `main.ts <command> --help` and returns its output.
 * @param command The subcommand.
 * @returns The help text.
 */
export async function helpOf(command: string): Promise<string> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("../main.ts", import.meta.url).pathname, command, "--help"],
    cwd: new URL("..", import.meta.url).pathname,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "inherit",
  }).output();
  return new TextDecoder().decode(output.stdout);
}

if (import.meta.main) {
  const path = new URL("../README.md", import.meta.url);
  let readme = await Deno.readTextFile(path);
  for (const command of DOCUMENTED_COMMANDS) {
    readme = replaceFlagsTable(readme, command, flagsTable(parseHelpFlags(await helpOf(command))));
  }
  for (const [name, table] of Object.entries(METRIC_TABLES)) {
    readme = replaceMarked(readme, `metrics:${name}`, await table());
  }
  await Deno.writeTextFile(path, readme);
  // prom-client's event-loop monitor keeps the process alive.
  Deno.exit(0);
}
