/**
 * Binary frame codec. A WebSocket message carries one or more frames back to back:
 *
 * ```
 * offset 0  u8   type      (FrameType)
 * offset 1  u8   flags     (reserved, must be 0)
 * offset 2  u32  streamId  (big-endian, > 0; 0 only for NOTICE)
 * offset 6  u32  length    (big-endian, payload bytes)
 * offset 10 ...  payload
 * ```
 *
 * @module
 */
import { ProtocolError } from "./errors.ts";
import { MAX_CHUNK_SIZE, MAX_HEAD_SIZE, MAX_MESSAGE_SIZE } from "./limits.ts";

/** Frame types. */
export const FrameType = {
  /** Request head (server → client) or response head (client → server), JSON. */
  Head: 1,
  /** A body chunk of at most {@linkcode MAX_CHUNK_SIZE} bytes. */
  Data: 2,
  /** The body is complete; no payload. */
  End: 3,
  /** The stream is aborted; JSON `{code, message}`. */
  Reset: 4,
  /** Grants the peer more credit; payload u32 byte count. */
  Window: 5,
  /**
   * Client → server, on a queued delivery's stream id: the app answered; JSON
   * `[deliveryId, status]`. Only sent for queued deliveries (see `protocol/queued.ts`).
   */
  Ack: 6,
  /**
   * Client → server, on a queued delivery's stream id: the app was not reached (`unreachable`)
   * or did not answer in time (`timeout`); JSON `[deliveryId, reason]`. The server retries later.
   */
  Nack: 7,
  /**
   * Server → client, connection-level (stream id 0, the only frame type allowed it): JSON
   * `{"dropped": n, "queued": m}`, sent once after attach to a client that asked for queueing.
   */
  Notice: 8,
} as const;

/** One of the values of {@linkcode FrameType}. */
export type FrameType = typeof FrameType[keyof typeof FrameType];

/** A decoded frame. `payload` may be a view into the message it came from. */
export interface Frame {
  /** What the frame carries. */
  type: FrameType;
  /** The stream it belongs to (> 0). */
  streamId: number;
  /** The payload bytes. */
  payload: Uint8Array;
}

/** Bytes of the fixed frame header. */
export const FRAME_HEADER_SIZE = 10;

const EMPTY = new Uint8Array(0);

/** Largest payload allowed for each frame type. */
const MAX_PAYLOAD: Record<FrameType, number> = {
  [FrameType.Head]: MAX_HEAD_SIZE,
  [FrameType.Data]: MAX_CHUNK_SIZE,
  [FrameType.End]: 0,
  [FrameType.Reset]: 4096,
  [FrameType.Window]: 4,
  [FrameType.Ack]: 4096,
  [FrameType.Nack]: 4096,
  [FrameType.Notice]: 4096,
};

/**
 * Encodes frames into one WebSocket message.
 *
 * @param frames The frames, written in order.
 * @returns The message bytes.
 * @example
 * ```ts
 * const msg = encodeFrames([{ type: FrameType.End, streamId: 1, payload: new Uint8Array() }]);
 * ```
 */
export function encodeFrames(frames: readonly Frame[]): Uint8Array {
  let size = 0;
  for (const frame of frames) size += FRAME_HEADER_SIZE + frame.payload.length;
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  let offset = 0;
  for (const frame of frames) {
    out[offset] = frame.type;
    view.setUint32(offset + 2, frame.streamId);
    view.setUint32(offset + 6, frame.payload.length);
    out.set(frame.payload, offset + FRAME_HEADER_SIZE);
    offset += FRAME_HEADER_SIZE + frame.payload.length;
  }
  return out;
}

/**
 * Writes one frame header (type, flags 0, stream id, payload length) into `out` at `offset`; the
 * payload goes right after it.
 *
 * @param out The message being built.
 * @param offset Where the frame starts; {@linkcode FRAME_HEADER_SIZE} bytes must be free there.
 * @param type The frame type.
 * @param streamId The stream id (u32).
 * @param length The payload's length (u32).
 */
export function writeFrameHeader(
  out: Uint8Array,
  offset: number,
  type: FrameType,
  streamId: number,
  length: number,
): void {
  out[offset] = type;
  out[offset + 1] = 0;
  writeUint32(out, offset + 2, streamId);
  writeUint32(out, offset + 6, length);
}

/** Writes a u32 big-endian. */
function writeUint32(out: Uint8Array, offset: number, value: number): void {
  out[offset] = value >>> 24;
  out[offset + 1] = value >>> 16;
  out[offset + 2] = value >>> 8;
  out[offset + 3] = value;
}

/**
 * Decodes every frame of one WebSocket message, checking each length and type.
 *
 * @param message The message bytes.
 * @returns The frames, whose payloads are views into `message`.
 * @throws {ProtocolError} When the message is empty, truncated, too large or holds an unknown
 * frame type, a zero stream id, non-zero flags or an oversized payload.
 */
export function decodeFrames(message: Uint8Array): Frame[] {
  const frames: Frame[] = [];
  forEachFrame(message, (type, streamId, payload) => frames.push({ type, streamId, payload }));
  return frames;
}

/**
 * Checks every frame of one WebSocket message (as {@linkcode decodeFrames} does), then hands
 * each to `visit` in order, without building frame objects. Nothing is visited when any frame
 * is invalid.
 *
 * @param message The message bytes.
 * @param visit Called per frame; the payload is a view into `message` (or an empty array).
 * @throws {ProtocolError} As {@linkcode decodeFrames}; and whatever `visit` throws.
 */
export function forEachFrame(
  message: Uint8Array,
  visit: (type: FrameType, streamId: number, payload: Uint8Array) => void,
): void {
  checkFrames(message);
  let offset = 0;
  while (offset < message.length) {
    const length = readUint32(message, offset + 6);
    const start = offset + FRAME_HEADER_SIZE;
    visit(
      message[offset] as FrameType,
      readUint32(message, offset + 2),
      length === 0 ? EMPTY : message.subarray(start, start + length),
    );
    offset = start + length;
  }
}

/** Reads a u32 big-endian. */
function readUint32(bytes: Uint8Array, offset: number): number {
  return ((bytes[offset] << 24) | (bytes[offset + 1] << 16) | (bytes[offset + 2] << 8) |
    bytes[offset + 3]) >>> 0;
}

/** Throws the {@linkcode ProtocolError} {@linkcode decodeFrames} documents for a bad message. */
function checkFrames(message: Uint8Array): void {
  if (message.length === 0) throw new ProtocolError("Cannot decode frames: empty message");
  if (message.length > MAX_MESSAGE_SIZE) {
    throw new ProtocolError(
      `Cannot decode frames: message of ${message.length} bytes exceeds ${MAX_MESSAGE_SIZE}`,
    );
  }
  let offset = 0;
  while (offset < message.length) {
    if (message.length - offset < FRAME_HEADER_SIZE) {
      throw new ProtocolError(
        `Cannot decode frame at offset ${offset}: ${
          message.length - offset
        } bytes left, header needs ${FRAME_HEADER_SIZE}`,
      );
    }
    const type = message[offset] as FrameType;
    const maxPayload = MAX_PAYLOAD[type];
    if (maxPayload === undefined) {
      throw new ProtocolError(`Cannot decode frame at offset ${offset}: unknown type ${type}`);
    }
    if (message[offset + 1] !== 0) {
      throw new ProtocolError(`Cannot decode frame at offset ${offset}: flags must be 0`);
    }
    const streamId = readUint32(message, offset + 2);
    if (streamId === 0 && type !== FrameType.Notice) {
      throw new ProtocolError(`Cannot decode frame at offset ${offset}: stream id 0`);
    }
    const length = readUint32(message, offset + 6);
    if (length > maxPayload) {
      throw new ProtocolError(
        `Cannot decode frame at offset ${offset}: payload of ${length} bytes exceeds ${maxPayload} for type ${type}`,
      );
    }
    const start = offset + FRAME_HEADER_SIZE;
    if (start + length > message.length) {
      throw new ProtocolError(
        `Cannot decode frame at offset ${offset}: length ${length} exceeds the ${
          message.length - start
        } bytes left`,
      );
    }
    offset = start + length;
  }
}
