/**
 * `ANY /webhook/{id}[/…]`: delivers a webhook through the channel's tunnel on this replica, relays
 * it to the replica holding the channel, or refuses it (404, 503, 429).
 *
 * @module
 */
import type { ServerRequest } from "../../http1/mod.ts";
import type { Channel } from "../channels.ts";
import type { ServerContext } from "../context.ts";
import { deliverWebhook, forwardedHeaders } from "../deliver.ts";
import { HttpError } from "../http_error.ts";
import { relayWebhook } from "../relay.ts";
import type { RequestInfo } from "../router.ts";
import type { WebhookRoute } from "../metrics/mod.ts";
import { FORWARDED_HEADER, isChannelId } from "../../protocol/wire.ts";
import { deliveryIdFrom } from "../../protocol/providers.ts";
import { awayMode, enqueueWebhook, type HeaderPresence, mayQueue, notQueued } from "../offline.ts";
import type { Reply, ServerAnswer } from "../../http1/mod.ts";

/** Extra time a relayed webhook gets over the owner's own request timeout, ms. */
export const RELAY_TIMEOUT_MARGIN = 2_000;

/**
 * {@linkcode routeWebhook}'s answer for a webhook to store (`--queue`): its client is away, or
 * attached with deliveries still queued (the new one joins the end, so order holds).
 */
export const QUEUE_IT: { readonly queue: true } = Object.freeze({ queue: true });

/**
 * Whether a webhook was relayed by a replica: it carries the forwarded marker and the replica
 * credential or, without a gossip key, comes from the address of a known member. A marker from
 * anyone else is ignored (the request is treated as a sender's).
 * @param request The request.
 * @param ctx The server's context.
 * @returns Whether to trust it as relayed.
 */
export function isRelayed(request: ServerRequest, ctx: ServerContext): boolean {
  return request.has(FORWARDED_HEADER) &&
    (ctx.replicas.isReplicaCall(request) ||
      (!ctx.replicas.authenticated && ctx.replicas.isMemberAddress(request.peer)));
}

/** Where a webhook goes: the channel attached here, the owner's URL, or the queue. */
export type WebhookTarget = Channel | string | typeof QUEUE_IT;

/**
 * Decides what answers a webhook: the channel attached here (returned), the URL of the replica
 * holding it (returned, a string), or a refusal (thrown). Synchronous when the answer is known
 * here (the common case: the client is attached to this replica); a promise when a peer or the
 * store must be asked.
 * @param ctx The server's context.
 * @param info The request's info (`info.id` is the channel id).
 * @param relayed Whether a replica relayed it (see {@linkcode isRelayed}).
 * @param headers The webhook's headers (with `--queue`, the offline mode may depend on them).
 * @returns The local channel, the owner's URL, or {@linkcode QUEUE_IT}.
 * @throws {HttpError} 503 (reconnecting, detached, not queued), 404 (nobody holds it), 429 (too
 * many in flight).
 */
export function routeWebhook(
  ctx: ServerContext,
  info: RequestInfo,
  relayed: boolean,
  headers: HeaderPresence,
): WebhookTarget | Promise<WebhookTarget> {
  const id = info.id;
  const channel = ctx.channels.get(id);
  // A relayed request is never relayed again. With a shared key an id without our tag was never
  // issued: no replica holds it.
  const lookUp = !channel?.session && !relayed && isChannelId(id) &&
    (!ctx.sharedChannelKey || ctx.secrets.isIssued(id));
  if (lookUp) {
    return ctx.owners.find(id).then((owner) => owner ?? routeHere(ctx, id, channel, headers));
  }
  return routeHere(ctx, id, channel, headers);
}

/** {@linkcode routeWebhook} once no other replica holds the channel. */
function routeHere(
  ctx: ServerContext,
  id: string,
  channel: Channel | undefined,
  headers: HeaderPresence,
): WebhookTarget | Promise<WebhookTarget> {
  if (ctx.queue) {
    if (!channel?.session) {
      return awayMode(ctx, id, channel).then((mode) => {
        if (!mode) return refuseOrDeliver(ctx, id, channel);
        if (mayQueue(mode, headers)) return QUEUE_IT;
        throw notQueued(ctx, id, mode, headers);
      });
    }
    if (channel.draining && mayQueue(channel.offline, headers)) return QUEUE_IT;
  }
  return refuseOrDeliver(ctx, id, channel);
}

/** The attached channel, or the refusal that says why not. */
function refuseOrDeliver(ctx: ServerContext, id: string, channel: Channel | undefined): Channel {
  const { config } = ctx;
  if (
    !channel && ctx.secrets.isIssued(id) && performance.now() - ctx.startedAt < config.channelTtl
  ) {
    // A channel issued under our key that this replica does not hold: after a restart its client
    // is reconnecting (senders should retry, not give up).
    throw new HttpError(503, `The client of channel "${id}" is not connected (yet); retry later`, {
      headers: { "retry-after": String(config.retryAfterSeconds) },
    });
  }
  if (!channel || (!channel.session && channel.detachedAt === undefined)) {
    ctx.metrics.refused("unknown_channel");
    throw new HttpError(404, `No client is connected to channel "${id}"`);
  }
  if (!channel.session) {
    throw new HttpError(503, `The client of channel "${id}" is disconnected; retry later`, {
      headers: { "retry-after": String(config.retryAfterSeconds) },
    });
  }
  if (channel.inFlight >= config.maxInFlight) {
    ctx.metrics.refused("in_flight_limit");
    throw new HttpError(
      429,
      `Channel "${id}" already has ${config.maxInFlight} requests in flight; retry later`,
      { headers: { "retry-after": "1" }, log: true },
    );
  }
  return channel;
}

/**
 * 400 for a GET or HEAD that announces a body: forwarding one would promise the app bytes that
 * it does not expect (it was a 502, issue #13.7).
 * @param request The sender's request.
 */
function refuseUnreadableBody(request: ServerRequest): void {
  if (request.body === null || (request.method !== "GET" && request.method !== "HEAD")) return;
  throw new HttpError(
    400,
    `A ${request.method} webhook cannot carry a body through the tunnel: send it without one, or use POST`,
  );
}

/**
 * The webhook handler; see the module doc.
 * @param request The sender's (or a relaying replica's) request.
 * @param ctx The server's context.
 * @param info The request's info.
 * @returns The response.
 */
export async function webhook(
  request: ServerRequest,
  ctx: ServerContext,
  info: RequestInfo,
): Promise<ServerAnswer> {
  ctx.metrics.webhookStarted();
  let route: WebhookRoute = "local";
  let status = 500;
  let relayed = false;
  try {
    refuseUnreadableBody(request);
    relayed = isRelayed(request, ctx);
    const routed = routeWebhook(ctx, info, relayed, request);
    const target = routed instanceof Promise ? await routed : routed;
    if (typeof target === "string") route = "relay";
    const response = typeof target === "string"
      ? await relay(request, ctx, info, target)
      : target === QUEUE_IT
      ? await enqueueWebhook(request, ctx, info, { relayed, channel: ctx.channels.get(info.id) })
      : await deliver(request, ctx, info, target as Channel, relayed);
    status = response.status;
    return response;
  } catch (error) {
    if (error instanceof HttpError) status = error.status;
    throw error;
  } finally {
    // Counted once, by the replica the sender reached.
    if (relayed) ctx.metrics.relayedWebhookDone();
    else recordWebhook(ctx, info, route, status);
  }
}

/** Records a webhook's metrics once its bytes are counted (the sender's view of its duration). */
function recordWebhook(
  ctx: ServerContext,
  info: RequestInfo,
  route: WebhookRoute,
  code: number,
): void {
  info.done().then((done) => {
    if (code === 413 && route === "local") ctx.metrics.refused("too_large");
    ctx.metrics.webhookDone(
      route,
      code,
      done.durationMs / 1000,
      done.requestBytes,
      done.responseBytes,
      // Only ids some replica holds become a label (a sender's random ids must not mint series).
      ctx.metrics.perChannel && (route === "relay" || ctx.channels.get(info.id)) ? info.id : "",
    );
  });
}

async function relay(
  request: ServerRequest,
  ctx: ServerContext,
  info: RequestInfo,
  owner: string,
): Promise<Reply> {
  ctx.inFlight++;
  try {
    const response = await relayWebhook(request, owner, {
      headers: [
        ...forwardedHeaders(request, { remoteIp: info.peer, proto: ctx.proto }),
        [FORWARDED_HEADER, "1"],
        ...Object.entries(ctx.replicas.authHeaders()),
      ],
      http: ctx.relayHttp,
      timeout: ctx.config.requestTimeout + RELAY_TIMEOUT_MARGIN,
      onFailure: () => ctx.metrics.relayFailed(),
    });
    // The owner no longer holds the channel: ask again next time.
    if (response.status === 404 || response.status === 503) ctx.owners.forget(info.id);
    return response;
  } finally {
    ctx.inFlight--;
  }
}

async function deliver(
  request: ServerRequest,
  ctx: ServerContext,
  info: RequestInfo,
  channel: Channel,
  relayed: boolean,
): Promise<Reply> {
  const { config } = ctx;
  ctx.inFlight++;
  channel.inFlight++;
  if (relayed) ctx.metrics.relayReceived();
  const result = await deliverWebhook(request, channel.session!, {
    target: info.rest + info.search,
    remoteIp: info.peer,
    proto: ctx.proto,
    trustForwarded: relayed,
    maxBodySize: config.maxBodySize,
    requestTimeout: config.requestTimeout,
    retryAfterSeconds: config.retryAfterSeconds,
    arrivedAt: info.startedAt,
    // Stripe names its delivery only in the body: read it when the body is in memory anyway.
    onWholeBody: request.has("stripe-signature")
      ? (bytes) => (info.providerDelivery = deliveryIdFrom(request, bytes))
      : undefined,
    keepForQueue: ctx.queue !== undefined && mayQueue(channel.offline, request),
  });
  if (result.outcome.addedSeconds !== undefined) {
    ctx.metrics.tunnelAdded(result.outcome.addedSeconds);
  }
  if (result.unreachable) {
    // The client could not reach its app: store the webhook (the bytes already sent, then the
    // rest) and hold later ones behind it until the drain gets it through.
    channel.draining = true;
    try {
      return await enqueueWebhook(request, ctx, info, {
        body: result.unreachable,
        relayed,
        channel,
      });
    } finally {
      ctx.inFlight--;
      channel.inFlight--;
    }
  }
  info.requestBytes = result.outcome.requestBytes;
  info.responseBytes = result.outcome.responseBytes;
  // The slot is held until the answer is sent and the upload has really stopped (a client that
  // stopped reading must not get more streams than --max-in-flight).
  info.done().then(() => {
    ctx.inFlight--;
    channel.inFlight--;
  });
  return result.response;
}
