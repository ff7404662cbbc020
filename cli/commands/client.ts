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
  startClient,
} from "../../client/mod.ts";
import type { FlagSpec } from "../flags.ts";
import { LOG_DEFAULTS, type LogOptions, setupLogging } from "../logging.ts";
import { defineSubcommand, runUntilSignal } from "../subcommand.ts";
import * as value from "../values.ts";
import { LOG_FLAGS } from "./_log_flags.ts";

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
