/**
 * Accepts a client's WebSocket on `/ws/{id}` and runs its tunnel session.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import {
  CLOSE_NORMAL,
  CLOSE_POLICY_VIOLATION,
  KEEPALIVE_INTERVAL,
  PROTOCOL_HEADER,
  PROTOCOL_VERSION,
  ProtocolError,
  StreamResetError,
  TunnelSession,
} from "../protocol/mod.ts";
import { errorResponse } from "./_http.ts";
import type { ChannelRegistry } from "./channels.ts";

const log = getLogger(["wow", "server"]);

export { CLOSE_NORMAL, CLOSE_POLICY_VIOLATION };

/** Open tunnel sockets, so shutdown can close them. */
export type SocketSet = Set<WebSocket>;

/**
 * Checks the client's protocol version header.
 * @param request The upgrade request.
 * @returns An error response for a missing or different version, else `undefined`.
 */
export function checkProtocolVersion(request: Request): Response | undefined {
  const spoken = request.headers.get(PROTOCOL_HEADER);
  if (spoken === String(PROTOCOL_VERSION)) return undefined;
  return errorResponse(
    426,
    spoken === null
      ? `The client did not say which tunnel protocol it speaks (header "${PROTOCOL_HEADER}"): this server speaks version ${PROTOCOL_VERSION}; use a webhook-over-websocket client of the same release`
      : `Protocol version mismatch: the client speaks "${spoken}", this server speaks ${PROTOCOL_VERSION}; upgrade the older side`,
    { [PROTOCOL_HEADER]: String(PROTOCOL_VERSION) },
  );
}

/**
 * Upgrades the request and attaches the session to the channel. The caller has already checked
 * that the channel may be attached (secret, not busy).
 *
 * @param request The upgrade request.
 * @param channelId The channel.
 * @param registry The channel registry.
 * @param sockets The set of open sockets (for shutdown).
 * @returns The 101 response, or 409 when another client attached meanwhile.
 */
export function acceptTunnel(
  request: Request,
  channelId: string,
  registry: ChannelRegistry,
  sockets: SocketSet,
): Response {
  const { socket, response } = Deno.upgradeWebSocket(request, {
    idleTimeout: KEEPALIVE_INTERVAL / 1000,
  });
  socket.binaryType = "arraybuffer";
  const session = new TunnelSession(socket, {
    role: "server",
    onExhausted: () => closeWhenIdle(socket, session),
  });
  const result = registry.attach(channelId, session);
  if (result !== "attached") {
    socket.onopen = () => socket.close(CLOSE_POLICY_VIOLATION, "Channel already has a client");
    return response;
  }
  sockets.add(socket);
  socket.onopen = () => {
    session.flush();
    log.info("Client attached to channel {channelId}", { channelId });
  };
  socket.onmessage = (event) => {
    try {
      if (!(event.data instanceof ArrayBuffer)) {
        throw new ProtocolError("Text messages are not part of the protocol");
      }
      session.receive(new Uint8Array(event.data));
    } catch (error) {
      const message = error instanceof ProtocolError ? error.message : String(error);
      log.warn("Disconnecting the client of channel {channelId}: {message}", {
        channelId,
        message,
      });
      session.close(new StreamResetError("tunnel_closed", message));
      socket.close(CLOSE_POLICY_VIOLATION, message.slice(0, 120));
    }
  };
  socket.onclose = (event) => {
    sockets.delete(socket);
    session.close();
    registry.detach(channelId, session);
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
