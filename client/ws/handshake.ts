/**
 * The client's side of the WebSocket opening handshake (RFC 6455 §4.1): the upgrade request
 * written by hand, the answer read with the program's one HTTP/1.1 parser (`http1/`, strict:
 * a malformed header line fails the handshake instead of being skipped), `Sec-WebSocket-Accept`
 * verified, and a refused upgrade's status and first 4 KiB of body kept for the error.
 *
 * @module
 */

import {
  type ByteConn,
  concat,
  dialTarget,
  headerValue,
  Http1Error,
  type Http1Response,
  KEY_BYTES,
  readResponse,
  websocketAccept,
} from "../../http1/mod.ts";

const encoder = new TextEncoder();

/** Cap on the HTTP response head; real upgrade answers are a few hundred bytes. */
const MAX_RESPONSE_HEAD_BYTES = 16 * 1024;
/** Cap on the body of a refused upgrade that we keep for the error message. */
const MAX_ERROR_BODY_BYTES = 4 * 1024;
const HTTP_SWITCHING_PROTOCOLS = 101;
/** Headers the handshake owns; `host` may be overridden, these may not. */
const RESERVED_HEADERS = new Set([
  "upgrade",
  "connection",
  "sec-websocket-key",
  "sec-websocket-version",
  "sec-websocket-extensions",
]);

const utf8Lenient = new TextDecoder();

/** Options for {@linkcode WsHandshakeError}. */
export interface WsHandshakeErrorOptions extends ErrorOptions {
  /** HTTP status of the answer; `0` if the answer's head could not be read or parsed. */
  status: number;
  /**
   * The first 4 KiB of the answer's body, decoded as UTF-8.
   * @default {""}
   */
  body?: string;
}

/**
 * The server did not accept the WebSocket upgrade: it answered with a status other than 101, sent
 * an invalid answer, or closed the connection during the handshake.
 *
 * @example
 * ```ts ignore
 * try {
 *   await connectWebSocket("ws://127.0.0.1:8080/ws/abc");
 * } catch (err) {
 *   if (err instanceof WsHandshakeError) console.error(`${err.status} ${err.body}`);
 * }
 * ```
 */
export class WsHandshakeError extends Error {
  /** HTTP status of the answer (e.g. 401); `0` if its head could not be read or parsed. */
  readonly status: number;
  /** Up to 4 KiB of the answer's body, e.g. `{"error":"unknown channel"}`. */
  readonly body: string;

  /**
   * Creates the error.
   * @param message What went wrong.
   * @param options Status, body and cause.
   */
  constructor(message: string, options: WsHandshakeErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "WsHandshakeError";
    this.status = options.status;
    this.body = options.body ?? "";
  }
}

/** Where a `ws://`/`wss://` URL points, and what the upgrade request carries. */
export interface WsTarget {
  /** Speak TLS (`wss:`/`https:`). */
  tls: boolean;
  /** Host name or IP address, IPv6 without brackets. */
  hostname: string;
  /** TCP port (80/443 when the URL has none). */
  port: number;
  /** The `Host` header's value (host and port as in the URL). */
  host: string;
  /** The request target: path and query. */
  pathAndQuery: string;
  /** The URL without query or credentials, for messages. */
  display: string;
}

/**
 * Reads a WebSocket URL; `http://`/`https://` are accepted as aliases, a fragment is ignored.
 * @param input The URL.
 * @returns Host, port, TLS and the request target.
 * @throws {TypeError} If the URL is invalid or its scheme is not one of the four.
 */
export function parseWsUrl(input: string | URL): WsTarget {
  const url = new URL(input);
  const scheme = url.protocol;
  if (scheme !== "wss:" && scheme !== "https:" && scheme !== "ws:" && scheme !== "http:") {
    throw new TypeError(`Cannot connect to "${url.href}": unsupported scheme "${scheme}"`);
  }
  const { tls, hostname, port } = dialTarget(url);
  return {
    tls,
    hostname,
    port,
    host: url.host,
    pathAndQuery: (url.pathname || "/") + url.search,
    display: `${tls ? "wss" : "ws"}://${url.host}${url.pathname}`,
  };
}

/**
 * A fresh `Sec-WebSocket-Key`: 16 random bytes, base64.
 * @returns The key.
 */
export function newKey(): string {
  return toBase64(crypto.getRandomValues(new Uint8Array(KEY_BYTES)));
}

/**
 * The upgrade request's bytes. Extra headers follow the handshake's own, in the order given.
 * @param target Where to connect.
 * @param key The `Sec-WebSocket-Key`.
 * @param init Extra headers; `Host` replaces the URL's host.
 * @returns The request head, ending with its blank line.
 * @throws {TypeError} If a header is invalid or one the handshake owns.
 */
export function buildRequest(
  target: WsTarget,
  key: string,
  init: HeadersInit | undefined,
): Uint8Array {
  const extra = new Headers(init);
  const lines = [
    `GET ${target.pathAndQuery} HTTP/1.1`,
    `Host: ${extra.get("host") ?? target.host}`,
    "Upgrade: websocket",
    "Connection: Upgrade",
    `Sec-WebSocket-Key: ${key}`,
    "Sec-WebSocket-Version: 13",
  ];
  for (const [name, value] of extra) {
    if (name === "host") continue;
    if (RESERVED_HEADERS.has(name)) {
      throw new TypeError(`Cannot set header "${name}": it belongs to the WebSocket handshake`);
    }
    lines.push(`${name}: ${value}`);
  }
  return encoder.encode(lines.join("\r\n") + "\r\n\r\n");
}

/**
 * Writes the upgrade request and reads the answer: a verified 101 gives the bytes the server
 * sent after it (the first frames); anything else throws.
 *
 * @param conn The open connection (TLS done).
 * @param target Where it goes.
 * @param request The bytes of {@linkcode buildRequest}.
 * @param key The key in `request`.
 * @returns The bytes received after the 101 head (a copy).
 * @throws {WsHandshakeError} For a refusal (with status and body), an invalid answer, or a
 *   connection that closed during the handshake.
 * @throws {Error} The socket's own error when reading or writing failed.
 */
export async function handshake(
  conn: ByteConn,
  target: WsTarget,
  request: Uint8Array,
  key: string,
): Promise<Uint8Array> {
  let written = 0;
  while (written < request.length) written += await conn.write(request.subarray(written));
  let response;
  try {
    response = await readResponse(conn, { maxHeadBytes: MAX_RESPONSE_HEAD_BYTES });
  } catch (error) {
    // A socket error is passed on as it is; only a bad or missing answer is a handshake error.
    if (error instanceof Http1Error && error.code === "closed" && error.cause !== undefined) {
      throw error.cause;
    }
    if (!(error instanceof Http1Error)) throw error;
    throw new WsHandshakeError(
      `Cannot read WebSocket upgrade response from "${target.display}": ${error.message}`,
      { status: 0, cause: error },
    );
  }
  if (response.status !== HTTP_SWITCHING_PROTOCOLS) {
    const body = await readErrorBody(response);
    throw new WsHandshakeError(
      `WebSocket upgrade to "${target.display}" refused: status ${response.status}`,
      { status: response.status, body },
    );
  }
  verifyUpgrade(response, key, target.display);
  return response.rest().slice();
}

function verifyUpgrade(head: Http1Response, key: string, display: string): void {
  const fail = (detail: string) => {
    throw new WsHandshakeError(`Invalid WebSocket upgrade from "${display}": ${detail}`, {
      status: head.status,
    });
  };
  const header = (name: string) => headerValue(head.headers, name);
  if (header("upgrade")?.toLowerCase() !== "websocket") fail(`missing "Upgrade: websocket"`);
  const connection = (header("connection") ?? "").toLowerCase().split(",");
  if (!connection.some((token) => token.trim() === "upgrade")) {
    fail(`missing "Connection: Upgrade"`);
  }
  if (header("sec-websocket-accept") !== websocketAccept(key)) fail("wrong Sec-WebSocket-Accept");
  if (header("sec-websocket-extensions") !== undefined) {
    fail("unrequested Sec-WebSocket-Extensions");
  }
}

/**
 * Reads up to 4 KiB of a refused upgrade's body, framed by the HTTP/1.1 package (Content-Length,
 * chunked, or until EOF). A body cut short by a reset or a framing error still tells the caller
 * something: what arrived is kept.
 */
async function readErrorBody(response: Http1Response): Promise<string> {
  const parts: Uint8Array[] = [];
  let total = 0;
  try {
    for await (const part of response.body) {
      parts.push(part);
      total += part.length;
      if (total >= MAX_ERROR_BODY_BYTES) break; // leaving the loop cancels the body
    }
  } catch {
    // keep what arrived
  }
  return utf8Lenient.decode(concat(parts, total).subarray(0, MAX_ERROR_BODY_BYTES));
}

function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}
