/**
 * Replays one tunnelled request against the local app with `node:http`, which sends exactly the
 * headers it is given (no added `Accept-Encoding`) and never decompresses the answer, unlike
 * `fetch`. The app's status, headers and body go back through the stream unchanged.
 *
 * @module
 */
import http from "node:http";
import https from "node:https";
import {
  decodeRequestHead,
  encodeResponseHead,
  endToEndHeaders,
  type HeaderList,
  rawHeaderPairs,
  type RequestHead,
  type ResetCode,
  StreamResetError,
  type TunnelStream,
} from "../protocol/mod.ts";

/** Options for {@linkcode forwardStream}. */
export interface ForwardOptions {
  /** The local app's base URL. */
  target: URL;
  /** Keep-alive agent for the target's scheme. */
  agent: http.Agent;
  /** Abort when the response head takes longer than this many ms; 0 disables. */
  timeout: number;
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
 * @param options Target, agent and timeout.
 * @returns What happened (never rejects).
 */
export async function forwardStream(
  stream: TunnelStream,
  options: ForwardOptions,
): Promise<ForwardResult> {
  let head: RequestHead;
  try {
    head = decodeRequestHead(await stream.head);
  } catch (error) {
    if (!(error instanceof StreamResetError)) stream.reset("target_error", String(error));
    throw error;
  }
  const result: ForwardResult = { head, status: "cancelled", requestBytes: 0, responseBytes: 0 };
  const { target } = options;
  const headers: HeaderList = head.headers.filter(([name]) => name !== "host");
  headers.push(["host", target.host]);
  const request = (target.protocol === "https:" ? https : http).request({
    protocol: target.protocol,
    hostname: target.hostname.replace(/^\[(.*)\]$/, "$1"),
    port: target.port || (target.protocol === "https:" ? 443 : 80),
    method: head.method,
    path: localPath(target, head.target),
    headers: headers as unknown as http.OutgoingHttpHeaders,
    agent: options.agent,
    setHost: false,
  });
  stream.onReset(() => request.destroy());

  let timer: ReturnType<typeof setTimeout> | undefined;
  const response = new Promise<http.IncomingMessage>((resolve, reject) => {
    request.once("response", resolve);
    request.once("error", reject);
    if (options.timeout > 0) {
      timer = setTimeout(() => {
        reject(new StreamResetError("target_timeout", "timeout"));
        request.destroy();
      }, options.timeout);
    }
  });
  response.catch(() => {});
  // A small body already complete in the tunnel goes out in the same write as the head.
  const buffered = stream.takeBufferedBody();
  const upload = buffered
    ? Promise.resolve(request.end(buffered)).then(() => (result.requestBytes = buffered.length))
    : writeBody(stream, request).then((bytes) => (result.requestBytes = bytes));
  let uploading = true;
  upload.catch(() => request.destroy()).finally(() => (uploading = false));

  let answer: http.IncomingMessage;
  try {
    answer = await response;
  } catch (error) {
    const code: ResetCode = error instanceof StreamResetError
      ? error.code
      : isConnectError(error)
      ? "target_unreachable"
      : "target_error";
    if (!stream.failure) stream.reset(code, describe(error, options));
    result.status = stream.failure?.code ?? code;
    return result;
  } finally {
    clearTimeout(timer);
  }
  result.status = answer.statusCode ?? 502;
  stream.sendHead(encodeResponseHead({
    status: result.status,
    headers: endToEndHeaders(rawHeaderPairs(answer.rawHeaders)),
  }));
  try {
    result.responseBytes = await stream.sendBody(answer);
  } catch (error) {
    if (!stream.failure) stream.reset("target_error", describe(error, options));
    answer.destroy();
  }
  // The app answered without reading the whole request body: stop the upload (the server stops
  // sending and frees the stream) instead of leaving it waiting for credit forever.
  if (uploading) {
    stream.body.cancel().catch(() => {});
    request.destroy();
  }
  return result;
}

async function writeBody(stream: TunnelStream, request: http.ClientRequest): Promise<number> {
  let bytes = 0;
  for await (const chunk of stream.body) {
    bytes += chunk.length;
    if (!request.write(chunk)) await drainedOrClosed(request);
  }
  request.end();
  return bytes;
}

/** Resolves on `drain`, or on `close` (a destroyed request never drains). */
function drainedOrClosed(request: http.ClientRequest): Promise<void> {
  if (request.destroyed) return Promise.reject(new Error("The request to the local app closed"));
  return new Promise((resolve, reject) => {
    const done = () => {
      request.off("drain", done);
      request.off("close", closed);
      resolve();
    };
    const closed = () => {
      request.off("drain", done);
      reject(new Error("The request to the local app closed"));
    };
    request.once("drain", done);
    request.once("close", closed);
  });
}

function isConnectError(error: unknown): boolean {
  const code = (error as { code?: string })?.code;
  return code === "ECONNREFUSED" || code === "ENOTFOUND" || code === "EHOSTUNREACH" ||
    code === "EAI_AGAIN";
}

function describe(error: unknown, options: ForwardOptions): string {
  if (error instanceof StreamResetError && error.code === "target_timeout") {
    return `The local app at ${options.target.origin} did not answer within ${options.timeout} ms`;
  }
  const message = error instanceof Error ? error.message : String(error);
  return `Cannot reach the local app at ${options.target.origin}: ${message}`;
}
