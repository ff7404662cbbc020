/**
 * `client`: connects a local app to the server.
 *
 * @module
 */
import {
  checkInspectAddr,
  CLIENT_DEFAULTS,
  type ClientOptions,
  defaultStateFile,
  parseVerifyRule,
  splitVerifyRules,
  startClient,
  verifyFileLines,
} from "../../client/mod.ts";
import { InvalidArgumentError } from "commander";
import type { Arg, FlagSpec } from "../flags.ts";
import { LOG_DEFAULTS, type LogOptions, setupLogging } from "../logging.ts";
import { defineSubcommand, runUntilSignal } from "../subcommand.ts";
import * as value from "../values.ts";
import { OFFLINE_MODES } from "../../protocol/wire.ts";
import { LOG_FLAGS } from "./_log_flags.ts";

/**
 * `--verify` rules (several per value, split before each `<provider>=`): each is checked here
 * and kept as written; the client parses them again. `--verify-file` lines are checked when the
 * client starts.
 */
const verifyRules: Arg<string[]> = {
  parse(text, previous) {
    const rules = splitVerifyRules(text);
    for (const rule of rules) {
      try {
        parseVerifyRule(rule);
      } catch (error) {
        throw new InvalidArgumentError((error as Error).message);
      }
    }
    return [...(previous ?? []), ...rules];
  },
  samples: ["github=sample-a", "stripe=whsec_sample,gitlab=sample-b"],
};

/** What the `client` flags fill. */
export type ClientFlagOptions = ClientOptions & LogOptions;

/**
 * Flags of `client`. A new flag: one line here (+ the `ClientOptions` field with its
 * `@default`, and the value in `CLIENT_DEFAULTS`); see `cli/flags.ts`.
 */
export const CLIENT_FLAGS: FlagSpec<ClientFlagOptions>[] = [
  {
    key: "serverUrl",
    flags: "--server-url <url>",
    description: "URL of the webhook-over-websocket server",
    arg: value.httpUrl,
    required: true,
  },
  {
    key: "targetUrl",
    flags: "--target-url <url>",
    description: "URL of the local app webhooks are replayed against",
    arg: value.httpUrl,
  },
  {
    key: "transferRequestTimeout",
    flags: "--transfer-request-timeout <duration>",
    description: "abort a local request with no answer after this long (then 504)",
    arg: value.duration,
  },
  {
    key: "transferRequestTimeout",
    flags: "--disabled-transfer-request-timeout",
    description: "never time out local requests",
    set: 0,
  },
  {
    key: "insecure",
    flags: "--insecure",
    description: "do not verify the server's TLS certificate",
  },
  {
    key: "caCerts",
    flags: "--ca-file <path>",
    description: "trust this PEM CA certificate for the server",
    read: async (path) => [await Deno.readTextFile(path)],
  },
  {
    key: "authToken",
    flags: "--auth-token <token>",
    description: "bearer token for a server started with --auth-token",
    arg: value.text,
    secret: true,
  },
  {
    key: "stateFile",
    flags: "--state-file <path>",
    description: "where the channel is saved for reuse",
    arg: value.text,
    shownDefault: "<config dir>/webhook-over-websocket/state.json",
  },
  {
    key: "newChannel",
    flags: "--new-channel",
    description: "ignore the saved channel and get a new one",
  },
  {
    key: "inspectAddr",
    flags: "--inspect-addr <addr>",
    description: "where the inspector (web page and JSON API) listens, host:port, or off",
    arg: value.inspectAddr,
  },
  {
    key: "inspectHistory",
    flags: "--inspect-history <count>",
    description: "deliveries the inspector keeps (the oldest go first)",
    arg: value.positiveInt,
  },
  {
    key: "inspectMaxBytes",
    flags: "--inspect-max-bytes <size>",
    description: "body bytes the inspector keeps over all deliveries",
    arg: value.size,
  },
  {
    key: "inspectToken",
    flags: "--inspect-token <token>",
    description: "token the inspector requires (needed on a non-loopback --inspect-addr)",
    arg: value.text,
    secret: true,
  },
  {
    key: "json",
    flags: "--json",
    description: "print one JSON object per delivery instead of the log line",
  },
  {
    key: "verify",
    flags: "--verify <provider=secret>",
    description: "check signatures with this secret (repeatable; README: Signature checks)",
    arg: verifyRules,
    secret: true,
  },
  {
    key: "verify",
    flags: "--verify-file <path>",
    description: "read --verify rules from a file, one provider=secret a line (# comments)",
    read: async (
      path,
      rules,
    ) => [...(rules ?? []), ...verifyFileLines(await Deno.readTextFile(path))],
  },
  {
    key: "verifyMode",
    flags: "--verify-mode <mode>",
    description: "flag: forward all, log the verdict; reject: answer invalid ones 401",
    arg: value.choice(["flag", "reject"]),
  },
  {
    key: "verifyTolerance",
    flags: "--verify-tolerance <duration>",
    description: "largest signed-timestamp age accepted; 0: any",
    arg: value.duration,
  },
  {
    key: "verifyMaxBody",
    flags: "--verify-max-body <size>",
    description: "bodies larger than this are not checked (unchecked)",
    arg: value.size,
  },
  {
    key: "offline",
    flags: "--offline <mode>",
    description: "while away, a --queue server stores webhooks or answers 503",
    arg: value.choice(OFFLINE_MODES),
  },
  ...LOG_FLAGS,
];

/** `client`. */
export const clientCommand = defineSubcommand<ClientFlagOptions>({
  name: "client",
  description: "connect a local app to the server",
  flags: CLIENT_FLAGS,
  defaults: { ...CLIENT_DEFAULTS, stateFile: defaultStateFile(), ...LOG_DEFAULTS },
  check({ inspectAddr, inspectToken }) {
    if (inspectAddr && inspectAddr !== "off") checkInspectAddr(inspectAddr, inspectToken);
  },
  async run({ logLevel, logFormat, ...options }) {
    await setupLogging({ logLevel, logFormat });
    await runUntilSignal(await startClient(options));
  },
});
