/**
 * Payloads of the queue's frames: ACK and NACK (client → server, on a queued delivery's stream
 * id) and NOTICE (server → client, stream id 0). Requests from the queue are ordinary streams
 * whose HEAD carries the delivery id and attempt (see `RequestHead.delivery`).
 *
 * @example
 * ```ts
 * import { decodeAck, encodeAck } from "./queued.ts";
 * decodeAck(encodeAck({ id: "d1", status: 200 })); // { id: "d1", status: 200 }
 * ```
 *
 * @module
 */
import { ProtocolError } from "./errors.ts";

/** ACK: the app answered a queued delivery with `status`; the server deletes it. */
export interface AckInfo {
  /** The delivery id. */
  id: string;
  /** The app's HTTP status; 0 when the client skipped it as already acked. */
  status: number;
}

/**
 * Why a queued delivery was not delivered: it is retried with backoff. `skipped`: a chained
 * delivery not sent to the app because the one before it failed (pipelined drains only).
 */
export type NackReason = "unreachable" | "timeout" | "error" | "skipped";

/** NACK: the app did not get or answer a queued delivery. */
export interface NackInfo {
  /** The delivery id. */
  id: string;
  /** Why. */
  reason: NackReason;
}

/** NOTICE: what the server tells a client right after it attached. */
export interface NoticeInfo {
  /** Deliveries retention dropped since the client last attached. */
  dropped: number;
  /** Deliveries waiting in the queue. */
  queued: number;
}

const NACK_REASONS: readonly string[] = ["unreachable", "timeout", "error", "skipped"];
const ID = /^[A-Za-z0-9._~-]{1,128}$/;
const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

function parse(bytes: Uint8Array, what: string): unknown {
  try {
    return JSON.parse(decoder.decode(bytes));
  } catch (cause) {
    throw new ProtocolError(`Cannot decode ${what}: not UTF-8 JSON`, { cause });
  }
}

/**
 * Encodes an ACK payload.
 * @param info Delivery id and status.
 * @returns UTF-8 JSON `[id, status]`.
 */
export function encodeAck(info: AckInfo): Uint8Array {
  return encoder.encode(JSON.stringify([info.id, info.status]));
}

/**
 * Decodes an ACK payload.
 * @param bytes The payload.
 * @returns Delivery id and status.
 * @throws {ProtocolError} When malformed.
 */
export function decodeAck(bytes: Uint8Array): AckInfo {
  const value = parse(bytes, "ack");
  if (
    !Array.isArray(value) || value.length !== 2 || typeof value[0] !== "string" ||
    !ID.test(value[0]) || !Number.isInteger(value[1]) || value[1] < 0 || value[1] > 599
  ) {
    throw new ProtocolError("Cannot decode ack: expected [deliveryId, status]");
  }
  return { id: value[0], status: value[1] };
}

/**
 * Encodes a NACK payload.
 * @param info Delivery id and reason.
 * @returns UTF-8 JSON `[id, reason]`.
 */
export function encodeNack(info: NackInfo): Uint8Array {
  return encoder.encode(JSON.stringify([info.id, info.reason]));
}

/**
 * Decodes a NACK payload.
 * @param bytes The payload.
 * @returns Delivery id and reason.
 * @throws {ProtocolError} When malformed.
 */
export function decodeNack(bytes: Uint8Array): NackInfo {
  const value = parse(bytes, "nack");
  if (
    !Array.isArray(value) || value.length !== 2 || typeof value[0] !== "string" ||
    !ID.test(value[0]) || !NACK_REASONS.includes(value[1])
  ) {
    throw new ProtocolError(
      "Cannot decode nack: expected [deliveryId, unreachable|timeout|error|skipped]",
    );
  }
  return { id: value[0], reason: value[1] };
}

/**
 * Encodes a NOTICE payload.
 * @param info Counts.
 * @returns UTF-8 JSON `{"dropped": n, "queued": m}`.
 */
export function encodeNotice(info: NoticeInfo): Uint8Array {
  return encoder.encode(JSON.stringify({ dropped: info.dropped, queued: info.queued }));
}

/**
 * Decodes a NOTICE payload.
 * @param bytes The payload.
 * @returns Counts.
 * @throws {ProtocolError} When malformed.
 */
export function decodeNotice(bytes: Uint8Array): NoticeInfo {
  const value = parse(bytes, "notice") as Record<string, unknown> | null;
  const count = (n: unknown) => Number.isInteger(n) && (n as number) >= 0;
  if (
    typeof value !== "object" || value === null || !count(value.dropped) || !count(value.queued)
  ) {
    throw new ProtocolError('Cannot decode notice: expected {"dropped": n, "queued": m}');
  }
  return { dropped: value.dropped as number, queued: value.queued as number };
}
