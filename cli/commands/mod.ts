/**
 * The subcommands, in `--help` order. A new subcommand: a file here defining it with
 * `defineSubcommand`, and one line in {@linkcode SUBCOMMANDS}.
 *
 * @module
 */
import type { Subcommand } from "../subcommand.ts";
import { clientCommand } from "./client.ts";
import { echoCommand } from "./echo.ts";
import { healthcheckCommand } from "./healthcheck.ts";
import { replayCommandSpec } from "./replay.ts";
import { serverCommand } from "./server.ts";
import { versionCommand } from "./version.ts";

export { VERSION } from "./version.ts";

/** Every subcommand, in `--help` order. */
export const SUBCOMMANDS: readonly Subcommand[] = [
  serverCommand,
  clientCommand,
  echoCommand,
  healthcheckCommand,
  replayCommandSpec,
  versionCommand,
];
