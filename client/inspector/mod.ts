/**
 * The client's inspector: a bounded in-memory history of every delivery (request and answer,
 * bytes exact), a browser page that shows it live, replays (exact or edited) and a JSON API for
 * scripts, served on `--inspect-addr` (loopback by default).
 *
 * @example
 * ```ts
 * import { Http1Client } from "../../http1/mod.ts";
 * import { parseInspectAddr, Recorder, replayDelivery, startInspector } from "./mod.ts";
 * const recorder = new Recorder();
 * const http = new Http1Client();
 * const target = new URL("http://localhost:3000");
 * const inspector = startInspector({
 *   addr: parseInspectAddr("127.0.0.1:0"),
 *   recorder,
 *   targetUrl: target,
 *   replay: (original, edits) => replayDelivery(original, edits, { recorder, http, target }),
 * });
 * console.log(`Inspector: ${inspector.url}`);
 * await inspector.shutdown();
 * await http.close();
 * ```
 *
 * @module
 */
export { API_LIMITS, createInspectorHandler, CSP, TOKEN_COOKIE } from "./api.ts";
export type { InspectorHandler, InspectorHandlerOptions } from "./api.ts";
export { fromBase64, Recorder, RECORDER_DEFAULTS, toBase64 } from "./recorder.ts";
export type {
  Delivery,
  DeliveryDetail,
  DeliverySummary,
  HeaderPairs,
  Outcome,
  RecordedRequest,
  RecorderListener,
  RecorderOptions,
  Recording,
} from "./recorder.ts";
export { replayDelivery, ReplayError } from "./replay.ts";
export type { ReplayEdits, ReplayOptions } from "./replay.ts";
export {
  INSPECTOR_DEFAULTS,
  InspectorListenError,
  isLoopback,
  parseInspectAddr,
  startInspector,
} from "./server.ts";
export type { InspectAddr, InspectorHandle, InspectorOptions } from "./server.ts";
export { checkInspectAddr, openInspector } from "./open.ts";
export type { OpenInspectorOptions } from "./open.ts";
export { replayRemote, ReplayRemoteError, statusLine } from "./remote.ts";
export type { ReplayRemoteOptions } from "./remote.ts";
