/**
 * Delivers one webhook request through a channel's tunnel and turns the client's answer (or the
 * reason there is none) into the sender's response.
 *
 * @module
 */
import {
  decodeResponseHead,
  encodeRequestHead,
  endToEndHeaders,
  type HeaderList,
  MAX_CHUNK_SIZE,
  MAX_HEAD_SIZE,
  type ResetCode,
  responseHasBody,
  StreamResetError,
  type TunnelSession,
  type TunnelStream,
} from "../protocol/mod.ts";
import { errorResponse } from "./_http.ts";

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
  /** The request was relayed by a replica: its `X-Forwarded-*` are final, keep them as sent. */
  trustForwarded?: boolean;
}

/** What happened to a delivery, for the log line. */
export interface DeliveryOutcome {
  /** The status sent to the sender. */
  status: number;
  /** Resolves with the request body bytes forwarded once the upload ended. */
  requestBytes: Promise<number>;
  /** Resolves with the response body bytes once the response body is complete (or failed). */
  responseBytes: Promise<number>;
}

/** HTTP status for a stream that failed before the response head arrived. */
const STATUS_FOR_RESET: Record<ResetCode, number> = {
  target_unreachable: 502,
  target_timeout: 504,
  target_error: 502,
  cancelled: 502,
  body_too_large: 413,
  tunnel_closed: 502,
  shutting_down: 503,
};

const MESSAGE_FOR_RESET: Record<ResetCode, string> = {
  target_unreachable: "The client could not reach its local app",
  target_timeout: "The local app did not answer within the client's transfer timeout",
  target_error: "The connection to the local app failed",
  cancelled: "The request was cancelled",
  body_too_large: "The request body is too large",
  tunnel_closed: "The client disconnected before answering",
  shutting_down: "The client is shutting down; retry later",
};

/** Request bodies up to this size are read whole before sending (one DATA frame). */
const SMALL_BODY = MAX_CHUNK_SIZE;

/**
 * Sends `request` through `session` and waits for the answer.
 *
 * @param request The sender's request.
 * @param session The channel's tunnel session.
 * @param options Target path, limits and forwarding info.
 * @returns The response for the sender and byte counts for the log.
 */
export async function deliverWebhook(
  request: Request,
  session: TunnelSession,
  options: DeliverOptions,
): Promise<{ response: Response; outcome: DeliveryOutcome }> {
  const declared = Number(request.headers.get("content-length") ?? 0);
  if (declared > options.maxBodySize) {
    return fail(
      413,
      `The request body of ${declared} bytes exceeds the limit of ${options.maxBodySize} bytes`,
    );
  }
  let stream: TunnelStream;
  try {
    stream = session.openStream();
  } catch {
    return fail(502, MESSAGE_FOR_RESET.tunnel_closed);
  }
  const headBytes = encodeRequestHead({
    method: request.method,
    target: options.target,
    headers: forwardedHeaders(request, options),
  });
  if (headBytes.length > MAX_HEAD_SIZE) {
    // The peer would reject it as a protocol error and drop the whole tunnel.
    stream.reset("cancelled", "Request head too large");
    return fail(431, `The request head is too large to tunnel (limit ${MAX_HEAD_SIZE} bytes)`);
  }
  stream.sendHead(headBytes);

  let requestBytes = 0;
  // Small bodies with a declared length: read them whole and send HEAD, DATA and END in one
  // message, skipping the per-chunk ReadableStream reader work.
  const small = request.body && declared > 0 && declared <= SMALL_BODY &&
    request.headers.get("content-length") !== null;
  const source = small ? request.bytes().then((b) => [b]) : Promise.resolve(request.body);
  let uploading = true;
  const upload = source.then((body) => stream.sendBody(body, { maxBytes: options.maxBodySize }))
    .then(
      (bytes) => {
        requestBytes = bytes;
      },
      (error) => {
        // Reading the sender's body failed (it went away): not the client's fault.
        throw error instanceof StreamResetError
          ? error
          : new StreamResetError("cancelled", "The sender's request body failed", { cause: error });
      },
    ).finally(() => (uploading = false));
  upload.catch(() => {});
  const requestBytesDone = upload.then(() => requestBytes, () => requestBytes);
  const abortOnSenderGone = () => stream.reset("cancelled", "The sender went away");
  request.signal.addEventListener("abort", abortOnSenderGone, { once: true });

  let timer: ReturnType<typeof setTimeout> | undefined;
  const serverTimeout = new StreamResetError("target_timeout", "The server's request timeout");
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(serverTimeout), options.requestTimeout);
  });
  try {
    const head = decodeResponseHead(
      await Promise.race([stream.head, timeout, upload.then(() => stream.head)]),
    );
    const hasBody = responseHasBody(request.method, head.status);
    const buffered = hasBody ? stream.takeBufferedBody() : undefined;
    const response = new Response(
      hasBody ? (buffered as Uint8Array<ArrayBuffer> ?? stream.body) : null,
      {
        status: head.status,
        headers: toHeaders(head.headers),
      },
    );
    const responseBytes = stream.remoteEnded.then(
      () => stream.bytesReceived,
      () => stream.bytesReceived,
    ).finally(() => {
      request.signal.removeEventListener("abort", abortOnSenderGone);
      // The app answered without reading the whole body: stop uploading, free the stream.
      if (uploading) stream.reset("cancelled", "The local app answered before reading the body");
    });
    return {
      response,
      outcome: { status: head.status, requestBytes: requestBytesDone, responseBytes },
    };
  } catch (error) {
    request.signal.removeEventListener("abort", abortOnSenderGone);
    if (error instanceof StreamResetError) {
      if (error === serverTimeout) {
        stream.reset("cancelled", "The server's request timeout expired");
        return fail(
          504,
          `The local app did not answer within the server's request timeout of ${options.requestTimeout} ms`,
          requestBytes,
        );
      }
      if (error.code === "body_too_large") {
        return fail(413, `The request body exceeds the limit of ${options.maxBodySize} bytes`);
      }
      return fail(STATUS_FOR_RESET[error.code], MESSAGE_FOR_RESET[error.code], requestBytes);
    }
    stream.reset("cancelled", "Invalid response head");
    return fail(502, "The client sent an invalid response", requestBytes);
  } finally {
    clearTimeout(timer);
  }
}

function fail(
  status: number,
  message: string,
  requestBytes = 0,
): { response: Response; outcome: DeliveryOutcome } {
  return {
    response: errorResponse(status, message),
    outcome: {
      status,
      requestBytes: Promise.resolve(requestBytes),
      responseBytes: Promise.resolve(0),
    },
  };
}

/** Headers replicas use among themselves; never passed on to the local app. */
const REPLICA_HEADERS = new Set(["x-wow-forwarded", "x-wow-cluster-auth"]);

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
  request: Request,
  options: { remoteIp: string; proto: string; trustForwarded?: boolean },
): HeaderList {
  const list = endToEndHeaders(request.headers).filter(([name]) =>
    name !== "host" && !REPLICA_HEADERS.has(name)
  );
  if (options.trustForwarded) return list;
  const host = request.headers.get("host");
  const forwardedFor = request.headers.get("x-forwarded-for");
  const headers = list.filter(([name]) => name !== "x-forwarded-for");
  headers.push([
    "x-forwarded-for",
    forwardedFor ? `${forwardedFor}, ${options.remoteIp}` : options.remoteIp,
  ]);
  if (!request.headers.has("x-forwarded-proto")) headers.push(["x-forwarded-proto", options.proto]);
  if (host && !request.headers.has("x-forwarded-host")) headers.push(["x-forwarded-host", host]);
  return headers;
}

function toHeaders(list: HeaderList): Headers {
  const headers = new Headers();
  for (const [name, value] of list) headers.append(name, value);
  return headers;
}
