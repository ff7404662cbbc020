/**
 * Relays a webhook to the replica that holds the channel's client (one internal hop, streamed
 * both ways) with the byte-exact HTTP/1.1 client: nothing is added (no `Accept-Encoding`),
 * nothing decompressed, and a request is never re-sent after its bytes may have been read
 * (`fetch` and `node:http` re-send a POST when a reused connection dies after sending it).
 *
 * @module
 */
import { endToEndHeaders, type HeaderList, responseHasBody } from "../protocol/mod.ts";
import {
  type BodyReader,
  Http1Abort,
  type Http1Client,
  Http1Error,
  Reply,
  type ServerRequest,
} from "../http1/mod.ts";
import { errorReply } from "./_http.ts";

/** Options for {@linkcode relayWebhook}. */
export interface RelayOptions {
  /** Headers to send: the sender's end-to-end headers, `X-Forwarded-*` and the replica marks. */
  headers: HeaderList;
  /** Keep-alive connection pool to the replicas. */
  http: Http1Client;
  /** Give up when the owner's response head takes longer, ms. */
  timeout: number;
  /** Called when the owner could not be reached or did not answer in time (the 502/504). */
  onFailure?: () => void;
}

/**
 * Sends `request` to `ownerUrl` (same path and query) and streams the answer back.
 * @param request The sender's request.
 * @param ownerUrl The owning replica's HTTP URL.
 * @param options Headers, connection pool, timeout.
 * @returns The owner's response, or a 502/504 JSON error when it cannot be reached.
 */
export async function relayWebhook(
  request: ServerRequest,
  ownerUrl: string,
  options: RelayOptions,
): Promise<Reply> {
  const source = new URL(request.url);
  const owner = new URL(ownerUrl);
  const abort = new Http1Abort();
  const stopWatching = request.onAbort(() =>
    abort.abort(new DOMException("The sender went away", "AbortError"))
  );
  const timer = setTimeout(
    () => abort.abort(new DOMException("timeout", "TimeoutError")),
    options.timeout,
  );
  try {
    const answer = await options.http.request(owner, {
      method: request.method,
      path: source.pathname + source.search,
      headers: [...options.headers, ["host", owner.host]],
      body: request.body && (request.body.takeBuffered() ?? chunksOf(request.body)),
      abort,
    });
    clearTimeout(timer);
    const headers = endToEndHeaders(answer.headers);
    if (!responseHasBody(request.method, answer.status)) {
      answer.body.cancel();
      return new Reply(answer.status, headers);
    }
    return new Reply(answer.status, headers, answer.body.takeBuffered() ?? answer.body);
  } catch (error) {
    options.onFailure?.();
    const timedOut = error instanceof Http1Error && error.code === "timeout" ||
      (error as Error)?.name === "TimeoutError";
    return timedOut
      ? errorReply(
        504,
        `The replica holding this channel (${owner.origin}) did not answer in time`,
      )
      : errorReply(
        502,
        `The replica holding this channel (${owner.origin}) is unreachable: ${
          (error as Error).message
        }`,
      );
  } finally {
    clearTimeout(timer);
    stopWatching();
  }
}

/** A request body's chunks, as the HTTP/1.1 client streams them. */
async function* chunksOf(body: BodyReader): AsyncGenerator<Uint8Array> {
  for (let chunk = await body.read(); chunk; chunk = await body.read()) yield chunk;
}
