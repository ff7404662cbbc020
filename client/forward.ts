/**
 * Replays one tunnelled request against the local app with our HTTP/1.1 client (`protocol/http1.ts`),
 * which sends exactly the headers it is given (no added `Accept-Encoding`) and never decompresses
 * the answer, unlike `fetch`, at a fraction of `node:http`'s CPU cost. The app's status, headers
 * and body go back through the stream unchanged.
 *
 * @module
 */
import { type Http1Client, Http1Error, type Http1Response } from "../http1/mod.ts";
import {
  decodeRequestHead,
  encodeResponseHead,
  endToEndHeaders,
  type HeaderList,
  type RequestHead,
  type ResetCode,
  StreamResetError,
  type TunnelStream,
} from "../protocol/mod.ts";
import type { Recorder, Recording } from "./inspector/mod.ts";

/** Options for {@linkcode forwardStream}. */
export interface ForwardOptions {
  /** The local app's base URL. */
  target: URL;
  /** The keep-alive connection pool to the local app. */
  http: Http1Client;
  /** Abort when the response head takes longer than this many ms; 0 disables. */
  timeout: number;
  /** The inspector's history: the exchange is recorded alongside, when given. */
  recorder?: Recorder;
}

/** What happened, for the client's log line. */
export interface ForwardResult {
  /** The request head as received. */
  head: RequestHead;
  /** Status the app answered, or the reset code when it did not. */
  status: number | ResetCode;
  /** Request body bytes written to the app. */
  requestBytes: number;
  /** Response body bytes sent back. */
  responseBytes: number;
}

/**
 * Maps the tunnelled target onto the local app's URL: the target URL's path, then the suffix
 * after the channel id, then the query.
 *
 * @param base The `--target-url`.
 * @param target The suffix and query from the request head (may be empty).
 * @returns The request path for the local app, always starting with `/`.
 * @example
 * ```ts
 * localPath(new URL("http://localhost:3000/base"), "/gh/events?x=1"); // "/base/gh/events?x=1"
 * ```
 */
export function localPath(base: URL, target: string): string {
  const prefix = base.pathname.endsWith("/") && target.startsWith("/")
    ? base.pathname.slice(0, -1)
    : base.pathname;
  const joined = prefix + target;
  return joined.startsWith("/") ? joined : `/${joined}`;
}

/**
 * Forwards one stream to the local app and streams its answer back.
 *
 * @param stream A stream the server opened.
 * @param options Target, connection pool and timeout.
 * @returns What happened (never rejects).
 */
export async function forwardStream(
  stream: TunnelStream,
  options: ForwardOptions,
): Promise<ForwardResult> {
  let head: RequestHead;
  try {
    // Awaiting also lets the rest of the message be dispatched first: a small body that came
    // with the HEAD is then complete and goes to the app in the same write as the head.
    head = decodeRequestHead(await stream.head);
  } catch (error) {
    if (!(error instanceof StreamResetError)) stream.reset("target_error", String(error));
    throw error;
  }
  const result: ForwardResult = { head, status: "cancelled", requestBytes: 0, responseBytes: 0 };
  const { target } = options;
  const headers: HeaderList = head.headers.filter(([name]) => name !== "host");
  headers.push(["host", target.host]);
  const path = localPath(target, head.target);
  const recording = options.recorder?.begin({ method: head.method, path, headers });
  const done = () => {
    const failure = stream.failure;
    recording?.finish(
      failure?.code ?? (typeof result.status === "number" ? "ok" : result.status),
      failure?.message,
    );
    return result;
  };
  const abort = new AbortController();
  stream.onReset((error) => abort.abort(error));
  if (options.timeout > 0) {
    stream.setDeadline(
      options.timeout,
      () => abort.abort(new DOMException("timeout", "TimeoutError")),
    );
  }
  // A small body already complete in the tunnel goes out in the same write as the head.
  const buffered = stream.takeBufferedBody();
  if (buffered) recording?.requestChunk(buffered);
  const upload = buffered ? undefined : new Upload(stream.body, result, recording);
  let answer: Http1Response;
  try {
    answer = await options.http.request(target, {
      method: head.method,
      path,
      headers,
      body: buffered ?? upload!.chunks(),
      signal: abort.signal,
    });
    if (buffered) result.requestBytes = buffered.length;
  } catch (error) {
    const code = resetCode(error);
    if (!stream.failure) stream.reset(code, describe(error, options));
    result.status = stream.failure?.code ?? code;
    return done();
  } finally {
    stream.clearDeadline();
  }
  result.status = answer.status;
  recording?.responseHead(answer.status, answer.headers);
  try {
    stream.sendHead(encodeResponseHead({
      status: result.status,
      headers: endToEndHeaders(answer.headers),
    }));
  } catch (error) {
    // Too large to tunnel: this request fails (502), the tunnel and the others go on.
    answer.body.cancel();
    stream.reset("target_error", `The local app's answer cannot be tunnelled: ${error}`);
    result.status = "target_error";
    return done();
  }
  try {
    const whole = answer.body.takeBuffered();
    if (whole) recording?.responseChunk(whole);
    result.responseBytes = await stream.sendBody(
      whole
        ? (whole.length ? [whole] : null)
        : recording
        ? tap(answer.body, recording)
        : answer.body,
    );
  } catch (error) {
    if (!stream.failure) stream.reset("target_error", describe(error, options));
    answer.body.cancel();
  }
  // The app answered without reading the whole request body: stop the upload (the server stops
  // sending and frees the stream) instead of leaving it waiting for credit forever.
  if (upload?.active) {
    upload.stop();
    abort.abort(new DOMException("The local app answered early", "AbortError"));
  }
  return done();
}

/** The response body, each chunk also handed to the recording as it passes. */
async function* tap(body: AsyncIterable<Uint8Array>, recording: Recording) {
  for await (const chunk of body) {
    recording.responseChunk(chunk);
    yield chunk;
  }
}

/** The request body pulled from the tunnel, counted, and stoppable while a read is pending. */
class Upload {
  active = true;
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  #result: ForwardResult;
  #recording?: Recording;
  constructor(body: ReadableStream<Uint8Array>, result: ForwardResult, recording?: Recording) {
    this.#reader = body.getReader();
    this.#result = result;
    this.#recording = recording;
  }
  async *chunks(): AsyncIterable<Uint8Array> {
    try {
      for (;;) {
        const { value, done } = await this.#reader.read();
        if (done) return;
        this.#result.requestBytes += value.length;
        this.#recording?.requestChunk(value);
        yield value;
      }
    } finally {
      this.active = false;
    }
  }
  stop(): void {
    this.#reader.cancel().catch(() => {});
  }
}

function resetCode(error: unknown): ResetCode {
  if (error instanceof StreamResetError) return error.code;
  if (!(error instanceof Http1Error)) return "target_error";
  return error.code === "connect"
    ? "target_unreachable"
    : error.code === "timeout"
    ? "target_timeout"
    : "target_error";
}

function describe(error: unknown, options: ForwardOptions): string {
  if (resetCode(error) === "target_timeout") {
    return `The local app at ${options.target.origin} did not answer within ${options.timeout} ms`;
  }
  const message = error instanceof Error ? error.message : String(error);
  return `Cannot reach the local app at ${options.target.origin}: ${message}`;
}
