/**
 * `healthcheck`: exits 0 when the local server answers `/healthz` with 200, else prints one
 * `Unhealthy: <url>: <reason>` line and exits 1 (a container's HEALTHCHECK).
 *
 * @module
 */
import { SERVER_DEFAULTS } from "../../server/mod.ts";
import type { FlagSpec } from "../flags.ts";
import { defineSubcommand } from "../subcommand.ts";
import * as value from "../values.ts";

/** Options of `healthcheck`. */
export interface HealthcheckOptions {
  /** The local server's port, checked at `http://127.0.0.1:<port>/healthz`. @default 8080 */
  port?: number;
  /** Check this URL instead. */
  url?: string;
  /** How long to wait for the answer, ms. @default 3000 */
  timeout?: number;
}

/** Defaults of {@linkcode HealthcheckOptions}. */
export const HEALTHCHECK_DEFAULTS = {
  port: SERVER_DEFAULTS.port,
  /** A container probe interval is ≥ 5 s. */
  timeout: 3000,
} as const;

/** Flags of `healthcheck`; see `cli/flags.ts`. */
export const HEALTHCHECK_FLAGS: FlagSpec<HealthcheckOptions>[] = [
  { key: "port", flags: "-p, --port <port>", description: "server port to check", arg: value.port },
  { key: "url", flags: "--url <url>", description: "check this URL instead", arg: value.httpUrl },
];

/**
 * Fetches the health URL.
 * @param options Port or URL, timeout.
 * @returns 0 when it answered 2xx, else 1 (after printing why on stderr).
 */
export async function healthcheck(options: HealthcheckOptions): Promise<number> {
  const url = options.url ??
    `http://127.0.0.1:${options.port ?? HEALTHCHECK_DEFAULTS.port}/healthz`;
  try {
    const response = await fetch(url, {
      signal: AbortSignal.timeout(options.timeout ?? HEALTHCHECK_DEFAULTS.timeout),
    });
    await response.body?.cancel();
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    return 0;
  } catch (error) {
    console.error(`Unhealthy: ${url}: ${(error as Error).message}`);
    return 1;
  }
}

/** `healthcheck`. */
export const healthcheckCommand = defineSubcommand<HealthcheckOptions>({
  name: "healthcheck",
  description: "exit 0 when the local server answers /healthz with 200",
  flags: HEALTHCHECK_FLAGS,
  defaults: HEALTHCHECK_DEFAULTS,
  run: healthcheck,
});
