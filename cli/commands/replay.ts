/**
 * `replay <delivery-id>`: replays one delivery through a running client's inspector API and
 * prints the new record's status line; exit 0 when the app answered 2xx, 1 otherwise, 2 for
 * usage errors.
 *
 * @module
 */
import { CLIENT_DEFAULTS, replayRemote, ReplayRemoteError, statusLine } from "../../client/mod.ts";
import type { FlagSpec } from "../flags.ts";
import { defineSubcommand } from "../subcommand.ts";
import * as value from "../values.ts";

/** Options of `replay`. */
export interface ReplayCommandOptions {
  /** The delivery to replay (the positional argument). */
  deliveryId?: string;
  /** The running client's inspector. @default "127.0.0.1:4040" */
  inspectAddr?: string;
  /** Replay to this URL instead of the client's target. */
  targetUrl?: string;
  /** The client's `--inspect-token`. */
  inspectToken?: string;
}

/** Exit status for usage errors (as the program's). */
const EXIT_USAGE = 2;

/** Flags of `replay`; see `cli/flags.ts`. */
export const REPLAY_FLAGS: FlagSpec<ReplayCommandOptions>[] = [
  {
    key: "inspectAddr",
    flags: "--inspect-addr <addr>",
    description: "the running client's inspector address",
    arg: value.inspectAddr,
  },
  {
    key: "targetUrl",
    flags: "--target-url <url>",
    description: "replay to this URL instead of the client's target",
    arg: value.httpUrl,
  },
  {
    key: "inspectToken",
    flags: "--inspect-token <token>",
    description: "the client's --inspect-token",
    arg: value.text,
    secret: true,
  },
];

/**
 * Replays one delivery and prints its status line.
 * @param options Id, address, target, token.
 * @returns 0 when the app answered 2xx, 1 otherwise, 2 when the id or address is missing.
 */
export async function replayCommand(options: ReplayCommandOptions): Promise<number> {
  const addr = options.inspectAddr ?? CLIENT_DEFAULTS.inspectAddr;
  if (!options.deliveryId) {
    console.error("error: replay needs a delivery id: replay <delivery-id>");
    return EXIT_USAGE;
  }
  if (addr === "off") {
    console.error("error: --inspect-addr off: replay needs the running client's inspector");
    return EXIT_USAGE;
  }
  try {
    const delivery = await replayRemote(options.deliveryId, {
      addr,
      targetUrl: options.targetUrl,
      token: options.inspectToken,
    });
    console.log(statusLine(delivery));
    return delivery.status !== null && delivery.status >= 200 && delivery.status < 300 ? 0 : 1;
  } catch (error) {
    if (!(error instanceof ReplayRemoteError)) throw error;
    console.error(`error: ${error.message}`);
    return 1;
  }
}

/** `replay`. */
export const replayCommandSpec = defineSubcommand<ReplayCommandOptions>({
  name: "replay",
  description: "replay one delivery through a running client's inspector",
  flags: REPLAY_FLAGS,
  defaults: { inspectAddr: CLIENT_DEFAULTS.inspectAddr },
  argument: { name: "delivery-id", description: "the delivery's id", key: "deliveryId" },
  run: replayCommand,
});
