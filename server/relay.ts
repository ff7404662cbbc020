/**
 * Relays a webhook to the replica that holds the channel's client (one internal hop, streamed
 * both ways). Uses `node:http`, which neither adds `Accept-Encoding` nor decompresses, so the
 * bytes stay exactly as the sender and the app produced them.
 *
 * @module
 */
import http from "node:http";
import { once } from "node:events";
import { Readable } from "node:stream";
import {
  endToEndHeaders,
  type HeaderList,
  rawHeaderPairs,
  responseHasBody,
} from "../protocol/mod.ts";
import { errorResponse } from "./_http.ts";

/** Options for {@linkcode relayWebhook}. */
export interface RelayOptions {
  /** Headers to send: the sender's end-to-end headers, `X-Forwarded-*` and the replica marks. */
  headers: HeaderList;
  /** Keep-alive agent for replica connections. */
  agent: http.Agent;
  /** Give up when the owner's response head takes longer, ms. */
  timeout: number;
}

/**
 * Sends `request` to `ownerUrl` (same path and query) and streams the answer back.
 * @param request The sender's request.
 * @param ownerUrl The owning replica's HTTP URL.
 * @param options Headers, agent, timeout.
 * @returns The owner's response, or a 502/504 JSON error when it cannot be reached.
 */
export async function relayWebhook(
  request: Request,
  ownerUrl: string,
  options: RelayOptions,
): Promise<Response> {
  const source = new URL(request.url);
  const owner = new URL(ownerUrl);
  const outgoing = http.request({
    hostname: owner.hostname.replace(/^\[(.*)\]$/, "$1"),
    port: owner.port || 80,
    method: request.method,
    path: source.pathname + source.search,
    headers: [...options.headers, ["host", owner.host]] as unknown as http.OutgoingHttpHeaders,
    agent: options.agent,
    setHost: false,
  });
  const onAbort = () => outgoing.destroy();
  request.signal.addEventListener("abort", onAbort, { once: true });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const answer = new Promise<http.IncomingMessage>((resolve, reject) => {
    outgoing.once("response", resolve);
    outgoing.once("error", reject);
    timer = setTimeout(() => {
      reject(new Error("timeout"));
      outgoing.destroy();
    }, options.timeout);
  });
  answer.catch(() => {});
  pump(request.body, outgoing).catch(() => outgoing.destroy());
  try {
    const response = await answer;
    const status = response.statusCode ?? 502;
    const headers = new Headers();
    for (const [name, value] of endToEndHeaders(rawHeaderPairs(response.rawHeaders))) {
      headers.append(name, value);
    }
    const hasBody = responseHasBody(request.method, status);
    if (!hasBody) response.resume();
    const body = hasBody ? Readable.toWeb(response) as unknown as ReadableStream<Uint8Array> : null;
    return new Response(body, { status, headers });
  } catch (error) {
    const message = (error as Error).message;
    return message === "timeout"
      ? errorResponse(
        504,
        `The replica holding this channel (${owner.origin}) did not answer in time`,
      )
      : errorResponse(
        502,
        `The replica holding this channel (${owner.origin}) is unreachable: ${message}`,
      );
  } finally {
    clearTimeout(timer);
  }
}

async function pump(body: ReadableStream<Uint8Array> | null, outgoing: http.ClientRequest) {
  if (body) {
    for await (const chunk of body) {
      if (!outgoing.write(chunk)) await once(outgoing, "drain");
    }
  }
  outgoing.end();
}
