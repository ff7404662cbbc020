/**
 * The client's side of starting the inspector: the address rules of `--inspect-addr` (the
 * default port falls back to the next free ones up to 4050; none free is one warning, not a
 * failure) and replays sent through the client's own pool to its target.
 *
 * @module
 */
import type { Http1Client } from "../../http1/mod.ts";
import type { Recorder } from "./recorder.ts";
import type { Verifier } from "../verify/mod.ts";
import { replayDelivery } from "./replay.ts";
import {
  INSPECTOR_DEFAULTS,
  type InspectorHandle,
  InspectorListenError,
  isLoopback,
  parseInspectAddr,
  startInspector,
} from "./server.ts";

/**
 * Checks `--inspect-addr` and `--inspect-token` together, before anything starts.
 * @param addr `host:port`.
 * @param token The token, if any.
 * @throws {TypeError} When the address is invalid, or not loopback and no token is given.
 */
export function checkInspectAddr(addr: string, token: string | undefined): void {
  const { hostname } = parseInspectAddr(addr);
  if (!isLoopback(hostname) && !token) {
    throw new TypeError(
      `Cannot serve the inspector on "${hostname}" without --inspect-token: it holds secrets`,
    );
  }
}

/** Options for {@linkcode openInspector}. */
export interface OpenInspectorOptions {
  /** `--inspect-addr`: `host:port` (not `off`). */
  addr: string;
  /** `--inspect-token`. */
  token?: string;
  /** The history to show. */
  recorder: Recorder;
  /** The client's pool to the local app (replays use it). */
  http: Http1Client;
  /** The client's target. */
  target: URL;
  /** The client's `--transfer-request-timeout`, ms; 0 disables. */
  timeout: number;
  /** The client's signature verifier: replays are re-verified as sent. */
  verifier?: Verifier;
  /** Serves `GET /metrics` (the client's Prometheus metrics), when given. */
  metrics?: () => Promise<Response>;
  /** Receives the one warning line when no port is free. */
  warn(line: string): void;
}

/**
 * Starts the inspector for a client.
 * @param options Address, history, pool, target.
 * @returns The inspector, or undefined when it could not listen (after one warning).
 * @throws {TypeError} When the address is invalid, or not loopback and no token is given.
 */
export function openInspector(options: OpenInspectorOptions): InspectorHandle | undefined {
  const { recorder, http, target, timeout, verifier } = options;
  try {
    return startInspector({
      addr: parseInspectAddr(options.addr),
      portTries: options.addr === INSPECTOR_DEFAULTS.addr ? INSPECTOR_DEFAULTS.portTries : 1,
      recorder,
      targetUrl: target,
      token: options.token,
      metrics: options.metrics,
      replay: (original, edits) =>
        replayDelivery(original, edits, { recorder, http, target, timeout, verifier }),
    });
  } catch (error) {
    if (!(error instanceof InspectorListenError)) throw error;
    options.warn(`${error.message}; running without the inspector`);
    return undefined;
  }
}
