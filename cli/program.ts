/**
 * The command-line interface: subcommands `server`, `client`, `echo`, `healthcheck`, `version`,
 * their flags (the Go original's names and defaults, plus new ones), each also readable from a
 * `WOW_*` environment variable.
 *
 * @module
 */
import { Command, CommanderError, Option } from "commander";
import denoJson from "../deno.json" with { type: "json" };
import { readTokenFile, SERVER_DEFAULTS, startServer } from "../server/mod.ts";
import { CLIENT_DEFAULTS, defaultStateFile, startClient, startEcho } from "../client/mod.ts";
import {
  addressArg,
  choiceArg,
  collectList,
  countArg,
  durationArg,
  envName,
  gossipKeyArg,
  httpUrlArg,
  portArg,
  positiveIntArg,
  sizeArg,
} from "./options.ts";
import { formatDuration } from "./parse.ts";
import { flushLogs, LOG_FORMATS, LOG_LEVELS, setupLogging } from "./logging.ts";

/** The program's version, from deno.json (one place). */
export const VERSION: string = denoJson.version;

/** The echo app's port: the client's default target is `http://localhost:3000`. */
const ECHO_DEFAULT_PORT = 3000;

/** How long `healthcheck` waits for `/healthz`, ms (a container probe interval is ≥ 5 s). */
const HEALTHCHECK_TIMEOUT = 3000;

/** Flags whose values are secrets: never echoed back in error messages. */
const SECRET_FLAGS = ["--gossip-key", "--channel-key", "--auth-token", "--admin-token"];

/** Exit status for bad flags or arguments. */
export const EXIT_USAGE = 2;

/** Something the CLI runs: the handle of a started server, client or echo. */
interface Running {
  finished: Promise<void>;
  shutdown(): Promise<void>;
}

/** Describes one flag. */
interface FlagSpec {
  /** Commander flags, e.g. `-p, --port <port>`. */
  flags: string;
  /** Help text. */
  description: string;
  /** Default value shown in help (and used). */
  default?: unknown;
  /** How the default is shown. */
  defaultText?: string;
  /** Value parser. */
  parse?: (text: string, previous: never) => unknown;
  /** Allowed values. */
  choices?: readonly string[];
  /** Required. */
  required?: boolean;
}

function option(spec: FlagSpec): Option {
  const long = /--([a-z0-9-]+)/.exec(spec.flags)![1];
  const opt = new Option(spec.flags, spec.description).env(envName(long));
  if (spec.default !== undefined) opt.default(spec.default, spec.defaultText);
  if (spec.choices) opt.choices(spec.choices);
  if (spec.parse) opt.argParser(spec.parse as (text: string, previous: never) => never);
  if (spec.required) opt.makeOptionMandatory();
  return opt;
}

/** `--log-level` is case-insensitive (`warn` = `WARN`). */
const logLevelArg = choiceArg(LOG_LEVELS, (text) => text.toUpperCase());

const logFlags: FlagSpec[] = [
  {
    flags: "--log-level <level>",
    description: "log level",
    default: "INFO",
    choices: LOG_LEVELS,
    parse: logLevelArg,
  },
  {
    flags: "--log-format <format>",
    description: "log format",
    default: "text",
    choices: LOG_FORMATS,
  },
];

/** Flags of `server`. */
export const SERVER_FLAGS: FlagSpec[] = [
  {
    flags: "-p, --port <port>",
    description: "HTTP port",
    default: SERVER_DEFAULTS.port,
    parse: portArg,
  },
  {
    flags: "--bind-addr <addr>",
    description: "address the HTTP and gossip listeners bind to",
    default: SERVER_DEFAULTS.bindAddr,
    parse: addressArg,
  },
  {
    flags: "--advertise-addr <addr>",
    description: "address peers and Traefik use (default: POD_IP, else auto-detected)",
    parse: addressArg,
  },
  { flags: "--peer-domain <name>", description: "DNS name resolving to the cluster's replicas" },
  {
    flags: "--join <host[:port]>",
    description: "static seed replicas to join (repeatable, or comma-separated)",
    parse: collectList,
  },
  {
    flags: "--gossip-key <base64>",
    description:
      "shared key (base64 of 16, 24 or 32 bytes): encrypts gossip, authenticates replicas",
    parse: gossipKeyArg,
  },
  {
    flags: "--node-name <name>",
    description: "cluster node name (default: HOSTNAME, else node-<random>)",
  },
  {
    flags: "--dns-server <ip:port>",
    description: "resolve --peer-domain with this DNS server instead of the system's (testing)",
  },
  {
    flags: "--cleanup-duration <duration>",
    description: "remove issued channels that never got a client after this long",
    default: SERVER_DEFAULTS.cleanupDuration,
    defaultText: formatDuration(SERVER_DEFAULTS.cleanupDuration),
    parse: durationArg,
  },
  {
    flags: "--memberlist-port <port>",
    description: "gossip port (UDP and TCP)",
    default: SERVER_DEFAULTS.memberlistPort,
    parse: portArg,
  },
  {
    flags: "--memberlist-sync-duration <duration>",
    description: "how often --peer-domain is resolved and new peers joined",
    default: SERVER_DEFAULTS.memberlistSyncDuration,
    defaultText: formatDuration(SERVER_DEFAULTS.memberlistSyncDuration),
    parse: durationArg,
  },
  {
    flags: "--max-body-size <size>",
    description: "largest webhook body accepted (larger: 413)",
    default: SERVER_DEFAULTS.maxBodySize,
    defaultText: "32MiB",
    parse: sizeArg,
  },
  {
    flags: "--request-timeout <duration>",
    description: "how long a webhook waits for the local app's answer (then 504)",
    default: SERVER_DEFAULTS.requestTimeout,
    defaultText: formatDuration(SERVER_DEFAULTS.requestTimeout),
    parse: durationArg,
  },
  {
    flags: "--channel-ttl <duration>",
    description: "keep a channel whose client left this long (its webhooks get 503)",
    default: SERVER_DEFAULTS.channelTtl,
    defaultText: formatDuration(SERVER_DEFAULTS.channelTtl),
    parse: durationArg,
  },
  {
    flags: "--channel-key <key>",
    description:
      "secret key for channel secrets; set it so channels survive restarts (default: random)",
  },
  {
    flags: "--auth-token <token>",
    description: "require this bearer token for /new and /ws/* (repeatable, or comma-separated)",
    parse: collectList,
  },
  {
    flags: "--auth-token-file <path>",
    description: "read --auth-token values from a file, one per line",
  },
  {
    flags: "--admin-token <token>",
    description: "require this bearer token for /traefik-config and /internal/*",
  },
  {
    flags: "--new-rate-limit <count>",
    description: "GET /new allowed per client IP per minute (0: unlimited)",
    default: SERVER_DEFAULTS.newRateLimit,
    parse: countArg,
  },
  {
    flags: "--max-channels <count>",
    description: "most channels this server keeps",
    default: SERVER_DEFAULTS.maxChannels,
    parse: positiveIntArg,
  },
  {
    flags: "--max-in-flight <count>",
    description: "most webhooks in flight per channel (more: 429)",
    default: SERVER_DEFAULTS.maxInFlight,
    parse: positiveIntArg,
  },
  {
    flags: "--max-header-size <size>",
    description: "largest total size of a request's headers (more: 431)",
    default: SERVER_DEFAULTS.maxHeaderSize,
    defaultText: "64KiB",
    parse: sizeArg,
  },
  {
    flags: "--max-header-count <count>",
    description: "most header fields per request (more: 431)",
    default: SERVER_DEFAULTS.maxHeaderCount,
    parse: positiveIntArg,
  },
  {
    flags: "--header-timeout <duration>",
    description:
      "close connections whose request head is not complete after this long (slow-loris protection; costs throughput; 0: off)",
    default: SERVER_DEFAULTS.headerTimeout,
    defaultText: "0",
    parse: durationArg,
  },
  { flags: "--tls-cert <path>", description: "serve HTTPS/WSS with this PEM certificate chain" },
  { flags: "--tls-key <path>", description: "PEM private key for --tls-cert" },
  ...logFlags,
];

/** Flags of `client`. */
export const CLIENT_FLAGS: FlagSpec[] = [
  {
    flags: "--server-url <url>",
    description: "URL of the webhook-over-websocket server",
    required: true,
    parse: httpUrlArg,
  },
  {
    flags: "--target-url <url>",
    description: "URL of the local app webhooks are replayed against",
    default: CLIENT_DEFAULTS.targetUrl,
    parse: httpUrlArg,
  },
  {
    flags: "--transfer-request-timeout <duration>",
    description: "abort a local request with no answer after this long (then 504)",
    default: CLIENT_DEFAULTS.transferRequestTimeout,
    defaultText: formatDuration(CLIENT_DEFAULTS.transferRequestTimeout),
    parse: durationArg,
  },
  {
    flags: "--disabled-transfer-request-timeout",
    description: "never time out local requests",
  },
  { flags: "--insecure", description: "do not verify the server's TLS certificate" },
  { flags: "--ca-file <path>", description: "trust this PEM CA certificate for the server" },
  {
    flags: "--auth-token <token>",
    description: "bearer token for a server started with --auth-token",
  },
  {
    flags: "--state-file <path>",
    description: "where the channel is saved for reuse",
    default: defaultStateFile(),
    defaultText: "<config dir>/webhook-over-websocket/state.json",
  },
  { flags: "--new-channel", description: "ignore the saved channel and get a new one" },
  ...logFlags,
];

/** Flags of `echo`. */
export const ECHO_FLAGS: FlagSpec[] = [
  {
    flags: "-p, --port <port>",
    description: "port to listen on",
    default: ECHO_DEFAULT_PORT,
    parse: portArg,
  },
  ...logFlags,
];

/** Flags of `healthcheck`. */
export const HEALTHCHECK_FLAGS: FlagSpec[] = [
  {
    flags: "-p, --port <port>",
    description: "server port to check",
    default: SERVER_DEFAULTS.port,
    parse: portArg,
  },
  { flags: "--url <url>", description: "check this URL instead", parse: httpUrlArg },
];

/**
 * Runs a started component until SIGINT/SIGTERM, then shuts it down gracefully.
 * @param running The handle.
 */
async function runUntilSignal(running: Running): Promise<void> {
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= running.shutdown();
  };
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
  for (const signal of signals) Deno.addSignalListener(signal, stop);
  try {
    await running.finished;
    await stopping;
  } finally {
    for (const signal of signals) Deno.removeSignalListener(signal, stop);
  }
}

/** Replaces the value in "option '--gossip-key <…>' argument 'VALUE' is invalid" with `***`. */
function redactSecrets(line: string): string {
  return line.replace(
    /(option '([^' ]*, )?(--[a-z-]+)[^']*' argument )'[^']*'/,
    (all, head, _s, flag) => SECRET_FLAGS.includes(flag) ? `${head}'***'` : all,
  );
}

/** A usage problem found after parsing (exit status 2). */
class UsageError extends Error {
  /** @param message What is wrong and what to do. */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** Reads a file named by a flag, turning a failure into a usage error that names the flag. */
async function readFileFor<T>(
  flag: string,
  path: string,
  read: (path: string) => Promise<T>,
): Promise<T> {
  try {
    return await read(path);
  } catch (error) {
    throw new UsageError(`${flag}: cannot read "${path}": ${(error as Error).message}`);
  }
}

// deno-lint-ignore no-explicit-any
type Opts = Record<string, any>;

/**
 * Builds the commander program.
 * @returns The program; call `parseAsync`.
 */
export function buildProgram(): Command {
  const program = new Command("webhook-over-websocket")
    .description("Deliver third-party webhooks to an app on your own machine over a WebSocket")
    .version(VERSION, "-v, --version", "print the version")
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({
      outputError: (text, write) => write(redactSecrets(text.split("\n")[0]) + "\n"),
    });

  const command = (name: string, description: string, flags: FlagSpec[]) => {
    const cmd = program.command(name).description(description).exitOverride();
    for (const spec of flags) cmd.addOption(option(spec));
    return cmd;
  };

  command("server", "run the public server", SERVER_FLAGS).action(async (opts: Opts) => {
    await setupLogging(opts.logLevel, opts.logFormat);
    if (Boolean(opts.tlsCert) !== Boolean(opts.tlsKey)) {
      throw new UsageError("--tls-cert and --tls-key must be given together");
    }
    if (opts.tlsCert && (opts.peerDomain || opts.join?.length)) {
      throw new UsageError(
        "--tls-cert cannot be combined with --peer-domain or --join: terminate TLS at the proxy in front of a cluster",
      );
    }
    const authTokens = [
      ...(opts.authToken ?? []),
      ...(opts.authTokenFile
        ? await readFileFor("--auth-token-file", opts.authTokenFile, readTokenFile)
        : []),
    ];
    await runUntilSignal(
      await startServer({
        memberlistPort: opts.memberlistPort,
        memberlistSyncDuration: opts.memberlistSyncDuration,
        peerDomain: opts.peerDomain,
        join: opts.join,
        gossipKey: opts.gossipKey,
        nodeName: opts.nodeName,
        dnsServer: opts.dnsServer,
        authTokens,
        adminToken: opts.adminToken,
        newRateLimit: opts.newRateLimit,
        maxChannels: opts.maxChannels,
        maxInFlight: opts.maxInFlight,
        maxHeaderSize: opts.maxHeaderSize,
        maxHeaderCount: opts.maxHeaderCount,
        headerTimeout: opts.headerTimeout,
        tls: opts.tlsCert
          ? {
            cert: await readFileFor("--tls-cert", opts.tlsCert, Deno.readTextFile),
            key: await readFileFor("--tls-key", opts.tlsKey, Deno.readTextFile),
          }
          : undefined,
        port: opts.port,
        bindAddr: opts.bindAddr,
        advertiseAddr: opts.advertiseAddr,
        cleanupDuration: opts.cleanupDuration,
        maxBodySize: opts.maxBodySize,
        requestTimeout: opts.requestTimeout,
        channelTtl: opts.channelTtl,
        channelKey: opts.channelKey,
      }),
    );
  });

  command("client", "connect a local app to the server", CLIENT_FLAGS).action(
    async (opts: Opts) => {
      await setupLogging(opts.logLevel, opts.logFormat);
      await runUntilSignal(
        await startClient({
          serverUrl: opts.serverUrl,
          targetUrl: opts.targetUrl,
          transferRequestTimeout: opts.disabledTransferRequestTimeout
            ? 0
            : opts.transferRequestTimeout,
          stateFile: opts.stateFile,
          newChannel: opts.newChannel ?? false,
          authToken: opts.authToken,
          insecure: opts.insecure ?? false,
          caCerts: opts.caFile
            ? [await readFileFor("--ca-file", opts.caFile, Deno.readTextFile)]
            : undefined,
        }),
      );
    },
  );

  command("echo", "run a local app that answers with what it received", ECHO_FLAGS).action(
    async (opts: Opts) => {
      await setupLogging(opts.logLevel, opts.logFormat);
      const echo = startEcho({ port: opts.port });
      console.log(`Echo server listening on http://${echo.addr.hostname}:${echo.addr.port}`);
      await runUntilSignal(echo);
    },
  );

  command(
    "healthcheck",
    "exit 0 when the local server answers /healthz with 200",
    HEALTHCHECK_FLAGS,
  )
    .action(async (opts: Opts) => {
      const url = opts.url ?? `http://127.0.0.1:${opts.port}/healthz`;
      try {
        const response = await fetch(url, { signal: AbortSignal.timeout(HEALTHCHECK_TIMEOUT) });
        await response.body?.cancel();
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
      } catch (error) {
        console.error(`Unhealthy: ${url}: ${(error as Error).message}`);
        Deno.exit(1);
      }
    });

  program.command("version").description("print the version").action(() => {
    console.log(VERSION);
  });
  return program;
}

/**
 * Runs the CLI with `args` and returns the exit status.
 * @param args Arguments after the program name.
 * @returns 0 on success, 2 on usage errors, 1 on failures.
 */
export async function runCli(args: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(args, { from: "user" });
    flushLogs();
    return 0;
  } catch (error) {
    flushLogs();
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : EXIT_USAGE;
    if (error instanceof UsageError) {
      console.error(`error: ${error.message}`);
      return EXIT_USAGE;
    }
    console.error(`error: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}
