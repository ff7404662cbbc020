/**
 * Accepts a client's WebSocket on `/ws/{id}` and runs its tunnel session.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import {
  CLOSE_NORMAL,
  CLOSE_POLICY_VIOLATION,
  CLOSE_TAKEN_OVER,
  type Frame,
  KEEPALIVE_INTERVAL,
  MAX_MESSAGE_SIZE,
  PROTOCOL_HEADER,
  PROTOCOL_VERSION,
  ProtocolError,
  StreamResetError,
  TunnelSession,
} from "../protocol/mod.ts";
import { HttpError } from "./http_error.ts";
import {
  CloseCode,
  type Reply,
  type ServerRequest,
  WebSocketConnection,
  type WebSocketOptions,
  type WsCloseInfo,
} from "../http1/mod.ts";
import type { ChannelRegistry } from "./channels.ts";
import type { DisconnectReason } from "./metrics/mod.ts";

const log = getLogger(["wow", "server"]);

export { CLOSE_NORMAL, CLOSE_POLICY_VIOLATION };

/** Open tunnel sockets, so shutdown can close them. */
export type SocketSet = Set<TunnelSocket>;

/** How long a tunnel's closing handshake may take, ms. */
const CLOSE_TIMEOUT = 5_000;
/**
 * First read buffer of a tunnel's socket: an idle channel holds only this in its pending read
 * (it grows ×4 while reads fill it). A client's answer to a small webhook (HEAD and END, a few
 * hundred bytes) still fits in one read; 2 KiB cost 1.5 KiB more per idle channel.
 */
const TUNNEL_READ_BUFFER = 512;

/** Every tunnel socket's limits: one object for all of them. */
const TUNNEL_SOCKET_OPTIONS: WebSocketOptions = Object.freeze({
  maxMessageSize: MAX_MESSAGE_SIZE,
  idleTimeout: KEEPALIVE_INTERVAL,
  closeTimeout: CLOSE_TIMEOUT,
  role: "server",
  initialReadBufferBytes: TUNNEL_READ_BUFFER,
  binaryOnly: true,
});

/**
 * A tunnel's WebSocket from the upgrade on: frames wait (`readyState` 0) until the `101` is
 * written and the connection is ours; then they go out on it.
 */
export class TunnelSocket {
  #ws: WebSocketConnection | undefined;
  #closing: { code: number; reason: string } | undefined;
  #resolveClosed!: (info: WsCloseInfo) => void;
  #closed = new Promise<WsCloseInfo>((resolve) => this.#resolveClosed = resolve);

  /** Resolves once the socket is closed (or could never open). */
  get closed(): Promise<WsCloseInfo> {
    return this.#closed;
  }

  /** 0 until the connection is ours, then 1 (WebSocket `readyState`). */
  get readyState(): number {
    return this.#ws ? 1 : 0;
  }

  /** Bytes queued on the socket and not yet written. */
  get bufferedAmount(): number {
    return this.#ws?.bufferedAmount ?? 0;
  }

  /**
   * True: a message is copied by {@linkcode TunnelSocket.send} (into the connection's write
   * buffers) before it returns, so the session may reuse the buffer it encoded it in.
   */
  get copiesOnSend(): true {
    return true;
  }

  /** @param message One binary message. */
  send(message: Uint8Array): void {
    this.#ws?.send(message);
  }

  /**
   * Starts the closing handshake (at once, or as soon as the connection is ours).
   * @param code Close code.
   * @param reason At most 123 UTF-8 bytes.
   */
  close(code: number, reason: string): void {
    if (this.#ws) this.#ws.close(code, reason);
    else this.#closing ??= { code, reason };
  }

  /**
   * @internal The connection after the `101`: runs the socket on it.
   * @param ws The open connection.
   */
  _open(ws: WebSocketConnection): void {
    this.#ws = ws;
    ws.closed.then(this.#resolveClosed);
    if (this.#closing) ws.close(this.#closing.code, this.#closing.reason);
  }

  /** @internal The `101` could not be written: the socket never opened. */
  _fail(error: unknown): void {
    this.#resolveClosed({ code: 1006, reason: String(error), wasClean: false, error });
  }
}

/**
 * 426 unless the client says it speaks this build's protocol version (header
 * {@linkcode PROTOCOL_HEADER}).
 * @param request The upgrade request.
 * @throws {HttpError} 426 for a missing or different version.
 */
export function checkProtocolVersion(request: ServerRequest): void {
  const spoken = request.get(PROTOCOL_HEADER);
  if (spoken === String(PROTOCOL_VERSION)) return;
  throw new HttpError(
    426,
    spoken === null
      ? `The client did not say which tunnel protocol it speaks (header "${PROTOCOL_HEADER}"): this server speaks version ${PROTOCOL_VERSION}; use a webhook-over-websocket client of the same release`
      : `Protocol version mismatch: the client speaks "${spoken}", this server speaks ${PROTOCOL_VERSION}; upgrade the older side`,
    { headers: { [PROTOCOL_HEADER]: String(PROTOCOL_VERSION) } },
  );
}

/** Options for {@linkcode acceptTunnel}. */
export interface AcceptTunnelOptions {
  /** The channel registry the session is attached to. */
  registry: ChannelRegistry;
  /** The set of open sockets (for shutdown). */
  sockets: SocketSet;
  /**
   * How long the socket may stay too full to write while a stream waits before the client is
   * taken for dead and its socket closed (it reconnects), in ms: a client that stops reading
   * would otherwise pin every upload sent to it, pongs or not. The server passes
   * `--request-timeout`. @default Infinity
   */
  stallTimeout?: number;
  /**
   * Take the channel over from a client attached here, closing its session with
   * {@linkcode CLOSE_TAKEN_OVER} and this reason; unset: such a channel refuses the new client.
   */
  takeOver?: string;
  /** Called once the session is attached (metrics). */
  onOpened?: () => void;
  /** Called with the session once it is attached to the channel (the queue's drain starts). */
  onAttached?: (session: TunnelSession) => void;
  /** Receives ACK, NACK and NOTICE frames; unset for clients that did not ask for queueing. */
  onControl?: (frame: Frame) => void;
  /** Extra headers on the 101 answer (the offline mode applied). */
  headers?: Record<string, string>;
  /** Called once when the session ends, with why (metrics). */
  onClosed?: (reason: DisconnectReason) => void;
}

/**
 * Upgrades the request and attaches the session to the channel. The caller has already checked
 * that the channel may be attached (secret, room); with `takeOver`, a client attached here is
 * closed in its favour.
 *
 * @param request The upgrade request.
 * @param channelId The channel.
 * @param options Registry, socket set, stall timeout.
 * @returns The 101 reply (a client that lost the race for the channel is closed once open).
 */
export function acceptTunnel(
  request: ServerRequest,
  channelId: string,
  options: AcceptTunnelOptions,
): Reply {
  // What the session needs later, taken out of `options` so the closures below do not keep it
  // (and the callbacks only needed while attaching) alive for the tunnel's whole life.
  const { registry, sockets, stallTimeout, onClosed } = options;
  const { reply, onWritten } = request.upgradeWebSocket({
    headers: Object.entries(options.headers ?? {}),
  });
  const socket = new TunnelSocket();
  // Set once the session is attached (a client refused the channel is closed at once); dropped
  // once it ran.
  let run: ((ws: WebSocketConnection) => void) | undefined;
  onWritten.then((upgraded) => {
    const ws = new WebSocketConnection(
      upgraded.conn,
      upgraded.initial,
      TUNNEL_SOCKET_OPTIONS,
      undefined,
    );
    socket._open(ws);
    const start = run;
    run = undefined;
    start?.(ws);
  }, (error) => socket._fail(error));
  const session: TunnelSession = new TunnelSession(socket, {
    role: "server",
    onExhausted: () => {
      closeReason ??= "ids_exhausted";
      closeWhenIdle(socket, session);
    },
    stallTimeout,
    onControl: options.onControl,
    onStalled: () =>
      disconnect(
        "idle_timeout",
        `The client has not read its socket for ${stallTimeout} ms`,
        CLOSE_NORMAL,
      ),
  });
  const result = registry.attach(channelId, session, {
    takeOver: options.takeOver,
    evict: (reason) => disconnect("taken_over", reason, CLOSE_TAKEN_OVER),
  });
  let closeReason: DisconnectReason | undefined;
  let ended = false;
  if (result !== "attached") {
    const why = result === "full"
      ? "This server holds as many channels as --max-channels allows"
      : "Channel already has a client";
    socket.close(CLOSE_POLICY_VIOLATION, why);
    return reply;
  }
  sockets.add(socket);
  options.onOpened?.();
  options.onAttached?.(session);
  /** Ends the session and frees the channel at once, without waiting for the close handshake. */
  const detach = (error?: StreamResetError) => {
    sockets.delete(socket);
    session.close(error);
    registry.detach(channelId, session);
    if (!ended) {
      ended = true;
      onClosed?.(closeReason ?? "client_closed");
    }
  };
  const disconnect = (reason: DisconnectReason, message: string, code: number) => {
    closeReason ??= reason;
    log.warn("Disconnecting the client of channel {channelId}: {message}", {
      channelId,
      message,
    });
    // A peer that stopped reading may never answer the close frame: free everything now.
    detach(new StreamResetError("tunnel_closed", message));
    socket.close(code, message.slice(0, 120));
  };
  run = (ws: WebSocketConnection) => {
    session.flush();
    log.info("Client attached to channel {channelId}", { channelId });
    ws.onMessage = (message) => {
      try {
        session.receive(message);
      } catch (error) {
        disconnect(
          "protocol_error",
          error instanceof ProtocolError ? error.message : String(error),
          CLOSE_POLICY_VIOLATION,
        );
      }
    };
  };
  socket.closed.then((info) => {
    if (!ended && PEER_FAULTS.has(info.code) && !info.wasClean) {
      // The socket failed the connection itself (an oversized or malformed WebSocket frame).
      closeReason ??= "protocol_error";
      log.warn("Disconnecting the client of channel {channelId}: {message}", {
        channelId,
        message: info.reason,
      });
    }
    detach();
    log.info("Client left channel {channelId} (code {code})", { channelId, code: info.code });
  });
  return reply;
}

/** Close codes the socket itself sends when the peer breaks RFC 6455 or the size limit. */
const PEER_FAULTS: ReadonlySet<number> = new Set([
  CloseCode.ProtocolError,
  CloseCode.UnsupportedData,
  CloseCode.InvalidData,
  CloseCode.TooBig,
]);

/** How often a tunnel that ran out of stream ids checks whether its last streams are done, ms. */
const EXHAUSTED_POLL_INTERVAL = 100;

/** Closes the socket normally once the session has no open stream (the client reconnects). */
function closeWhenIdle(socket: TunnelSocket, session: TunnelSession): void {
  const check = () => {
    if (session.activeStreams === 0 || session.closed) {
      socket.close(CLOSE_NORMAL, "Stream ids exhausted; reconnect");
    } else setTimeout(check, EXHAUSTED_POLL_INTERVAL);
  };
  check();
}
