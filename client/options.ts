/**
 * Options of `startClient` and their defaults.
 *
 * @module
 */
import { VERIFY_DEFAULTS } from "./verify/mod.ts";
import type { OfflineMode } from "../protocol/wire.ts";

/** Options for `startClient`. */
export interface ClientOptions {
  /** The server's public URL, e.g. `https://hooks.example.com`. */
  serverUrl: string;
  /** The local app's URL. @default "http://localhost:3000" */
  targetUrl?: string;
  /** Abort a local request whose response head takes longer, ms; 0 disables. @default 10000 */
  transferRequestTimeout?: number;
  /** Bearer token for servers started with `--auth-token`. */
  authToken?: string;
  /** Do not verify the server's TLS certificate (self-signed development servers). */
  insecure?: boolean;
  /** PEM certificates of a private CA to trust for the server. */
  caCerts?: string[];
  /** Where the channel is saved for reuse; `undefined` disables saving. */
  stateFile?: string;
  /** Ignore the saved channel and ask for a new one. @default false */
  newChannel?: boolean;
  /** Where the three start-up lines and reconnect notices go. @default console.log */
  print?: (line: string) => void;
  /** Aborting stops the client like Ctrl-C. */
  signal?: AbortSignal;
  /**
   * Where the inspector (page + JSON API) listens, `host:port`, or `off`. The CLI passes
   * `CLIENT_DEFAULTS.inspectAddr` (the next ports up to 4050 are tried when it is busy);
   * `undefined` (in-process callers) disables it. @default {undefined}
   */
  inspectAddr?: string;
  /** Most deliveries the inspector keeps. @default 500 */
  inspectHistory?: number;
  /** Most body bytes the inspector keeps over all deliveries. @default 67108864 */
  inspectMaxBytes?: number;
  /** Token the inspector requires (needed on a non-loopback `inspectAddr`). */
  inspectToken?: string;
  /** Print one JSON object per delivery instead of the text log line. @default false */
  json?: boolean;
  /**
   * Signature rules, `<provider>=<secret>` each (several for one provider: rotation), as
   * `client/verify`'s `parseVerifyRule` reads them; none: no checks.
   */
  verify?: string[];
  /** `flag` records each verdict; `reject` also answers invalid deliveries 401. @default "flag" */
  verifyMode?: "flag" | "reject";
  /** Largest signed-timestamp age accepted, ms; 0: not checked. @default 300000 */
  verifyTolerance?: number;
  /** Bodies larger than this many bytes are not checked (`unchecked`). @default 33554432 */
  verifyMaxBody?: number;
  /**
   * What a server with `--queue` does with webhooks while this client or its app is away:
   * `queue`, `reject` (503), or `auto` (queue all but expiring signatures). @default "auto"
   */
  offline?: OfflineMode;
}

/** Defaults of {@linkcode ClientOptions} and the reconnect policy, one place. */
export const CLIENT_DEFAULTS = {
  targetUrl: "http://localhost:3000",
  transferRequestTimeout: 10_000,
  /** Base of the first reconnect delay: jitter takes up to half off, so the first retry waits 250–500 ms. */
  reconnectInitialDelay: 500,
  /** Reconnect delay bases double up to this cap (so no wait is longer than 30 s). */
  reconnectMaxDelay: 30_000,
  /** In-flight requests allowed to finish on shutdown. */
  shutdownGrace: 10_000,
  /**
   * At start-up, a busy channel (the previous run's socket not yet noticed dead by the server,
   * which takes up to ~24 s) or an unreachable server is retried this long before giving up.
   */
  startupRetryWindow: 30_000,
  /** Timeout of `GET /new`. */
  issueTimeout: 15_000,
  /** Loopback only (the history holds secrets); ngrok's port, which developers know. */
  inspectAddr: "127.0.0.1:4040",
  /** Enough for a working session, small enough to list at once. */
  inspectHistory: 500,
  /** Hundreds of typical webhooks, whole. */
  inspectMaxBytes: 64 * 1024 * 1024,
  /** The server decides per sender: queue what can wait, refuse what its sender re-signs. */
  offline: "auto" as OfflineMode,
  /** Acked queued-delivery ids remembered in the state file, to skip redeliveries. */
  ackedIdsKept: 1000,
  /** Signature checks: 5 min tolerance, 32 MiB body limit, `flag` mode (reasons beside them). */
  ...VERIFY_DEFAULTS,
} as const;

/** Defaults of `startEcho`'s options (`EchoOptions`). */
export const ECHO_DEFAULTS = {
  /** The port of the client's default target, `http://localhost:3000`. */
  port: 3000,
} as const;
