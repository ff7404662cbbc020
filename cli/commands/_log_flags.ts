/**
 * `--log-level` and `--log-format`, shared by the subcommands that log.
 *
 * @module
 */
import type { FlagSpec } from "../flags.ts";
import { LOG_FORMATS, LOG_LEVELS, type LogOptions } from "../logging.ts";
import * as value from "../values.ts";

/** The logging flags (defaults: `LOG_DEFAULTS`); `--log-level` is case-insensitive. */
export const LOG_FLAGS: FlagSpec<LogOptions>[] = [
  {
    key: "logLevel",
    flags: "--log-level <level>",
    description: "log level",
    arg: value.choice(LOG_LEVELS, (text) => text.toUpperCase()),
  },
  {
    key: "logFormat",
    flags: "--log-format <format>",
    description: "log format",
    arg: value.choice(LOG_FORMATS),
  },
];
