/**
 * `GET /ws/{id}`: accepts a client's tunnel for a channel, after checking the upgrade, the client
 * token (route middleware), the protocol version and the channel secret (asking the peers when
 * the channel was issued by a replica with another key). The new client takes the channel over
 * from any client attached before it, here or on another replica (`takeover.ts`).
 *
 * @module
 */
import type { Reply, ServerRequest } from "../../http1/mod.ts";
import type { ServerContext } from "../context.ts";
import {
  channelsFull,
  HttpError,
  shuttingDown,
  unknownChannel,
  wrongChannelSecret,
} from "../http_error.ts";
import type { RequestInfo } from "../router.ts";
import { acceptTunnel, checkProtocolVersion } from "../tunnel.ts";
import { announceAttach, takenOverReason } from "../takeover.ts";
import {
  CHANNEL_SECRET_HEADER,
  isChannelId,
  isOfflineMode,
  MAX_QUEUE_WINDOW,
  OFFLINE_HEADER,
  type OfflineMode,
  QUEUE_WINDOW_HEADER,
} from "../../protocol/wire.ts";
import { ChannelDrain } from "../drain.ts";
import { saveMode } from "../offline.ts";

/**
 * 403 unless `info.id` is a well-formed channel id (route middleware, before the upgrade and
 * token checks).
 * @param _request The request.
 * @param _ctx The server's context.
 * @param info The request's info.
 */
export function requireChannelId(
  _request: ServerRequest,
  _ctx: ServerContext,
  info: RequestInfo,
): void {
  if (!isChannelId(info.id)) throw unknownChannel(info.id);
}

/**
 * `/ws/{id}/…`: an id with a slash is refused like any unknown channel (403).
 * @param _request The request.
 * @param _ctx The server's context.
 * @param info The request's info.
 * @returns Never.
 */
export function unknownChannelPath(
  _request: ServerRequest,
  _ctx: ServerContext,
  info: RequestInfo,
): never {
  throw unknownChannel(info.id + info.rest);
}

/**
 * 400 unless the request asks for a WebSocket upgrade (route middleware).
 * @param request The request.
 */
export function requireWebSocketUpgrade(request: ServerRequest): void {
  if (request.get("upgrade")?.toLowerCase() !== "websocket") {
    throw new HttpError(400, "Expected a WebSocket upgrade request");
  }
}

/**
 * Without a shared key each replica signs with its own random key: a channel issued by a peer is
 * verified by asking the peers (a replica with a shared key never needs to).
 */
async function verifiedByPeer(
  ctx: ServerContext,
  id: string,
  secret: string | null,
): Promise<boolean> {
  if (ctx.sharedChannelKey || !secret || ctx.replicas.peerUrls().length === 0) return false;
  const answers = await ctx.replicas.gather<{ valid: boolean }>(
    `/internal/channels/${id}/verify`,
    { [CHANNEL_SECRET_HEADER]: secret },
  );
  return answers.some((answer) => answer.body.valid === true);
}

/**
 * The `/ws/{id}` handler; see the module doc.
 * @param request The upgrade request.
 * @param ctx The server's context.
 * @param info The request's info.
 * @returns The 101 response.
 */
export async function attachTunnel(
  request: ServerRequest,
  ctx: ServerContext,
  info: RequestInfo,
): Promise<Reply> {
  const id = info.id;
  checkProtocolVersion(request);
  const channel = ctx.channels.get(id);
  const secret = request.get(CHANNEL_SECRET_HEADER);
  if (!ctx.secrets.verify(id, secret) && !(await verifiedByPeer(ctx, id, secret))) {
    ctx.metrics.refused(channel ? "channel_secret" : "unknown_channel");
    throw channel ? wrongChannelSecret(id) : unknownChannel(id);
  }
  if (!channel && ctx.channels.full) throw channelsFull();
  const mode = offlineModeOf(request, ctx);
  // A client that cannot take queued deliveries (an older release) gets today's 503s while away.
  if (ctx.queue) await saveMode(ctx.queue, id, mode ?? "reject").catch(() => {});
  // Checked again: draining may have begun while the peers were asked.
  if (ctx.draining) throw shuttingDown();
  // The newest client wins, here and on every other replica (see takeover.ts).
  let drain: ChannelDrain | undefined;
  const window = mode && ctx.queue ? queueWindowOf(request) : undefined;
  const response = acceptTunnel(request, id, {
    registry: ctx.channels,
    sockets: ctx.sockets,
    stallTimeout: ctx.config.requestTimeout,
    takeOver: takenOverReason(ctx.serverUrl),
    headers: mode
      ? {
        [OFFLINE_HEADER]: ctx.queue ? mode : "off",
        ...(window ? { [QUEUE_WINDOW_HEADER]: String(window) } : {}),
      }
      : undefined,
    onControl: mode ? (frame) => drain?.control(frame) : undefined,
    onAttached: (session) => {
      const attached = ctx.channels.get(id)!;
      attached.offline = ctx.queue ? mode ?? "reject" : undefined;
      if (!mode || !ctx.queue) return;
      drain = new ChannelDrain(ctx, attached, window ?? 1);
      drain.start(session);
    },
    onOpened: () => ctx.metrics.tunnelOpened(),
    onClosed: (reason) => {
      drain?.stop();
      ctx.metrics.tunnelClosed(ctx.draining ? "shutdown" : reason);
    },
  });
  ctx.owners.forget(id);
  announceAttach(ctx, id);
  return response;
}

/**
 * The drain window the client offers (header `X-Wow-Queue-Window`), capped at
 * {@linkcode MAX_QUEUE_WINDOW}; undefined when it sent none or no positive integer (an older
 * client: one delivery at a time, and no answer header, so it sees no chained heads).
 */
function queueWindowOf(request: ServerRequest): number | undefined {
  const offered = request.get(QUEUE_WINDOW_HEADER);
  if (offered === null || !/^[1-9][0-9]{0,5}$/.test(offered)) return undefined;
  return Math.min(Number(offered), MAX_QUEUE_WINDOW);
}

/**
 * The offline mode the client asks for (header `X-Wow-Offline`), if it sent one.
 * @throws {HttpError} 400 (reason `offline_mode`) for an unknown mode or one `--offline-modes`
 * does not allow.
 */
function offlineModeOf(request: ServerRequest, ctx: ServerContext): OfflineMode | undefined {
  const asked = request.get(OFFLINE_HEADER);
  if (asked === null) return undefined;
  const allowed = ctx.config.offlineModes;
  if (!isOfflineMode(asked) || !allowed.includes(asked)) {
    throw new HttpError(
      400,
      `This server does not allow --offline ${JSON.stringify(asked)}: choose one of ${
        allowed.join(", ")
      }`,
      { reason: "offline_mode" },
    );
  }
  return asked;
}
