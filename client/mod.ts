/**
 * The laptop side of webhook-over-websocket: connects to the server's `/ws/{id}` and replays
 * every tunnelled webhook against the local app, byte for byte.
 *
 * @example
 * ```ts
 * import { startClient } from "./mod.ts";
 * const client = await startClient({ serverUrl: "https://hooks.example.com" });
 * console.log(client.webhookUrl);
 * await client.finished;
 * ```
 *
 * @module
 */
export { startClient } from "./client.ts";
export { ClientError } from "./channel.ts";
export type { ClientHandle } from "./client.ts";
export { CLIENT_DEFAULTS, ECHO_DEFAULTS } from "./options.ts";
export type { ClientOptions } from "./options.ts";
export { defaultStateFile } from "./state.ts";
export { startEcho } from "./echo.ts";
export { createClientMetrics } from "./metrics.ts";
export type { EchoHandle, EchoOptions } from "./echo.ts";
export {
  checkInspectAddr,
  parseInspectAddr,
  replayRemote,
  ReplayRemoteError,
  statusLine,
} from "./inspector/mod.ts";
export type { DeliveryDetail, DeliverySummary, ReplayRemoteOptions } from "./inspector/mod.ts";
export {
  parseVerifyRule,
  splitVerifyRules,
  Verifier,
  VERIFY_PROVIDERS,
  verifyFileLines,
} from "./verify/mod.ts";
export type { Verdict, VerifyRule } from "./verify/mod.ts";
