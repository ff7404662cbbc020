/**
 * `version`: prints the program's version.
 *
 * @module
 */
import denoJson from "../../deno.json" with { type: "json" };
import { defineSubcommand } from "../subcommand.ts";

/** The program's version, from deno.json (one place). */
export const VERSION: string = denoJson.version;

/** `version` (also `--version`). */
export const versionCommand = defineSubcommand<Record<never, never>>({
  name: "version",
  description: "print the version",
  flags: [],
  run() {
    console.log(VERSION);
    return Promise.resolve();
  },
});
