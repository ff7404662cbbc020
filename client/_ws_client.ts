/**
 * A minimal RFC 6455 WebSocket client on `Deno.connect` and `Deno.startTls` (or `node:tls` when
 * certificate verification is switched off with `insecure`).
 *
 * Why not the built-in `new WebSocket()`: in Deno 2.9.6 it turns `TCP_NODELAY` off, so every small
 * frame can wait ~40 ms for a delayed ACK, and it cannot trust a private CA per connection. This
 * client sets `setNoDelay(true)`, takes `caCerts` per connection, coalesces the frames queued in
 * one tick into one socket write, and never rejects a promise nobody awaits: every way a
 * connection can end resolves {@linkcode WsClient.closed}.
 *
 * Not supported, on purpose: extensions (permessage-deflate), subprotocol negotiation, UTF-8
 * validation of text messages (they are handed over as bytes), HTTP proxies.
 *
 * The work is split in `ws/`: `framing.ts` (RFC 6455 constants, masked frames), `handshake.ts`
 * (the upgrade, its answer read by the `http1/` parser) and `connection.ts` (the open socket).
 *
 * @example
 * ```ts ignore
 * const ws = await connectWebSocket("wss://tunnel.example/ws/abc", {
 *   headers: { authorization: "Bearer t0ken" },
 * });
 * ws.onMessage = (data) => console.log(data.length);
 * ws.send(new Uint8Array([1, 2, 3]));
 * await ws.drained();
 * ws.close();
 * console.log(await ws.closed);
 * ```
 *
 * @module
 */

import { type ByteConn, dial } from "../http1/mod.ts";
import { MAX_MESSAGE_SIZE } from "../protocol/mod.ts";
import {
  WebSocketConnection as Connection,
  type WebSocketOptions as ConnectionOptions,
  type WsClient,
} from "../http1/mod.ts";
import { buildRequest, handshake, newKey, parseWsUrl } from "./ws/handshake.ts";

export type { WsClient, WsCloseInfo } from "../http1/mod.ts";
export { WsHandshakeError, type WsHandshakeErrorOptions } from "./ws/handshake.ts";

/** How long the TCP + TLS + HTTP upgrade may take: beyond this the path is as good as dead. */
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
/**
 * Largest incoming message: the tunnel protocol's own limit, so a larger one is refused (1009)
 * from its frame header, before its payload is buffered.
 */
const DEFAULT_MAX_MESSAGE_SIZE = MAX_MESSAGE_SIZE;
/** Silence before we ping; the same again without a byte received and the peer is dead. */
const DEFAULT_IDLE_TIMEOUT_MS = 15_000;
/** How long a close handshake (or flushing the close frame when failing) may take. */
const DEFAULT_CLOSE_TIMEOUT_MS = 5_000;

/** Options for {@linkcode connectWebSocket}. */
export interface WsClientOptions {
  /**
   * Extra headers for the upgrade request (e.g. `Authorization`, `X-Channel-Secret`, the protocol
   * version). `Host` may be overridden; the handshake's own headers may not.
   * @default {{}}
   */
  headers?: HeadersInit;
  /**
   * PEM certificates trusted in addition to the system roots, for `wss://` with a private CA.
   * @default {[]}
   */
  caCerts?: string[];
  /**
   * For `wss://`: do not verify the server's certificate at all (self-signed development servers;
   * anyone on the path can then read and alter the traffic). `caCerts` is ignored. The TLS socket
   * is then a `node:tls` one, as `Deno.startTls` cannot skip verification per connection, so
   * socket errors are Node-style (`err.code === "ECONNREFUSED"`) rather than `Deno.errors.*`.
   * @default {false}
   */
  insecure?: boolean;
  /**
   * Milliseconds the TCP connect, TLS and HTTP upgrade may take together; `0` disables it.
   * @default {10000}
   */
  connectTimeout?: number;
  /**
   * Aborts the connect (the promise rejects with `signal.reason`); after that, closes the
   * connection with code 1001.
   * @default {undefined}
   */
  signal?: AbortSignal;
  /**
   * Largest incoming message in bytes (after reassembly); a larger one closes with 1009.
   * @default {196608} (the protocol's `MAX_MESSAGE_SIZE`)
   */
  maxMessageSize?: number;
  /**
   * Milliseconds without receiving a single byte after which a ping is sent; after twice this
   * silence the connection is dropped and {@linkcode WsClient.closed} resolves with code 1006.
   * `0` disables it.
   * @default {15000}
   */
  idleTimeout?: number;
  /**
   * Milliseconds the closing handshake may take before the TCP connection is dropped.
   * @default {5000}
   */
  closeTimeout?: number;
}

/**
 * Opens a WebSocket connection: TCP with `TCP_NODELAY`, TLS for `wss://` (ALPN `http/1.1`, with
 * `caCerts` trusted, or unverified with `insecure`), then the HTTP/1.1 upgrade, verifying
 * `Sec-WebSocket-Accept`.
 *
 * @param url A `ws://` or `wss://` URL (`http://`/`https://` are accepted as aliases); path and
 *   query are sent, a fragment is ignored.
 * @param options Headers, CA certificates, timeouts and limits.
 * @returns The open connection.
 * @throws {TypeError} If the URL or a header is invalid.
 * @throws {RangeError} If an option is out of range.
 * @throws {WsHandshakeError} If the server refuses or botches the upgrade.
 * @throws {DOMException} `signal.reason` if aborted, a `TimeoutError` after `connectTimeout`.
 * @throws {Deno.errors.ConnectionRefused} And other socket or TLS errors (e.g.
 *   `Deno.errors.InvalidData` for an untrusted certificate); with `insecure` and `wss://`, Node
 *   socket errors instead.
 *
 * @example
 * ```ts ignore
 * const ws = await connectWebSocket("ws://127.0.0.1:8080/ws/abc?v=1", { idleTimeout: 5000 });
 * ws.onMessage = (data) => ws.send(data);
 * ```
 */
export async function connectWebSocket(
  url: string | URL,
  options: WsClientOptions = {},
): Promise<WsClient> {
  const target = parseWsUrl(url);
  const config = resolveOptions(options);
  const key = newKey();
  const request = buildRequest(target, key, options.headers);
  options.signal?.throwIfAborted();

  const controller = new AbortController();
  const signal = controller.signal;
  const onUserAbort = () => controller.abort(options.signal?.reason);
  options.signal?.addEventListener("abort", onUserAbort, { once: true });
  const timer = config.connectTimeout > 0
    ? setTimeout(
      () =>
        controller.abort(
          new DOMException(
            `Cannot connect to "${target.display}": timed out after ${config.connectTimeout} ms`,
            "TimeoutError",
          ),
        ),
      config.connectTimeout,
    )
    : undefined;
  let conn: ByteConn | undefined;
  const closeConn = () => {
    try {
      conn?.close();
    } catch { /* already closed */ }
  };
  signal.addEventListener("abort", closeConn, { once: true });
  try {
    conn = await dial(target, {
      caCerts: config.caCerts,
      insecure: config.insecure,
      signal,
    });
    signal.throwIfAborted();
    const initial = await handshake(conn, target, request, key);
    signal.throwIfAborted();
    return new Connection(conn, initial, config, options.signal);
  } catch (err) {
    closeConn();
    if (signal.aborted) throw signal.reason;
    throw err;
  } finally {
    clearTimeout(timer);
    signal.removeEventListener("abort", closeConn);
    options.signal?.removeEventListener("abort", onUserAbort);
  }
}

interface ResolvedOptions extends ConnectionOptions {
  caCerts: string[];
  insecure: boolean;
  connectTimeout: number;
}

function resolveOptions(options: WsClientOptions): ResolvedOptions {
  const number = (name: string, value: number | undefined, fallback: number) => {
    if (value === undefined) return fallback;
    if (!Number.isFinite(value) || value < 0) {
      throw new RangeError(`Cannot use ${name} "${value}": must be a finite number >= 0`);
    }
    return value;
  };
  return {
    caCerts: options.caCerts ?? [],
    insecure: options.insecure ?? false,
    connectTimeout: number("connectTimeout", options.connectTimeout, DEFAULT_CONNECT_TIMEOUT_MS),
    maxMessageSize: number("maxMessageSize", options.maxMessageSize, DEFAULT_MAX_MESSAGE_SIZE),
    idleTimeout: number("idleTimeout", options.idleTimeout, DEFAULT_IDLE_TIMEOUT_MS),
    closeTimeout: number("closeTimeout", options.closeTimeout, DEFAULT_CLOSE_TIMEOUT_MS),
  };
}
