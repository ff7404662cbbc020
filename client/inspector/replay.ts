/**
 * Replays a recorded delivery against the local app (or another target): the same method, path,
 * header pairs and body bytes, optionally edited, through the HTTP/1.1 client the tunnel uses,
 * recorded as a new delivery that names the one it replays.
 *
 * @module
 */
import { type Http1Client, Http1Error } from "../../http1/mod.ts";
import { headersFromPairs } from "../../protocol/providers.ts";
import type { Verifier } from "../verify/mod.ts";
import type { Delivery, HeaderPairs, Recorder } from "./recorder.ts";

/** Changes to a replay; absent fields keep the recorded values. */
export interface ReplayEdits {
  /** The request's header pairs, replacing the recorded ones (`Host` is set to the target). */
  headers?: HeaderPairs;
  /** The request body, replacing the recorded one. */
  body?: Uint8Array;
  /**
   * Send here instead of the client's target: its origin, and its path and query when it has a
   * path other than `/` (otherwise the recorded path).
   */
  targetUrl?: URL;
}

/** Options for {@linkcode replayDelivery}. */
export interface ReplayOptions {
  /** Where the new delivery is recorded. */
  recorder: Recorder;
  /** The connection pool to the local app. */
  http: Http1Client;
  /** The client's `--target-url`. */
  target: URL;
  /** Abort when the response head takes longer than this many ms; 0 disables. @default 0 */
  timeout?: number;
  /**
   * The client's signature verifier: the replay is re-verified as sent (its headers and body,
   * judged now), and the verdict recorded. Never blocks the replay.
   */
  verifier?: Verifier;
}

/** A replay that cannot be sent as asked: the API answers 4xx. */
export class ReplayError extends Error {
  /** The HTTP status the API answers with. */
  readonly status: number;
  /**
   * @param status 400 (bad edit) or 409 (the record cannot be replayed exactly).
   * @param message What is wrong.
   */
  constructor(status: number, message: string) {
    super(message);
    this.name = "ReplayError";
    this.status = status;
  }
}

/**
 * Sends a recorded request again and records the exchange (the app's whole answer) as a new
 * delivery whose `replay_of` is the original's id.
 *
 * @param original The recorded delivery.
 * @param edits Header, body or target changes.
 * @param options Recorder, pool, target.
 * @returns The new delivery, finished (its outcome tells whether the app answered).
 * @throws {ReplayError} When the recorded body is truncated and no body is given, or an edit is
 *   invalid.
 */
export async function replayDelivery(
  original: Delivery,
  edits: ReplayEdits,
  options: ReplayOptions,
): Promise<Delivery> {
  if (!edits.body && original.requestBody.truncated) {
    throw new ReplayError(
      409,
      `Cannot replay "${original.id}" exactly: its request body was truncated in the history`,
    );
  }
  const body = edits.body ?? original.requestBytes();
  const target = edits.targetUrl ?? options.target;
  const path = edits.targetUrl && edits.targetUrl.pathname !== "/"
    ? edits.targetUrl.pathname + edits.targetUrl.search
    : original.request.path;
  const headers = frameHeaders(
    withHost(edits.headers ?? original.request.headers, target.host),
    body.length,
  );
  const recording = options.recorder.begin({
    method: original.request.method,
    path,
    headers,
    replayOf: original.id,
  });
  recording.requestChunk(body);
  if (options.verifier) {
    const check = options.verifier.begin(headersFromPairs(headers));
    check.update(body);
    recording.verified(check.finish());
  }
  const timeout = options.timeout ?? 0;
  try {
    const answer = await options.http.request(target, {
      method: original.request.method,
      path,
      headers,
      body,
      signal: timeout > 0 ? AbortSignal.timeout(timeout) : undefined,
    });
    recording.responseHead(answer.status, answer.headers);
    for await (const chunk of answer.body) recording.responseChunk(chunk, true);
    recording.finish("ok");
  } catch (error) {
    recording.finish(outcomeOf(error), error instanceof Error ? error.message : String(error));
  }
  return recording.delivery;
}

function outcomeOf(error: unknown): string {
  if (error instanceof DOMException && error.name === "TimeoutError") return "target_timeout";
  if (error instanceof TypeError) return "target_error";
  if (!(error instanceof Http1Error)) return "target_error";
  return error.code === "connect"
    ? "target_unreachable"
    : error.code === "timeout"
    ? "target_timeout"
    : "target_error";
}

/** The header pairs with `Host` (first occurrence, in place) set to the target's. */
function withHost(headers: readonly (readonly [string, string])[], host: string): HeaderPairs {
  let seen = false;
  const out: HeaderPairs = [];
  for (const [name, value] of headers) {
    if (name.toLowerCase() === "host") {
      if (!seen) out.push([name, host]);
      seen = true;
    } else out.push([name, value]);
  }
  if (!seen) out.unshift(["host", host]);
  return out;
}

/**
 * The body goes out whole: `Transfer-Encoding` is dropped, a `Content-Length` that no longer
 * matches is corrected in place (the client adds one when none is given).
 */
function frameHeaders(headers: HeaderPairs, length: number): HeaderPairs {
  let hasLength = false;
  const out: HeaderPairs = [];
  for (const [name, value] of headers) {
    const lower = name.toLowerCase();
    if (lower === "transfer-encoding") continue;
    if (lower === "content-length") {
      if (hasLength) continue;
      hasLength = true;
      out.push([name, String(length)]);
      continue;
    }
    out.push([name, value]);
  }
  return out;
}
