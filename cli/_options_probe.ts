/**
 * Test helper, run as its own process: reads `[{ args, env }, …]` (JSON) from stdin, runs the
 * CLI in process for each with those `WOW_*` variables set, and prints `[{ status, options }, …]`
 * (JSON, `Uint8Array`s as `{ "$bytes": [...] }`): the options each subcommand would run with.
 * A process of its own, so setting environment variables cannot leak into tests running in
 * parallel (and the processes they spawn).
 *
 * @module
 */
import { runCli } from "./program.ts";

/** One run of the CLI. */
export interface ProbeCase {
  /** Arguments after the program name. */
  args: string[];
  /** Environment variables set for this run only. */
  env: Record<string, string>;
}

/** What a run produced. */
export interface ProbeResult {
  /** Exit status. */
  status: number;
  /** The options the subcommand would have run with (undefined: it did not run). */
  options?: Record<string, unknown>;
}

/**
 * JSON with `Uint8Array`s spelled out, for comparing options across processes.
 * @param value Anything the CLI puts in options.
 * @returns The JSON text.
 */
export function toJson(value: unknown): string {
  return JSON.stringify(
    value ?? null,
    (_key, item) => item instanceof Uint8Array ? { $bytes: [...item] } : item,
  );
}

if (import.meta.main) {
  const cases: ProbeCase[] = JSON.parse(await new Response(Deno.stdin.readable).text());
  const results: unknown[] = [];
  for (const { args, env } of cases) {
    let options: object | undefined;
    for (const [name, text] of Object.entries(env)) Deno.env.set(name, text);
    try {
      const status = await runCli(args, {
        run: (_command, built) => {
          options = built;
          return Promise.resolve();
        },
      });
      results.push({ status, options });
    } finally {
      for (const name of Object.keys(env)) Deno.env.delete(name);
    }
  }
  console.log(toJson(results));
}
