/**
 * The command-line interface: the subcommands of `cli/commands/` (`server`, `client`, `echo`,
 * `healthcheck`, `version`), each flag also readable from a `WOW_*` environment variable.
 *
 * This file only wires the subcommands' flag tables into commander and maps the parsed values to
 * options (see `cli/flags.ts`, which also says how to add a flag).
 *
 * @module
 */
import { Command, CommanderError } from "commander";
import { SUBCOMMANDS, VERSION } from "./commands/mod.ts";
import { type AnyFlag, longName, optionsFromFlags, toOption, UsageError } from "./flags.ts";
import { flushLogs } from "./logging.ts";
import type { Subcommand } from "./subcommand.ts";

export { VERSION } from "./commands/mod.ts";

/** Exit status for bad flags or arguments. */
export const EXIT_USAGE = 2;

/** How the program runs a subcommand once its options are built. */
export interface ProgramOptions {
  /**
   * Runs `command` with `options` (tests pass one that records them).
   * @default `command.run(options)`
   */
  run?(command: Subcommand, options: object): Promise<number | void>;
}

/** Long names of the flags whose values are secrets, from the specs' `secret`. */
const SECRET_FLAGS = new Set(
  SUBCOMMANDS.flatMap((command) => command.flags.filter((flag) => flag.secret).map(longName)),
);

/**
 * Replaces the value in "option '--gossip-key <…>' argument 'VALUE' is invalid" (and in
 * "… value 'VALUE' from env 'WOW_…' is invalid") with `***`, quotes inside the value included.
 */
function redactSecrets(line: string): string {
  return line.replace(
    /(option '([^' ]*, )?(--[a-z-]+)[^']*' (?:argument|value) )'.*?'(?= is invalid| from env ')/,
    (all, head, _s, flag) => SECRET_FLAGS.has(flag) ? `${head}'***'` : all,
  );
}

/**
 * Builds the commander program.
 * @param options How subcommands are run.
 * @param exit Receives the subcommand's exit status.
 * @returns The program; call `parseAsync`.
 */
export function buildProgram(
  options: ProgramOptions = {},
  exit: (status: number) => void = () => {},
): Command {
  const program = new Command("webhook-over-websocket")
    .description("Deliver third-party webhooks to an app on your own machine over a WebSocket")
    .version(VERSION, "-v, --version", "print the version")
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({
      outputError: (text, write) => write(redactSecrets(text.split("\n")[0]) + "\n"),
    });
  const run = options.run ?? ((command, values) => command.run(values));

  for (const subcommand of SUBCOMMANDS) {
    const cmd = program.command(subcommand.name).description(subcommand.description)
      .exitOverride();
    const defaults = subcommand.defaults ?? {};
    if (subcommand.argument) {
      cmd.argument(`[${subcommand.argument.name}]`, subcommand.argument.description);
    }
    const attributes = new Map<AnyFlag, string>();
    for (const flag of subcommand.flags) {
      const option = toOption(flag, defaults);
      attributes.set(flag, option.attributeName());
      cmd.addOption(option);
    }
    cmd.action(async () => {
      const values = await optionsFromFlags(
        subcommand.flags,
        (flag) => cmd.getOptionValue(attributes.get(flag)!),
        subcommand.check?.bind(subcommand),
      );
      const positional = cmd.processedArgs[0];
      if (subcommand.argument && positional !== undefined) {
        values[subcommand.argument.key] = positional;
      }
      exit((await run(subcommand, values)) ?? 0);
    });
  }
  return program;
}

/**
 * Runs the CLI with `args` and returns the exit status.
 * @param args Arguments after the program name.
 * @param options How subcommands are run.
 * @returns 0 on success, 2 on usage errors, 1 on failures (or the subcommand's status).
 */
export async function runCli(args: string[], options: ProgramOptions = {}): Promise<number> {
  let status = 0;
  const program = buildProgram(options, (code) => status = code);
  try {
    await program.parseAsync(args, { from: "user" });
    flushLogs();
    return status;
  } catch (error) {
    flushLogs();
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : EXIT_USAGE;
    if (error instanceof UsageError) {
      console.error(`error: ${error.message}`);
      return EXIT_USAGE;
    }
    console.error(`error: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}
