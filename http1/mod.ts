/**
 * The one HTTP/1.1 implementation the program speaks by hand: the server itself, the client's
 * replay against the local app, the relay between replicas, WebSockets on both sides and the
 * client's `GET /new`.
 *
 * - {@linkcode serveHttp1}: the server (strict request heads, bodies pulled by the handler,
 *   keep-alive, `100 Continue`, head and idle timeouts, WebSocket upgrades); handlers get a
 *   {@linkcode ServerRequest} and answer a {@linkcode Reply} (or a `Response`).
 * - {@linkcode WebSocketConnection}: RFC 6455 framing, pings and the close handshake, for the
 *   client and (unmasked) for the server.
 *
 * - {@linkcode Http1Client}: a per-origin keep-alive pool over `Deno.connect` (TCP_NODELAY) and
 *   TLS, requests written exactly as given (headers in order, repeats kept, nothing added but
 *   `Host` when absent and the body's framing), responses parsed strictly (RFC 9112) with raw
 *   header pairs and the body passed through undecoded.
 * - {@linkcode readResponse}: the same parser and body framing on a connection outside the pool.
 * - {@linkcode fetchJson}: one `GET` read whole, with the WebSocket's TLS options.
 * - {@linkcode dial}: TCP + TLS with `caCerts` or `insecure`, shared by all of the above.
 *
 * Why not `node:http`: its polyfill was the client's largest CPU cost (writev, op_write, GC); and
 * not `fetch`: it adds `Accept-Encoding` and decompresses.
 *
 * Reuse rules: idle connections are reused newest first and closed after
 * {@linkcode Http1ClientOptions.idleTimeout}; a connection is never reused after an error, an
 * unfinished body or `Connection: close`. An idle connection keeps a read pending, so a server's
 * close is noticed while it sits in the pool. A request is retried once on a fresh connection
 * only when writing it to a reused connection failed, so the server cannot have seen it whole,
 * and only when its body was given whole; a connection closing after the request was written is
 * an error, never a retry (unlike `fetch` and `node:http`, which re-send the POST: a duplicate
 * delivery when the app had acted on it).
 *
 * @example
 * ```ts
 * import { Http1Client } from "./mod.ts";
 * async function post(client: Http1Client): Promise<number> {
 *   const res = await client.request(new URL("http://localhost:3000"), {
 *     method: "POST",
 *     path: "/hook",
 *     headers: [["content-type", "application/json"]],
 *     body: new TextEncoder().encode("{}"),
 *   });
 *   let length = 0;
 *   for await (const chunk of res.body) length += chunk.length;
 *   return length;
 * }
 * const client = new Http1Client();
 * console.log(typeof post);
 * await client.close();
 * ```
 *
 * @module
 */
export { concat } from "./_bytes.ts";
export { Http1Abort } from "./abort.ts";
export { Http1Body } from "./body.ts";
export type { ByteConn } from "./byte_conn.ts";
export { connectTlsInsecure, NodeSocketConn } from "./byte_conn.ts";
export type { ConnectTlsInsecureOptions } from "./byte_conn.ts";
export { Http1Client } from "./client.ts";
export type { Http1ClientOptions } from "./client.ts";
export { dial, dialTarget } from "./dial.ts";
export type { DialOptions, DialTarget } from "./dial.ts";
export { Http1Error } from "./errors.ts";
export type { Http1ErrorCode } from "./errors.ts";
export { fetchJson } from "./fetch_json.ts";
export type { FetchJsonOptions, FetchJsonResult } from "./fetch_json.ts";
export { headerValue, MAX_HEAD_BYTES } from "./head.ts";
export { readResponse } from "./read_response.ts";
export type { RawResponse, ReadResponseOptions } from "./read_response.ts";
export type { Http1RequestInit, Http1Response } from "./types.ts";
export { Reply, replyHead } from "./reply.ts";
export type { ReplyBody, ReplyFraming, ReplyHead, ReplyHeadContext } from "./reply.ts";
export { parseRequestHead, RequestHeadError } from "./request_head.ts";
export type { RequestHead } from "./request_head.ts";
export { serveHttp1 } from "./server.ts";
export type {
  Http1Server,
  RefusedConnection,
  ServeHttp1Options,
  ServerAnswer,
  ServerHandler,
} from "./server.ts";
export { ServerRequest } from "./server_request.ts";
export type { BodyReader, ServerRequestInit, UpgradeOptions, Upgrader } from "./server_request.ts";
export { Connection as WebSocketConnection } from "./ws/connection.ts";
export type {
  ConnectionOptions as WebSocketOptions,
  WsClient,
  WsCloseInfo,
} from "./ws/connection.ts";
export { CloseCode, KEY_BYTES, websocketAccept } from "./ws/framing.ts";
