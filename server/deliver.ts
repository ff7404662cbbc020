/**
 * Delivers one webhook request through a channel's tunnel and turns the client's answer (or the
 * reason there is none) into the sender's response.
 *
 * @module
 */
import {
  CLUSTER_AUTH_HEADER,
  decodeResponseHead,
  encodeRequestHead,
  endToEndHeaders,
  FORWARDED_HEADER,
  type HeaderList,
  HOP_BY_HOP_HEADERS,
  MAX_CHUNK_SIZE,
  MAX_HEAD_SIZE,
  RESETS,
  responseHasBody,
  STREAM_WINDOW,
  StreamResetError,
  type TunnelSession,
  type TunnelStream,
} from "../protocol/mod.ts";
import { errorReply } from "./_http.ts";
import { type BodyReader, Reply, type ServerRequest } from "../http1/mod.ts";

/** Options for {@linkcode deliverWebhook}. */
export interface DeliverOptions {
  /** Path and query to request at the target, starting with `/`. */
  target: string;
  /** The sender's IP address, appended to `X-Forwarded-For`. */
  remoteIp: string;
  /** `http` or `https`: how the request reached us, for `X-Forwarded-Proto`. */
  proto: string;
  /** Largest request body accepted, in bytes. */
  maxBodySize: number;
  /** How long to wait for the response head, in ms. */
  requestTimeout: number;
  /** `Retry-After` seconds for a 503 (the client is shutting down or reconnecting). */
  retryAfterSeconds: number;
  /** The request was relayed by a replica: its `X-Forwarded-*` are final, keep them as sent. */
  trustForwarded?: boolean;
  /** When the request arrived (`performance.now()`), for `addedSeconds`. @default now */
  arrivedAt?: number;
  /**
   * Called with a small body (≤ 64 KiB with a `Content-Length`, read whole before it is sent)
   * before it is sent; larger bodies stream and are never shown. @default none
   */
  onWholeBody?: (bytes: Uint8Array) => void;
  /**
   * The webhook may be queued if the client reports its app unreachable: the body bytes sent are
   * kept (at most one credit window, as a client without an app grants no more) so that
   * {@linkcode DeliverResult.unreachable} can give the whole body back. @default false
   */
  keepForQueue?: boolean;
}

/** What {@linkcode deliverWebhook} returns. */
export interface DeliverResult {
  /** The answer for the sender. */
  response: Reply;
  /** Byte counts for the log. */
  outcome: DeliveryOutcome;
  /**
   * Set instead of a 502 when `keepForQueue` was set and the client could not reach its app:
   * the whole request body (the bytes already sent, then the rest), to be queued.
   */
  unreachable?: ReadableStream<Uint8Array>;
}

/** Body bytes kept for a possible queueing: the credit window plus one read ahead. */
const KEEP_LIMIT = STREAM_WINDOW + MAX_CHUNK_SIZE;

/** The body bytes read from the sender so far, while they fit {@linkcode KEEP_LIMIT}. */
interface KeptBody {
  chunks: Uint8Array[];
  bytes: number;
  overflow: boolean;
}

/** What happened to a delivery, for the log line. */
export interface DeliveryOutcome {
  /** The status sent to the sender. */
  status: number;
  /** Resolves with the request body bytes forwarded once the upload ended. */
  requestBytes: Promise<number>;
  /** Resolves with the response body bytes once the response body is complete (or failed). */
  responseBytes: Promise<number>;
  /**
   * The server's own share of the wait when the client answered, in seconds: from arrival until
   * the request head was queued on the tunnel, plus from the client's response head arriving
   * until the response was ready to send (`wow_tunnel_added_seconds`). Absent when it did not.
   */
  addedSeconds?: number;
}

/** Request bodies up to this size are read whole before sending (one DATA frame). */
const SMALL_BODY = MAX_CHUNK_SIZE;

/**
 * Reads the request body chunk by chunk into one reused buffer (each chunk is handed to the
 * session, which copies it, before the next is read); stops (without waiting for a read in progress) once
 * `signal` aborts: the stream is over, and the server closes or drains the connection after the
 * answer.
 */
async function* readChunks(
  body: BodyReader,
  signal: AbortSignal,
  keep?: KeptBody,
): AsyncGenerator<Uint8Array> {
  let stop: (() => void) | undefined;
  const stopped = new Promise<null>((resolve) => (stop = () => resolve(null)));
  signal.addEventListener("abort", stop!, { once: true });
  // One buffer for the whole body: the session copies each chunk before asking for the next
  // (kept chunks, for a possible queueing, must be fresh).
  const scratch = keep ? undefined : new Uint8Array(MAX_CHUNK_SIZE);
  try {
    while (!signal.aborted) {
      const chunk = await Promise.race([body.read(scratch), stopped]);
      if (chunk === null) return;
      if (chunk.length === 0) continue;
      if (keep) keepChunk(keep, chunk);
      yield chunk;
    }
  } finally {
    signal.removeEventListener("abort", stop!);
    // Kept for queueing: the rest of the body stays readable for the store.
    if (!body.done && !keep) body.cancel();
  }
}

function keepChunk(keep: KeptBody, chunk: Uint8Array): void {
  if (keep.overflow) return;
  keep.bytes += chunk.length;
  if (keep.bytes > KEEP_LIMIT) {
    keep.overflow = true;
    keep.chunks = [];
  } else keep.chunks.push(chunk);
}

/** The kept bytes followed by whatever of `rest` is still unread. */
function keptThenRest(keep: KeptBody, rest: BodyReader | null): ReadableStream<Uint8Array> {
  const chunks = keep.chunks;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = chunks.shift() ?? (rest && !rest.done ? await rest.read() : null);
      if (next) controller.enqueue(next);
      else controller.close();
    },
    cancel: () => rest?.cancel(),
  });
}

/**
 * Reads a small request body whole, within `timeout` ms (at once when it came with the head).
 * @returns The bytes, or why not (for a 408 answer).
 */
async function readSmallBody(
  body: BodyReader,
  length: number,
  timeout: number,
): Promise<Uint8Array | string> {
  // Mostly the body came with the head and is whole already: no timer, no await.
  const whole = body.takeBuffered();
  if (whole) return whole;
  let timer: ReturnType<typeof setTimeout> | undefined;
  // Read into one array of the declared length: no chunk arrays, no concatenation.
  const reading = (async () => {
    const out = new Uint8Array(length);
    let filled = 0;
    for (let chunk = await body.read(out); chunk; chunk = await body.read(out.subarray(filled))) {
      // A reader that does not fill `into` hands its own chunk: copy it in place.
      if (chunk.buffer !== out.buffer || chunk.byteOffset !== out.byteOffset + filled) {
        out.set(chunk.subarray(0, length - filled), filled);
      }
      filled += chunk.length;
      if (filled >= length) break;
    }
    return filled === length ? out : out.subarray(0, filled);
  })();
  try {
    const expired = new Promise<string>((resolve) => {
      timer = setTimeout(
        () =>
          resolve(
            `The request body did not arrive within the server's request timeout of ${timeout} ms`,
          ),
        timeout,
      );
    });
    return await Promise.race([
      reading.catch(() => "The request body could not be read: the sender went away"),
      expired,
    ]);
  } finally {
    clearTimeout(timer);
    reading.catch(() => {});
  }
}

/**
 * Sends `request` through `session` and waits for the answer.
 *
 * @param request The sender's request.
 * @param session The channel's tunnel session.
 * @param options Target path, limits and forwarding info.
 * @returns The response for the sender and byte counts for the log.
 */
export async function deliverWebhook(
  request: ServerRequest,
  session: TunnelSession,
  options: DeliverOptions,
): Promise<DeliverResult> {
  const arrivedAt = options.arrivedAt ?? performance.now();
  const declared = request.bodyLength;
  if (declared > options.maxBodySize) return fail(413, bodyTooLarge(options.maxBodySize, declared));
  const headBytes = encodeRequestHead({
    method: request.method,
    target: options.target,
    headers: forwardedHeaders(request, options),
  });
  if (headBytes.length > MAX_HEAD_SIZE) {
    // Checked before a stream exists (sendHead would refuse it anyway): a RESET for a stream the
    // peer never saw would break the protocol and drop the whole tunnel.
    return fail(431, `The request head is too large to tunnel (limit ${MAX_HEAD_SIZE} bytes)`);
  }
  // Small bodies with a declared length: read them whole before the stream opens, then send HEAD,
  // DATA and END in one message, skipping the per-chunk ReadableStream reader work; the client
  // then sees the request once it is complete, so its transfer timeout never counts the upload.
  const small = declared > 0 && declared <= SMALL_BODY;
  let smallBody: Uint8Array | undefined;
  if (small) {
    const read = await readSmallBody(request.body!, declared, options.requestTimeout);
    if (typeof read === "string") return fail(408, read);
    smallBody = read;
  }
  let stream: TunnelStream;
  try {
    stream = session.openStream();
  } catch {
    // The tunnel is closing or renewing its stream ids: the client is about to be back.
    return fail(503, "The tunnel to the client is reconnecting; retry shortly", undefined, {
      "retry-after": String(options.retryAfterSeconds),
    });
  }
  stream.sendHead(headBytes);
  const headSentAt = performance.now();

  // Every way the exchange can fail before the response head ends in a reset of the stream, which
  // rejects `stream.head`: the client's RESET, the tunnel closing, the body limit (sendBody resets),
  // the sender's body failing or the sender going away (reset below), and the server's own timeout
  // (reset by the timer, told apart by `timedOut`). So one await on `stream.head` covers them all,
  // without a race, a timeout promise or a pre-built error per request.
  let requestBytes = 0;
  let uploading = true;
  // Aborted when the stream is over before the upload (timeout, RESET, early answer), so a read
  // waiting on the sender ends too; the delivery holds its in-flight slot until the upload stops.
  const uploadOver = small || !request.body ? undefined : new AbortController();
  const keep: KeptBody | undefined = options.keepForQueue
    ? { chunks: [], bytes: 0, overflow: false }
    : undefined;
  if (smallBody) {
    options.onWholeBody?.(smallBody);
    if (keep) keepChunk(keep, smallBody);
  }
  const sending = smallBody
    ? stream.sendBody([smallBody], { maxBytes: options.maxBodySize })
    : stream.sendBody(request.body && readChunks(request.body, uploadOver!.signal, keep), {
      maxBytes: options.maxBodySize,
    });
  const requestBytesDone = sending.then(
    (bytes) => {
      uploading = false;
      requestBytes = bytes;
      return bytes;
    },
    () => {
      uploading = false;
      // Reading the sender's body failed (it went away), not the client's fault; a no-op when the
      // stream was already reset (body too large, the client's RESET, the timeout).
      stream.reset("cancelled", "The sender's request body failed");
      return requestBytes;
    },
  );
  const stopWatchingSender = request.onAbort(() =>
    stream.reset("cancelled", "The sender went away")
  );

  let timedOut = false;
  stream.setDeadline(options.requestTimeout, () => {
    timedOut = true;
    stream.reset("cancelled", "The server's request timeout expired");
  });
  try {
    const answer = await stream.head;
    const answeredAt = performance.now();
    const head = decodeResponseHead(answer);
    const hasBody = responseHasBody(request.method, head.status);
    const buffered = hasBody ? stream.takeBufferedBody() : undefined;
    const response = new Reply(
      head.status,
      // The client strips hop-by-hop headers already; a rogue or older one may not, and
      // `connection`/`upgrade` from it must not steer the sender's connection (issue #13.15).
      endToEndHeaders(head.headers),
      hasBody ? buffered ?? stream.body : null,
    );
    const responseBytes = stream.remoteEnded.then(
      () => stream.bytesReceived,
      () => stream.bytesReceived,
    ).finally(() => {
      stopWatchingSender();
      // The app answered without reading the whole body: stop uploading, free the stream.
      if (uploading) {
        stream.reset("cancelled", "The local app answered before reading the body");
        uploadOver?.abort();
      }
    });
    const addedSeconds = (headSentAt - arrivedAt + performance.now() - answeredAt) / 1000;
    return {
      response,
      outcome: { status: head.status, requestBytes: requestBytesDone, responseBytes, addedSeconds },
    };
  } catch (error) {
    stopWatchingSender();
    // The stream is reset by now: the upload stops at its next step; `requestBytesDone` settles
    // when it has.
    if (!(error instanceof StreamResetError)) stream.reset("cancelled", "Invalid response head");
    if (
      keep && error instanceof StreamResetError && error.code === "target_unreachable" && !timedOut
    ) {
      // The upload stops at its next step without cancelling the sender's body.
      await requestBytesDone;
      if (!keep.overflow && !request.aborted) {
        return {
          ...fail(502, RESETS.target_unreachable.message, requestBytesDone),
          unreachable: keptThenRest(keep, small ? null : request.body),
        };
      }
    }
    uploadOver?.abort();
    if (timedOut) {
      return fail(
        504,
        `The local app did not answer within the server's request timeout of ${options.requestTimeout} ms`,
        requestBytesDone,
      );
    }
    if (error instanceof StreamResetError) {
      if (error.code === "body_too_large") {
        return fail(
          413,
          bodyTooLarge(options.maxBodySize),
          requestBytesDone.then(() => 0),
        );
      }
      const { status, message } = RESETS[error.code];
      return fail(
        status,
        message,
        requestBytesDone,
        status === 503 ? { "retry-after": String(options.retryAfterSeconds) } : undefined,
      );
    }
    return fail(502, "The client sent an invalid response", requestBytesDone);
  } finally {
    stream.clearDeadline();
  }
}

/**
 * A delivery that ends in an error answer.
 * @param requestBytes Settles once the upload stopped, with the bytes sent (none before a stream
 * exists).
 */
function fail(
  status: number,
  message: string,
  requestBytes: Promise<number> = Promise.resolve(0),
  headers?: Record<string, string>,
): { response: Reply; outcome: DeliveryOutcome } {
  return {
    response: errorReply(status, message, headers),
    outcome: { status, requestBytes, responseBytes: Promise.resolve(0) },
  };
}

/** Headers replicas use among themselves; never passed on to the local app. */
const REPLICA_HEADERS = new Set([FORWARDED_HEADER, CLUSTER_AUTH_HEADER]);

/**
 * The headers the local app should see: the sender's end-to-end headers without `Host` and the
 * replica marks, plus `X-Forwarded-For` (the sender's address appended), and
 * `X-Forwarded-Proto`/`-Host` unless an upstream proxy (Traefik) already set them. A request
 * relayed by a replica already carries the final `X-Forwarded-*` and keeps them.
 *
 * @param request The sender's (or relaying replica's) request.
 * @param options Sender address, scheme, and whether the request was relayed.
 * @returns The header list.
 */
export function forwardedHeaders(
  request: Pick<ServerRequest, "headerList">,
  options: { remoteIp: string; proto: string; trustForwarded?: boolean },
): HeaderList {
  // One pass over the sender's headers: each `get`/`has` on a `Headers` walks all of them again,
  // and this runs for every webhook. The result equals filtering `endToEndHeaders(headers)`.
  const trust = options.trustForwarded === true;
  let list: HeaderList = [];
  let host: string | undefined;
  let forwardedFor: string | undefined;
  let hasProto = false;
  let hasHost = false;
  let hasLength = false;
  let connection: string | undefined;
  for (const [name, value] of request.headerList) {
    switch (name) {
      case "host":
        host = value;
        continue;
      case "connection":
        connection = connection === undefined ? value : `${connection}, ${value}`;
        continue;
      case "x-forwarded-for":
        forwardedFor = forwardedFor === undefined ? value : `${forwardedFor}, ${value}`;
        if (!trust) continue; // re-added below with the sender's address
        break;
      case "content-length":
        // Identical repeats (`Content-Length: 5` twice, or "5, 5") are one length (differing
        // ones were refused with 400); the app must get the one value, once (issue #13.8).
        if (!hasLength) list.push([name, singleContentLength(value)]);
        hasLength = true;
        continue;
      case "x-forwarded-proto":
        hasProto = true;
        break;
      case "x-forwarded-host":
        hasHost = true;
        break;
    }
    if (!HOP_BY_HOP_HEADERS.has(name) && !REPLICA_HEADERS.has(name)) list.push([name, value]);
  }
  if (connection !== undefined) {
    // Headers the sender's `Connection` names are hop-by-hop too (RFC 9110 §7.6.1).
    const named = new Set(connection.split(",").map((token) => token.trim().toLowerCase()));
    list = list.filter(([name]) => !named.has(name));
  }
  if (trust) return list;
  list.push([
    "x-forwarded-for",
    forwardedFor ? `${forwardedFor}, ${options.remoteIp}` : options.remoteIp,
  ]);
  if (!hasProto) list.push(["x-forwarded-proto", options.proto]);
  if (host && !hasHost) list.push(["x-forwarded-host", host]);
  return list;
}

/**
 * The 413 message for a body over `limit` bytes (`declared` when its length was announced).
 * @param limit `--max-body-size`.
 * @param declared The declared length, when there is one.
 * @returns The message.
 */
export function bodyTooLarge(limit: number, declared?: number): string {
  return declared === undefined
    ? `The request body exceeds the limit of ${limit} bytes`
    : `The request body of ${declared} bytes exceeds the limit of ${limit} bytes`;
}

/**
 * One `Content-Length` from a field listing identical values (`5, 5` on one line, or repeats a
 * `Request`'s `Headers` joined; differing ones were refused with 400), so the first is the value.
 */
function singleContentLength(value: string): string {
  const comma = value.indexOf(",");
  return comma < 0 ? value : value.slice(0, comma).trim();
}
