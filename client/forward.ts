/**
 * Replays one tunnelled request against the local app with our HTTP/1.1 client (`protocol/http1.ts`),
 * which sends exactly the headers it is given (no added `Accept-Encoding`) and never decompresses
 * the answer, unlike `fetch`, at a fraction of `node:http`'s CPU cost. The app's status, headers
 * and body go back through the stream unchanged.
 *
 * @module
 */
import { Http1Abort, type Http1Client, Http1Error, type Http1Response } from "../http1/mod.ts";
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
import {
  deliveryIdFrom,
  type HeaderLookup,
  headersFromPairs,
  type ProviderDelivery,
} from "../protocol/providers.ts";
import type { BodyCheck, Verdict, Verifier } from "./verify/mod.ts";

/** Options for {@linkcode forwardStream}. */
export interface ForwardOptions {
  /** The local app's base URL. */
  target: URL;
  /** The keep-alive connection pool to the local app. */
  http: Http1Client;
  /**
   * The transfer timeout, ms; 0 disables. The app must start answering within this long of the
   * end of the upload (the last request body byte arriving through the tunnel); during the
   * upload, no body byte from the sender for this long (a stalled upload), or the app not taking
   * the next chunk for this long, also ends the request.
   */
  timeout: number;
  /** The inspector's history: the exchange is recorded alongside, when given. */
  recorder?: Recorder;
  /** Checks each delivery's signature on the bytes as received, when given. */
  verifier?: Verifier;
  /**
   * `flag`: forward everything, the verdict goes in the result; `reject`: read the body first
   * (up to the verifier's `maxBody`) and answer an `invalid` delivery 401 without calling the app.
   * @default "flag"
   */
  verifyMode?: "flag" | "reject";
  /**
   * Called for a delivery from the server's queue before the app is called: returning true
   * skips it (already acked, a redelivery, or chained behind a delivery that failed); the callee
   * has told the server. It may first wait for the queued deliveries before it to be answered
   * (the client delivers them one after another).
   */
  skipQueued?: (head: RequestHead, stream: TunnelStream) => boolean | Promise<boolean>;
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
  /** The signature check's verdict, when a verifier is configured. */
  verification?: Verdict;
  /**
   * Seconds from handing the request to the local app until its response head arrived; absent
   * when the app did not answer (or was not called: `reject` mode refused the delivery).
   */
  appSeconds?: number;
  /**
   * The provider's own id of the delivery (headers, or Stripe's event id when the body came
   * whole with the head), for the log line.
   */
  delivery?: ProviderDelivery;
  /** A queued delivery skipped as already acked (the app was not called). */
  skipped?: boolean;
  /** Why this client gave up on the request (a timeout, a stalled upload…), when it did. */
  failure?: string;
}

/**
 * Maps the tunnelled target onto the local app's URL: the target URL's path, then the suffix
 * after the channel id, then the query: the target URL's own query first, then the webhook's
 * (`--target-url http://localhost:3000/hook?token=abc` and `/webhook/<id>/p?x=1` give
 * `/hook/p?token=abc&x=1`).
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
  const mark = target.indexOf("?");
  const suffix = mark < 0 ? target : target.slice(0, mark);
  const query = mark < 0 ? "" : target.slice(mark + 1);
  const prefix = base.pathname.endsWith("/") && suffix.startsWith("/")
    ? base.pathname.slice(0, -1)
    : base.pathname;
  const joined = prefix + suffix;
  const path = joined.startsWith("/") ? joined : `/${joined}`;
  const own = base.search.slice(1);
  const merged = own && query ? `${own}&${query}` : own || query;
  return merged || mark >= 0 ? `${path}?${merged}` : path;
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
  const result = new Forwarded(head);
  if (head.delivery && options.skipQueued && await options.skipQueued(head, stream)) {
    stream.reset("cancelled", "Not sent to the app: already delivered, or behind a failed one");
    result.skipped = true;
    return result;
  }
  const { target } = options;
  const headers = withHost(head.headers, target.host);
  const path = localPath(target, head.target);
  const recording = options.recorder?.begin({
    method: head.method,
    path,
    headers,
    ...(head.delivery ? { queued: head.delivery } : {}),
  });
  // On the sender's own header pairs, before anything else touches them.
  const check = options.verifier?.begin(result.senderHeaders);
  // Aborts the app request on a reset or timeout; cheaper than an AbortController and listener.
  const abort = new Http1Abort();
  stream.onReset((error) => abort.abort(error));
  const deadline = new TransferDeadline(stream, options.timeout, abort);
  deadline.waitForAnswer();
  // A small body already complete in the tunnel goes out in the same write as the head.
  const buffered = stream.takeBufferedBody();
  result.keepBody(buffered);
  if (buffered) recording?.requestChunk(buffered);
  if (buffered && check) {
    check.update(buffered);
    result.verification = check.finish();
  }
  const upload = buffered
    ? undefined
    : new Upload(stream.body, result, { recording, check, deadline });
  let answer: Http1Response;
  try {
    let body = buffered ?? upload!.chunks();
    if (check && options.verifyMode === "reject") {
      if (upload) body = await upload.readAhead(options.verifier!.maxBody);
      if (result.verification?.result === "invalid") {
        await refuse(stream, result, recording);
        return finish(stream, result, recording);
      }
    }
    const sent = performance.now();
    answer = await options.http.request(target, {
      method: head.method,
      path,
      headers,
      body,
      abort,
      // Checked by decodeRequestHead; the host is the target URL's.
      headersChecked: true,
    });
    result.appSeconds = (performance.now() - sent) / 1000;
    if (buffered) result.requestBytes = buffered.length;
  } catch (error) {
    const stalled = abort.reason instanceof UploadStalledError ? abort.reason : null;
    const code = stalled ? "cancelled" : resetCode(error);
    if (!stream.failure) {
      result.failure = stalled?.message ?? describe(error, options);
      stream.reset(code, result.failure);
    }
    result.status = stream.failure?.code ?? code;
    return finish(stream, result, recording);
  } finally {
    deadline.stop();
  }
  result.status = answer.status;
  recording?.responseHead(answer.status, answer.headers);
  try {
    stream.sendHead({
      status: result.status,
      headers: endToEndHeaders(answer.headers),
    });
  } catch (error) {
    // Too large to tunnel: this request fails (502), the tunnel and the others go on.
    answer.body.cancel();
    stream.reset("target_error", `The local app's answer cannot be tunnelled: ${error}`);
    result.status = "target_error";
    return finish(stream, result, recording);
  }
  try {
    // A view of the read buffer, valid for this synchronous run: the recording and the tunnel
    // both copy it at once (sendBody queues a whole small body before it returns).
    const whole = answer.body.takeBuffered({ view: true });
    if (whole) recording?.responseChunk(whole, true);
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
  return finish(stream, result, recording);
}

/**
 * A {@linkcode ForwardResult} whose provider delivery id is looked up only when read (the log
 * line reads it; at `--log-level ERROR` nobody does).
 */
class Forwarded implements ForwardResult {
  head: RequestHead;
  status: number | ResetCode = "cancelled";
  requestBytes = 0;
  responseBytes = 0;
  verification?: Verdict;
  appSeconds?: number;
  skipped?: boolean;
  failure?: string;
  /** The request body when it came whole with the head (Stripe's event id is read from it). */
  #body: Uint8Array | undefined;
  #delivery: ProviderDelivery | undefined;
  #looked = false;
  #senderHeaders: HeaderLookup | undefined;

  constructor(head: RequestHead) {
    this.head = head;
  }

  /** Keeps the request body that came whole with the head, for {@linkcode delivery}. */
  keepBody(body: Uint8Array | undefined): void {
    this.#body = body;
  }

  /** The sender's headers for lookups (the verifier, the delivery id), indexed once. */
  get senderHeaders(): HeaderLookup {
    return this.#senderHeaders ??= headersFromPairs(this.head.headers);
  }

  get delivery(): ProviderDelivery | undefined {
    if (!this.#looked) {
      this.#looked = true;
      this.#delivery = deliveryIdFrom(this.senderHeaders, this.#body);
    }
    return this.#delivery;
  }
}

/** The request's headers for the app: the sender's, with the `Host` of the target URL. */
function withHost(headers: HeaderList, host: string): HeaderList {
  const out: HeaderList = [];
  for (const pair of headers) if (pair[0] !== "host") out.push(pair);
  out.push(["host", host]);
  return out;
}

/** Closes the recording (when there is one) and returns the result. */
function finish(
  stream: TunnelStream,
  result: ForwardResult,
  recording: Recording | undefined,
): ForwardResult {
  if (recording) {
    const failure = stream.failure;
    if (result.verification) recording.verified(result.verification);
    recording.finish(
      failure?.code ?? (typeof result.status === "number" ? "ok" : result.status),
      failure?.message,
    );
  }
  return result;
}

/**
 * Answers an `invalid` delivery 401 without calling the app (`reject` mode); the result gets
 * status 401 and no request bytes written to the app.
 */
async function refuse(
  stream: TunnelStream,
  result: ForwardResult,
  recording?: Recording,
): Promise<void> {
  const { provider, reason } = result.verification!;
  const body = new TextEncoder().encode(JSON.stringify({
    error: `Signature check failed (${provider}): ${reason}`,
    verification: result.verification,
  }));
  const headers: HeaderList = [["content-type", "application/json"]];
  result.status = 401;
  result.requestBytes = 0;
  recording?.responseHead(401, headers);
  recording?.responseChunk(body);
  stream.sendHead(encodeResponseHead({ status: 401, headers }));
  result.responseBytes = await stream.sendBody([body]);
}

/** The response body, each chunk also handed to the recording as it passes. */
async function* tap(body: AsyncIterable<Uint8Array>, recording: Recording) {
  for await (const chunk of body) {
    recording.responseChunk(chunk);
    yield chunk;
  }
}

/**
 * The sender stopped sending the request body for the transfer timeout: the request ends
 * (`cancelled`, the sender gets 502) with this message.
 */
export class UploadStalledError extends Error {
  /**
   * Creates the error.
   * @param ms The transfer timeout that passed without a body byte.
   */
  constructor(ms: number) {
    super(
      `The sender's upload stalled: no request body bytes for ${ms} ms (--transfer-request-timeout)`,
    );
    this.name = "UploadStalledError";
  }
}

/**
 * The transfer timeout of one request, one phase at a time on the stream's deadline: waiting for
 * the sender's next body chunk, for the app to take the chunk, or (after the upload) for the
 * app's answer. Each phase restarts the clock, so a long upload that keeps moving never times out.
 */
class TransferDeadline {
  #stream: TunnelStream;
  #ms: number;
  #abort: Http1Abort;
  /** The phase being timed: waiting for the sender (else for the app). */
  #forSender = false;
  constructor(stream: TunnelStream, ms: number, abort: Http1Abort) {
    this.#stream = stream;
    this.#ms = ms;
    this.#abort = abort;
  }
  /** Waiting for the sender's next body chunk: expiry is a stalled upload. */
  waitForSender(): void {
    this.#forSender = true;
    this.#arm();
  }
  /** Waiting for the app: to take the next chunk, or to answer once the upload is over. */
  waitForAnswer(): void {
    this.#forSender = false;
    this.#arm();
  }
  /** The answer has begun (or failed): no phase is timed any more. */
  stop(): void {
    this.#ms = 0;
    this.#stream.clearDeadline();
  }
  #arm(): void {
    if (this.#ms > 0) this.#stream.setDeadline(this.#ms, this.#expire);
  }
  /** One callback for every phase (made once per request, not per phase). */
  #expire = (): void => {
    this.#abort.abort(
      this.#forSender
        ? new UploadStalledError(this.#ms)
        : new DOMException("timeout", "TimeoutError"),
    );
  };
}

/** Optional companions of an {@linkcode Upload}. */
interface UploadHooks {
  recording?: Recording;
  check?: BodyCheck;
  deadline?: TransferDeadline;
}

/**
 * The request body pulled from the tunnel, counted, hashed by the signature check as it passes,
 * timed (see {@linkcode TransferDeadline}) and stoppable while a read is pending.
 */
class Upload {
  active = true;
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  #result: ForwardResult;
  #recording?: Recording;
  #check?: BodyCheck;
  #deadline?: TransferDeadline;
  constructor(body: ReadableStream<Uint8Array>, result: ForwardResult, hooks: UploadHooks) {
    this.#reader = body.getReader();
    this.#result = result;
    this.#recording = hooks.recording;
    this.#check = hooks.check;
    this.#deadline = hooks.deadline;
  }
  async *chunks(): AsyncIterable<Uint8Array> {
    try {
      for (;;) {
        this.#deadline?.waitForSender();
        const { value, done } = await this.#reader.read();
        this.#deadline?.waitForAnswer();
        if (done) {
          if (this.#check) this.#result.verification = this.#check.finish();
          return;
        }
        this.#result.requestBytes += value.length;
        this.#recording?.requestChunk(value);
        this.#check?.update(value);
        yield value;
      }
    } finally {
      this.active = false;
      if (this.#check && !this.#result.verification) {
        this.#result.verification = this.#check.abandon();
      }
    }
  }
  /**
   * Reads the body ahead until it ends or passes `limit` bytes (`reject` mode decides before the
   * app sees a byte), then returns it: the chunks read, then the rest as it comes.
   */
  async readAhead(limit: number): Promise<AsyncIterable<Uint8Array>> {
    const source = this.chunks()[Symbol.asyncIterator]();
    const read: Uint8Array[] = [];
    let size = 0;
    let ended = false;
    while (size <= limit) {
      const next = await source.next();
      if (next.done) {
        ended = true;
        break;
      }
      read.push(next.value);
      size += next.value.length;
    }
    return (async function* () {
      yield* read;
      if (ended) return;
      for (;;) {
        const next = await source.next();
        if (next.done) return;
        yield next.value;
      }
    })();
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
