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
  CLOSE_TOO_BIG,
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
import type { ChannelRegistry } from "./channels.ts";
import type { DisconnectReason } from "./metrics/mod.ts";

const log = getLogger(["wow", "server"]);

export { CLOSE_NORMAL, CLOSE_POLICY_VIOLATION };

/** Open tunnel sockets, so shutdown can close them. */
export type SocketSet = Set<WebSocket>;

/**
 * 426 unless the client says it speaks this build's protocol version (header
 * {@linkcode PROTOCOL_HEADER}).
 * @param request The upgrade request.
 * @throws {HttpError} 426 for a missing or different version.
 */
export function checkProtocolVersion(request: Request): void {
  const spoken = request.headers.get(PROTOCOL_HEADER);
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
 * @returns The 101 response (a client that lost the race for the channel is closed once open).
 */
export function acceptTunnel(
  request: Request,
  channelId: string,
  options: AcceptTunnelOptions,
): Response {
  const { registry, sockets } = options;
  const { socket, response } = Deno.upgradeWebSocket(request, {
    idleTimeout: KEEPALIVE_INTERVAL / 1000,
  });
  for (const [name, value] of Object.entries(options.headers ?? {})) {
    response.headers.set(name, value);
  }
  socket.binaryType = "arraybuffer";
  const session: TunnelSession = new TunnelSession(socket, {
    role: "server",
    onExhausted: () => {
      closeReason ??= "ids_exhausted";
      closeWhenIdle(socket, session);
    },
    stallTimeout: options.stallTimeout,
    onControl: options.onControl,
    onStalled: () =>
      disconnect(
        "idle_timeout",
        `The client has not read its socket for ${options.stallTimeout} ms`,
        CLOSE_NORMAL,
      ),
  });
  const result = registry.attach(channelId, session, {
    takeOver: options.takeOver,
    evict: (reason) => disconnect("taken_over", reason, CLOSE_TAKEN_OVER),
  });
  if (result !== "attached") {
    const why = result === "full"
      ? "This server holds as many channels as --max-channels allows"
      : "Channel already has a client";
    socket.onopen = () => socket.close(CLOSE_POLICY_VIOLATION, why);
    return response;
  }
  sockets.add(socket);
  options.onOpened?.();
  options.onAttached?.(session);
  let closeReason: DisconnectReason | undefined;
  let ended = false;
  /** Ends the session and frees the channel at once, without waiting for the close handshake. */
  const detach = (error?: StreamResetError) => {
    sockets.delete(socket);
    session.close(error);
    registry.detach(channelId, session);
    if (!ended) {
      ended = true;
      options.onClosed?.(closeReason ?? "client_closed");
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
  socket.onopen = () => {
    session.flush();
    log.info("Client attached to channel {channelId}", { channelId });
  };
  socket.onmessage = (event) => {
    try {
      if (!(event.data instanceof ArrayBuffer)) {
        throw new ProtocolError("Text messages are not part of the protocol");
      }
      // Deno.upgradeWebSocket has no message size option (Deno 2.9.6): it has already buffered
      // the message (up to its own 64 MiB); refuse it at once so the tunnel holds no more.
      if (event.data.byteLength > MAX_MESSAGE_SIZE) {
        return disconnect(
          "protocol_error",
          `Message of ${event.data.byteLength} bytes exceeds ${MAX_MESSAGE_SIZE}`,
          CLOSE_TOO_BIG,
        );
      }
      session.receive(new Uint8Array(event.data));
    } catch (error) {
      disconnect(
        "protocol_error",
        error instanceof ProtocolError ? error.message : String(error),
        CLOSE_POLICY_VIOLATION,
      );
    }
  };
  socket.onclose = (event) => {
    detach();
    log.info("Client left channel {channelId} (code {code})", { channelId, code: event.code });
  };
  socket.onerror = () => {};
  return response;
}

/** How often a tunnel that ran out of stream ids checks whether its last streams are done, ms. */
const EXHAUSTED_POLL_INTERVAL = 100;

/** Closes the socket normally once the session has no open stream (the client reconnects). */
function closeWhenIdle(socket: WebSocket, session: TunnelSession): void {
  const check = () => {
    if (session.activeStreams === 0 || session.closed) {
      socket.close(CLOSE_NORMAL, "Stream ids exhausted; reconnect");
    } else setTimeout(check, EXHAUSTED_POLL_INTERVAL);
  };
  check();
}
