/**
 * RFC 6455 framing for both sides: the protocol's constants, frames built unmasked (server to
 * client) or masked so the mask runs over 32-bit words (client to server), and the unmasking of
 * received client frames (the reading side lives in `connection.ts`, where it parses frames in
 * place in the read buffer).
 *
 * @module
 */

import { createHash } from "node:crypto";
import { encoder } from "../_bytes.ts";

/** Random bytes fetched at once for frame masks, so a small frame costs no extra crypto op. */
const MASK_POOL_BYTES = 4 * 1024;

/** Appended to the key before hashing (RFC 6455 §1.3). */
export const WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/** Bytes of randomness in Sec-WebSocket-Key (RFC 6455 §4.1). */
export const KEY_BYTES = 16;
/** Bytes of a frame mask. */
export const MASK_BYTES = 4;
/** Largest header: 2 fixed + 8 extended length + 4 mask. */
export const MAX_FRAME_HEADER_BYTES = 14;
/** Largest control frame payload (RFC 6455 §5.5). */
export const MAX_CONTROL_PAYLOAD_BYTES = 125;
/** Largest close reason: a control payload less the 2-byte code. */
export const MAX_CLOSE_REASON_BYTES = MAX_CONTROL_PAYLOAD_BYTES - 2;
/** Largest length that fits the 7-bit field. */
export const LENGTH_7_MAX = 125;
/** 7-bit length value announcing a 16-bit length. */
export const LENGTH_16_MARK = 126;
/** 7-bit length value announcing a 64-bit length. */
export const LENGTH_64_MARK = 127;
/** Largest 16-bit length. */
export const UINT16_MAX = 0xffff;
/** 2^32, to split a 64-bit length into two words. */
export const UINT32_RANGE = 2 ** 32;
/** First header byte: the final fragment of a message (RFC 6455 §5.2). */
export const FIN_BIT = 0x80;
/** First header byte: the reserved bits, which no extension of ours sets. */
export const RSV_BITS = 0x70;
/** First header byte: the opcode. */
export const OPCODE_BITS = 0x0f;
/** Second header byte: the payload is masked (client to server only). */
export const MASK_BIT = 0x80;
/** Second header byte: the 7-bit payload length. */
export const LENGTH_BITS = 0x7f;
/** Opcode bit shared by every control frame (close, ping, pong). */
export const CONTROL_BIT = 0x08;

/** Frame opcodes (RFC 6455 §5.2). */
export const Opcode = {
  Continuation: 0x0,
  Text: 0x1,
  Binary: 0x2,
  Close: 0x8,
  Ping: 0x9,
  Pong: 0xa,
} as const;

/** Close codes used here (RFC 6455 §7.4). */
export const CloseCode = {
  Normal: 1000,
  GoingAway: 1001,
  ProtocolError: 1002,
  UnsupportedData: 1003,
  NoStatus: 1005,
  Abnormal: 1006,
  InvalidData: 1007,
  TooBig: 1009,
  InternalError: 1011,
} as const;

let maskPool = new Uint8Array();
let maskPoolOffset = 0;

/** Writes 4 fresh random mask bytes into `target` at `offset`. */
function writeMask(target: Uint8Array, offset: number): void {
  if (maskPoolOffset + MASK_BYTES > maskPool.length) {
    maskPool = crypto.getRandomValues(new Uint8Array(MASK_POOL_BYTES));
    maskPoolOffset = 0;
  }
  for (let i = 0; i < MASK_BYTES; i++) target[offset + i] = maskPool[maskPoolOffset + i];
  maskPoolOffset += MASK_BYTES;
}

/**
 * Builds one final frame.
 * @param opcode The frame's opcode.
 * @param payload Its payload (copied).
 * @param masked Mask it, as a client must (RFC 6455 §5.3); a server's frames are unmasked.
 * @returns The frame's bytes.
 */
export function encodeFrame(opcode: number, payload: Uint8Array, masked = true): Uint8Array {
  return masked ? encodeMaskedFrame(opcode, payload) : encodeUnmaskedFrame(opcode, payload);
}

/** Bytes of a frame header before the mask: 2, or 4 or 10 with an extended length. */
function frameHeaderLength(length: number): number {
  return length <= LENGTH_7_MAX ? 2 : length <= UINT16_MAX ? 4 : 10;
}

function writeLength(buffer: Uint8Array, at: number, length: number, maskBit: number): void {
  if (length <= LENGTH_7_MAX) {
    buffer[at + 1] = maskBit | length;
  } else if (length <= UINT16_MAX) {
    buffer[at + 1] = maskBit | LENGTH_16_MARK;
    buffer[at + 2] = length >>> 8;
    buffer[at + 3] = length & 0xff;
  } else {
    buffer[at + 1] = maskBit | LENGTH_64_MARK;
    const view = new DataView(buffer.buffer, buffer.byteOffset);
    view.setUint32(at + 2, Math.floor(length / UINT32_RANGE));
    view.setUint32(at + 6, length >>> 0);
  }
}

/** A server's frame: header, then the payload as it is. */
function encodeUnmaskedFrame(opcode: number, payload: Uint8Array): Uint8Array {
  const headerLength = frameHeaderLength(payload.length);
  const buffer = new Uint8Array(headerLength + payload.length);
  buffer[0] = FIN_BIT | opcode;
  writeLength(buffer, 0, payload.length, 0);
  buffer.set(payload, headerLength);
  return buffer;
}

/**
 * A client's frame. The payload is placed at a 4-byte aligned offset of a fresh buffer so
 * masking runs over 32-bit words; the returned view starts at the header.
 */
function encodeMaskedFrame(opcode: number, payload: Uint8Array): Uint8Array {
  const length = payload.length;
  const headerLength = frameHeaderLength(length) + MASK_BYTES;
  const padding = (MASK_BYTES - (headerLength % MASK_BYTES)) % MASK_BYTES;
  const payloadOffset = padding + headerLength;
  const buffer = new Uint8Array(payloadOffset + length);
  buffer[padding] = FIN_BIT | opcode;
  writeLength(buffer, padding, length, MASK_BIT);
  const maskOffset = payloadOffset - MASK_BYTES;
  writeMask(buffer, maskOffset);
  buffer.set(payload, payloadOffset);
  applyMask(
    buffer.subarray(payloadOffset, payloadOffset + length),
    buffer.subarray(maskOffset, maskOffset + MASK_BYTES),
  );
  return padding === 0 ? buffer : buffer.subarray(padding);
}

/** Scratch space to read a mask as one 32-bit word in the platform's byte order. */
const maskBytes = new Uint8Array(MASK_BYTES);
const maskWord = new Uint32Array(maskBytes.buffer);

/**
 * XORs `data` with a 4-byte mask, in place (masking and unmasking are the same operation), a
 * 32-bit word at a time when `data` is aligned.
 * @param data The payload.
 * @param mask The mask's 4 bytes.
 */
export function applyMask(data: Uint8Array, mask: Uint8Array): void {
  const length = data.length;
  let i = 0;
  const words = length >>> 2;
  if (words > 0 && data.byteOffset % MASK_BYTES === 0) {
    maskBytes.set(mask.subarray(0, MASK_BYTES));
    const word = maskWord[0];
    // Same byte order for mask and data, so a word-wise XOR equals the byte-wise one.
    const view = new Uint32Array(data.buffer, data.byteOffset, words);
    for (let w = 0; w < words; w++) view[w] ^= word;
    i = words << 2;
  }
  for (; i < length; i++) data[i] ^= mask[i & 3];
}

/**
 * The `Sec-WebSocket-Accept` value for a `Sec-WebSocket-Key` (RFC 6455 §4.2.2).
 * @param key The client's key.
 * @returns The base64 SHA-1 of the key and the GUID.
 */
export function websocketAccept(key: string): string {
  return createHash("sha1").update(key + WS_GUID).digest("base64");
}

/** The mask as one 32-bit word, built byte by byte so it matches the platform's byte order. */
const rotatedMask = new Uint8Array(MASK_BYTES);
const rotatedMaskWord = new Uint32Array(rotatedMask.buffer);

/**
 * Bytes of the header {@linkcode encodeFrameInto} writes before a payload of `length` bytes.
 * @param length The payload's length.
 * @param masked Whether the frame carries a mask (a client's).
 * @returns 2 to 14 bytes: the fixed part, the extended length and the mask.
 */
export function frameHeaderSize(length: number, masked: boolean): number {
  return frameHeaderLength(length) + (masked ? MASK_BYTES : 0);
}

/**
 * Writes one final frame into `out` at `offset`: masked (a client's), the payload masked 32 bits
 * at a time where `words` (a `Uint32Array` over all of `out`'s buffer, `out` starting at its byte
 * 0) reaches it; or unmasked (a server's), the payload copied as it is.
 * @param out Where to write; {@linkcode frameHeaderSize} plus the payload's length must fit.
 * @param words `out`'s buffer as 32-bit words.
 * @param offset Where the frame starts.
 * @param opcode The frame's opcode.
 * @param payload The payload (copied).
 * @param masked Mask it (client to server).
 * @returns The offset just past the frame.
 */
export function encodeFrameInto(
  out: Uint8Array,
  words: Uint32Array,
  offset: number,
  opcode: number,
  payload: Uint8Array,
  masked: boolean,
): number {
  const length = payload.length;
  out[offset] = FIN_BIT | opcode;
  writeLength(out, offset, length, masked ? MASK_BIT : 0);
  const at = offset + frameHeaderLength(length);
  if (!masked) {
    out.set(payload, at);
    return at + length;
  }
  const maskOffset = at;
  writeMask(out, maskOffset);
  const start = maskOffset + MASK_BYTES;
  const end = start + length;
  out.set(payload, start);
  // Byte by byte up to a word boundary, then whole words, then the tail.
  let i = start;
  const firstWord = Math.min(end, (start + MASK_BYTES - 1) & ~(MASK_BYTES - 1));
  for (; i < firstWord; i++) out[i] ^= out[maskOffset + ((i - start) & (MASK_BYTES - 1))];
  const lastWord = end & ~(MASK_BYTES - 1);
  if (i < lastWord) {
    // The mask rotated to start at byte i of the payload.
    for (let k = 0; k < MASK_BYTES; k++) {
      rotatedMask[k] = out[maskOffset + ((i - start + k) & (MASK_BYTES - 1))];
    }
    const mask = rotatedMaskWord[0];
    for (let w = i >>> 2; w < lastWord >>> 2; w++) words[w] ^= mask;
    i = lastWord;
  }
  for (; i < end; i++) out[i] ^= out[maskOffset + ((i - start) & (MASK_BYTES - 1))];
  return end;
}

/** Close codes that may appear in a close frame (RFC 6455 §7.4, IANA registry). */
export function isValidCloseCode(code: number): boolean {
  return Number.isInteger(code) &&
    ((code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
      (code >= 3000 && code <= 4999));
}

/** The first bytes of `text` as UTF-8, at most `maxBytes`, never cutting a character. */
export function truncateUtf8(text: string, maxBytes: number): Uint8Array {
  const bytes = encoder.encode(text);
  if (bytes.length <= maxBytes) return bytes;
  let end = maxBytes;
  // Do not cut a multi-byte character: back up over continuation bytes (10xxxxxx).
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end);
}
