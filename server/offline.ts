/**
 * What happens to a webhook whose client is away (detached, restarting, between reconnects) or
 * whose app the client reports unreachable, when the server runs with `--queue`: the channel's
 * offline mode decides between storing it (`202 {"queued": true, "delivery_id": "…"}`) and
 * `503` + `Retry-After` (README: When the client is away).
 *
 * The mode lives in the queue store with the channel's queue (`getSettings`/`setSettings`), so a
 * restarted server, or another replica on a shared store, applies it while the client is away.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import type { Channel } from "./channels.ts";
import type { ServerContext } from "./context.ts";
import { HttpError } from "./http_error.ts";
import { Reply, type ServerRequest } from "../http1/mod.ts";
import { bodyTooLarge, forwardedHeaders } from "./deliver.ts";
import type { RequestInfo } from "./router.ts";
import { isOfflineMode, type OfflineMode } from "../protocol/wire.ts";
import { openQueue, QueueFullError, type QueueStore } from "./queue/mod.ts";

const log = getLogger(["wow", "server", "queue"]);

/**
 * Headers of signatures that expire and whose senders retry on 5xx: in `auto` mode such a
 * webhook gets `503` + `Retry-After` instead of being queued, so the sender resends a freshly
 * signed copy (a queued one would be refused by the app's library once it is minutes old).
 */
export const EXPIRING_SIGNATURES: readonly (readonly [header: string, sender: string])[] = [
  /** Stripe's libraries refuse signatures older than 5 minutes by default. */
  ["stripe-signature", "Stripe"],
  ["x-slack-request-timestamp", "Slack"],
  ["webhook-timestamp", "Standard Webhooks"],
  ["svix-timestamp", "Svix"],
];

/** What the mode checks need of a webhook's headers: a `Headers`, or a `ServerRequest`. */
export type HeaderPresence = Pick<Headers, "has">;

/** The settings key a channel's offline mode is stored under. */
const MODE_KEY = "offline";

/**
 * The sender of a webhook signed with an expiring timestamp, if it is one.
 * @param headers The webhook's headers.
 * @returns e.g. `"Stripe"`, or undefined.
 */
export function expiringSignature(headers: HeaderPresence): string | undefined {
  for (const [header, sender] of EXPIRING_SIGNATURES) if (headers.has(header)) return sender;
  return undefined;
}

/**
 * Whether a webhook may be queued in `mode`: `queue` always, `reject` never, `auto` unless it
 * carries an expiring signature.
 * @param mode The channel's offline mode.
 * @param headers The webhook's headers.
 * @returns Whether to queue it.
 */
export function mayQueue(mode: OfflineMode | undefined, headers: HeaderPresence): boolean {
  return mode === "queue" || (mode === "auto" && expiringSignature(headers) === undefined);
}

/**
 * The mode used for a channel no client has chosen one for: `auto` when allowed, else the first
 * allowed mode.
 * @param allowed `--offline-modes`.
 * @returns The mode.
 */
export function defaultMode(allowed: readonly OfflineMode[]): OfflineMode {
  return allowed.includes("auto") ? "auto" : allowed[0];
}

/**
 * Stores a channel's offline mode with its queue (at attach).
 * @param queue The store.
 * @param channelId The channel.
 * @param mode The mode the client chose.
 */
export async function saveMode(
  queue: QueueStore,
  channelId: string,
  mode: OfflineMode,
): Promise<void> {
  await queue.setSettings(channelId, { [MODE_KEY]: mode });
}

/**
 * The offline mode for a channel whose client is not attached here: the one this replica knows,
 * else the one kept in the store (a restart, another replica), else the default for a channel
 * this replica issued; undefined when nobody knows the channel (404 as without a queue).
 * @param ctx The server's context (with a queue).
 * @param channelId The channel.
 * @param channel This replica's record of it, if any.
 * @returns The mode, or undefined.
 */
export async function awayMode(
  ctx: ServerContext,
  channelId: string,
  channel: Channel | undefined,
): Promise<OfflineMode | undefined> {
  if (channel?.offline) return channel.offline;
  let stored: Record<string, string> | null = null;
  try {
    stored = await ctx.queue!.getSettings(channelId);
  } catch (error) {
    ctx.metrics.queueStoreError();
    log.warn("Cannot read the settings of channel {channelId}: {error}", {
      channelId,
      error: String(error),
    });
    throw storeFailed(ctx);
  }
  const mode = stored?.[MODE_KEY];
  if (isOfflineMode(mode)) return mode;
  if (channel || ctx.secrets.isIssued(channelId)) return defaultMode(ctx.config.offlineModes);
  return undefined;
}

/**
 * Refuses a webhook of an away client that may not be queued: `reject` mode, or `auto` and an
 * expiring signature. Both are 503 + `Retry-After`, so the sender retries.
 * @param ctx The server's context.
 * @param channelId The channel.
 * @param mode Its mode.
 * @param headers The webhook's headers.
 * @returns The refusal to throw.
 */
export function notQueued(
  ctx: ServerContext,
  channelId: string,
  mode: OfflineMode,
  headers: HeaderPresence,
): HttpError {
  const sender = mode === "auto" ? expiringSignature(headers) : undefined;
  return new HttpError(
    503,
    sender
      ? `The client of channel "${channelId}" is not connected, and a ${sender} webhook is not queued (its signature expires): retry later`
      : `The client of channel "${channelId}" is disconnected; retry later`,
    { headers: { "retry-after": String(ctx.config.retryAfterSeconds) } },
  );
}

/** The 503 for a webhook the store cannot take (full or failing): never a 202. */
function storeFailed(ctx: ServerContext, full = false): HttpError {
  return new HttpError(
    503,
    full
      ? "The queue for this channel is full; retry later"
      : "The webhook cannot be stored right now; retry later",
    { headers: { "retry-after": String(ctx.config.queueRetryAfterSeconds) } },
  );
}

/** Options for {@linkcode enqueueWebhook}. */
export interface EnqueueOptions {
  /** The body to store instead of `request.body` (the part already sent, then the rest). */
  body?: ReadableStream<Uint8Array>;
  /** A replica relayed it: its `X-Forwarded-*` are final. */
  relayed?: boolean;
  /** This replica's record of the channel (counts the enqueue in progress). */
  channel?: Channel;
}

/**
 * Stores a webhook for its channel and answers the sender `--queue-status` (202) with
 * `{"queued": true, "delivery_id": "…"}`, once the store has it whole (durably, for durable
 * stores). The stored head is what the app would have got live (forwarded headers added).
 *
 * @param request The sender's request.
 * @param ctx The server's context (with a queue).
 * @param info The request's info.
 * @param options Body override, relayed flag, channel.
 * @returns The 202 (or 200) answer.
 * @throws {HttpError} 413 for a body over `--max-body-size`; 503 + Retry-After when the store is
 * full or failing.
 */
export async function enqueueWebhook(
  request: ServerRequest,
  ctx: ServerContext,
  info: RequestInfo,
  options: EnqueueOptions = {},
): Promise<Reply> {
  const { config } = ctx;
  const declared = request.bodyLength;
  if (declared > config.maxBodySize) {
    throw new HttpError(413, bodyTooLarge(config.maxBodySize, declared));
  }
  const source = options.body ?? request.stream();
  let tooLarge = false;
  let timedOut = false;
  // The sender must send the body within --request-timeout, as on the live path: nothing else
  // bounds a sender that stops part way (its connection is busy, out of the head timeouts).
  const limited = source &&
    limitBody(source, config.maxBodySize, () => (tooLarge = true), {
      timeout: config.requestTimeout,
      onTimeout: () => (timedOut = true),
    });
  const body = limited?.stream ?? null;
  const channel = options.channel;
  if (channel) channel.enqueuing = (channel.enqueuing ?? 0) + 1;
  let result;
  try {
    result = await ctx.queue!.enqueue(info.id, {
      head: {
        method: request.method,
        target: info.rest + info.search,
        headers: forwardedHeaders(request, {
          remoteIp: info.peer,
          proto: ctx.proto,
          trustForwarded: options.relayed,
        }),
      },
      body: body ?? new Uint8Array(0),
      meta: { peer: info.peer, replica: ctx.serverUrl },
    });
  } catch (error) {
    if (tooLarge) {
      throw new HttpError(413, bodyTooLarge(config.maxBodySize));
    }
    if (timedOut) {
      throw new HttpError(
        408,
        `The request body did not arrive within the server's request timeout of ${config.requestTimeout} ms`,
      );
    }
    if (request.aborted) throw new HttpError(400, "The sender went away mid-body");
    const full = error instanceof QueueFullError;
    if (!full) ctx.metrics.queueStoreError();
    log.warn("Cannot queue a webhook for channel {channelId}: {error}", {
      channelId: info.id,
      error: String(error),
    });
    throw storeFailed(ctx, full);
  } finally {
    limited?.stop();
    if (channel) channel.enqueuing!--;
  }
  ctx.metrics.queueEnqueued();
  if (result.dropped > 0) {
    log.warn(
      "Retention dropped {count} queued webhooks of channel {channelId} to make room",
      { count: result.dropped, channelId: info.id },
    );
    // Which bound: the count one when the channel is at it, else the byte one.
    const depth = await ctx.queue!.depth(info.id).catch(() => undefined);
    ctx.metrics.queueDropped(
      depth && depth.count >= config.queueMaxCount ? "max_count" : "max_bytes",
      result.dropped,
    );
  }
  log.info("Queued webhook {deliveryId} for channel {channelId}", {
    deliveryId: result.id,
    channelId: info.id,
  });
  return Reply.json(config.queueStatus, { queued: true, delivery_id: result.id });
}

/**
 * `source`, erroring once more than `max` bytes passed (`onTooLarge` is called first), or when
 * it has not ended `deadline.timeout` ms after this call (`deadline.onTimeout` first); `stop()`
 * clears the deadline's timer.
 */
function limitBody(
  source: ReadableStream<Uint8Array>,
  max: number,
  onTooLarge: () => void,
  deadline: { timeout: number; onTimeout: () => void },
): { stream: ReadableStream<Uint8Array>; stop: () => void } {
  let total = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stream = source.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      start(controller) {
        timer = setTimeout(() => {
          deadline.onTimeout();
          controller.error(new Error(`The body did not end within ${deadline.timeout} ms`));
        }, deadline.timeout);
      },
      flush() {
        clearTimeout(timer);
      },
      transform(chunk, controller) {
        total += chunk.length;
        if (total > max) {
          onTooLarge();
          controller.error(new RangeError(`The body exceeds ${max} bytes`));
          return;
        }
        controller.enqueue(chunk);
      },
    }),
  );
  return { stream, stop: () => clearTimeout(timer) };
}

/** How often expired queued webhooks are swept from every channel, ms. */
export const QUEUE_SWEEP_INTERVAL = 60_000;

/**
 * Opens the `--queue` store, or none for `off`; logs what a `memory:` store loses on restart and
 * warns a cluster whose replicas do not share the store.
 * @param config The server's configuration.
 * @param clustered Whether the server joins a cluster (`--join`, `--peer-domain`).
 * @returns The store, or undefined.
 * @throws {QueueStoreError} When the store cannot be opened (corrupt database, unreachable Redis).
 */
export async function openConfiguredQueue(
  config: {
    queue: string;
    queueMaxAge: number;
    queueMaxBytes: number;
    queueMaxCount: number;
  },
  clustered: boolean,
): Promise<QueueStore | undefined> {
  if (config.queue === "off") return undefined;
  const queue = await openQueue(config.queue, {
    maxAgeMs: config.queueMaxAge,
    maxBytes: config.queueMaxBytes,
    maxCount: config.queueMaxCount,
  });
  if (queue.kind === "memory") {
    log.info(
      "Queueing webhooks in memory (--queue memory:): queued webhooks are lost when this server stops; use sqlite:<path> or redis:// to keep them",
    );
  }
  if (clustered && queue.kind !== "redis") {
    log.warn(
      "This replica's queue ({kind}) is its own: webhooks it queued are lost with it and other replicas cannot deliver them; use --queue redis:// in a cluster",
      { kind: queue.kind },
    );
  }
  return queue;
}
