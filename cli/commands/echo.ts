/**
 * `echo`: runs a local app that answers with what it received.
 *
 * @module
 */
import { ECHO_DEFAULTS, type EchoOptions, startEcho } from "../../client/mod.ts";
import type { FlagSpec } from "../flags.ts";
import { LOG_DEFAULTS, type LogOptions, setupLogging } from "../logging.ts";
import { defineSubcommand, runUntilSignal } from "../subcommand.ts";
import * as value from "../values.ts";
import { LOG_FLAGS } from "./_log_flags.ts";

/** What the `echo` flags fill. */
export type EchoFlagOptions = EchoOptions & LogOptions;

/** Flags of `echo` (defaults: `ECHO_DEFAULTS`); see `cli/flags.ts`. */
export const ECHO_FLAGS: FlagSpec<EchoFlagOptions>[] = [
  { key: "port", flags: "-p, --port <port>", description: "port to listen on", arg: value.port },
  ...LOG_FLAGS,
];

/** `echo`. */
export const echoCommand = defineSubcommand<EchoFlagOptions>({
  name: "echo",
  description: "run a local app that answers with what it received",
  flags: ECHO_FLAGS,
  defaults: { ...ECHO_DEFAULTS, ...LOG_DEFAULTS },
  async run({ logLevel, logFormat, ...options }) {
    await setupLogging({ logLevel, logFormat });
    const echo = startEcho(options);
    console.log(`Echo server listening on http://${echo.addr.hostname}:${echo.addr.port}`);
    await runUntilSignal(echo);
  },
});
