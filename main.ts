/**
 * webhook-over-websocket: `deno run -A main.ts server|client|echo|healthcheck|version [--help]`.
 *
 * @module
 */
import { runCli } from "./cli/program.ts";

if (import.meta.main) {
  Deno.exit(await runCli(Deno.args));
}
