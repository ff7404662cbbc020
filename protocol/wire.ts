/**
 * Names and codes that travel on the wire, each spelled once: the headers clients and replicas
 * send, the channel-id pattern every route and replica agrees on, and the stream reset codes with
 * the HTTP status and message a sender gets for each.
 *
 * @example
 * ```ts
 * import { isChannelId, RESETS } from "./wire.ts";
 * isChannelId("0b9c4a52-3f1e-4c2a-9d1e-1f2a3b4c5d6e"); // true
 * RESETS.target_timeout.status; // 504
 * ```
 *
 * @module
 */

/** Upgrade request header a client sends its channel secret in (a replica verifying does too). */
export const CHANNEL_SECRET_HEADER = "x-channel-secret";

/** Upgrade request header that carries the tunnel protocol version the client speaks. */
export const PROTOCOL_HEADER = "x-wow-protocol";

/**
 * Upgrade request header with the client's offline mode (`--offline`): sending it also says the
 * client understands queued deliveries (5-item request heads, ACK/NACK/NOTICE frames), so a
 * server never sends those to a client without it. The server echoes the mode it applies on the
 * 101 answer.
 */
export const OFFLINE_HEADER = "x-wow-offline";

/**
 * Upgrade request header with the most queued deliveries a client takes unanswered at once
 * (it delivers them to the app one after another, in order, and understands chained heads and
 * `skipped` NACKs). The server answers with the window it uses; a client that does not send it
 * (an older release) gets one delivery at a time and never a chained head. An older server
 * ignores it and sends one at a time, unchained, so the client needs no answer to be safe.
 */
export const QUEUE_WINDOW_HEADER = "x-wow-queue-window";

/** Largest window either side offers: beyond it a drain gains nothing but memory. */
export const MAX_QUEUE_WINDOW = 64;

/**
 * What happens to a channel's webhooks while its client is away or its app unreachable:
 * `queue` stores them (sender gets 202), `reject` answers 503 + `Retry-After` (the sender
 * retries), `auto` queues except signatures that expire and whose senders retry (Stripe, Slack,
 * Standard Webhooks / Svix), which get 503.
 */
export const OFFLINE_MODES = ["auto", "queue", "reject"] as const;

/** One of {@linkcode OFFLINE_MODES}. */
export type OfflineMode = typeof OFFLINE_MODES[number];

/**
 * Whether `text` is an offline mode.
 * @param text Candidate.
 * @returns Whether it is one of {@linkcode OFFLINE_MODES}.
 */
export function isOfflineMode(text: unknown): text is OfflineMode {
  return (OFFLINE_MODES as readonly unknown[]).includes(text);
}

/** Header carrying the replica-to-replica credential (derived from the gossip key). */
export const CLUSTER_AUTH_HEADER = "x-wow-cluster-auth";

/** Header marking a webhook relayed by another replica (a relayed webhook is never relayed again). */
export const FORWARDED_HEADER = "x-wow-forwarded";

/**
 * Source of the channel-id pattern, without anchors: a lower-case UUID v4 (for use inside a larger
 * pattern, e.g. a route).
 */
export const CHANNEL_ID_PATTERN =
  "[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}";

/** A whole channel id: {@linkcode CHANNEL_ID_PATTERN} anchored. */
export const CHANNEL_ID_REGEX: RegExp = new RegExp(`^${CHANNEL_ID_PATTERN}$`);

/**
 * Whether `text` is a well-formed channel id (a lower-case UUID v4).
 * @param text Candidate id.
 * @returns Whether it matches {@linkcode CHANNEL_ID_REGEX}.
 */
export function isChannelId(text: string): boolean {
  return CHANNEL_ID_REGEX.test(text);
}

/**
 * Why a stream was reset, with the HTTP status and message a webhook's sender gets when it happens
 * before the response head arrived. `cancelled` is the sender going away or the server giving up
 * (no one is left to read the answer, so its status is nominal).
 */
export const RESETS = {
  /** The client could not connect to the local app. */
  target_unreachable: { status: 502, message: "The client could not reach its local app" },
  /** The local app did not answer in time. */
  target_timeout: {
    status: 504,
    message: "The local app did not answer within the client's transfer timeout",
  },
  /** The local app's connection failed mid-exchange. */
  target_error: { status: 502, message: "The connection to the local app failed" },
  /** The sender went away or the server gave up. */
  cancelled: { status: 502, message: "The request was cancelled" },
  /** The request body exceeded the server's limit. */
  body_too_large: { status: 413, message: "The request body is too large" },
  /** The WebSocket closed with the stream open. */
  tunnel_closed: { status: 502, message: "The client disconnected before answering" },
  /** The client is stopping and takes no new requests. */
  shutting_down: { status: 503, message: "The client is shutting down; retry later" },
} as const;

/** A reset code: a key of {@linkcode RESETS}. */
export type ResetCode = keyof typeof RESETS;

/** All reset codes, for validating decoded frames. */
export const RESET_CODES: readonly ResetCode[] = Object.keys(RESETS) as ResetCode[];
