/**
 * RFC 6455 framing for the client side: the protocol's constants, and masked frames built so
 * the mask runs over 32-bit words (the reading side lives in `connection.ts`, where it parses
 * frames in place in the read buffer).
 *
 * @module
 */

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
  NoStatus: 1005,
  Abnormal: 1006,
  InvalidData: 1007,
  TooBig: 1009,
  InternalError: 1011,
} as const;

/** UTF-8 encoder. */
export const encoder: TextEncoder = new TextEncoder();

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
 * Builds one masked, final client frame. The payload is placed at a 4-byte aligned offset of a
 * fresh buffer so masking runs over 32-bit words; the returned view starts at the header.
 */
export function encodeFrame(opcode: number, payload: Uint8Array): Uint8Array {
  const length = payload.length;
  const extended = length <= LENGTH_7_MAX ? 0 : length <= UINT16_MAX ? 2 : 8;
  const headerLength = 2 + extended + MASK_BYTES;
  const padding = (MASK_BYTES - (headerLength % MASK_BYTES)) % MASK_BYTES;
  const payloadOffset = padding + headerLength;
  const buffer = new Uint8Array(payloadOffset + length);
  buffer[padding] = FIN_BIT | opcode;
  if (extended === 0) {
    buffer[padding + 1] = MASK_BIT | length;
  } else if (extended === 2) {
    buffer[padding + 1] = MASK_BIT | LENGTH_16_MARK;
    new DataView(buffer.buffer).setUint16(padding + 2, length);
  } else {
    buffer[padding + 1] = MASK_BIT | LENGTH_64_MARK;
    const view = new DataView(buffer.buffer);
    view.setUint32(padding + 2, Math.floor(length / UINT32_RANGE));
    view.setUint32(padding + 6, length >>> 0);
  }
  const maskOffset = payloadOffset - MASK_BYTES;
  writeMask(buffer, maskOffset);
  buffer.set(payload, payloadOffset);
  const words = length >>> 2;
  if (words > 0) {
    // Same byte order for mask and data, so a word-wise XOR equals the byte-wise one.
    const mask = new Uint32Array(buffer.buffer, maskOffset, 1)[0];
    const data = new Uint32Array(buffer.buffer, payloadOffset, words);
    for (let i = 0; i < words; i++) data[i] ^= mask;
  }
  for (let i = words << 2; i < length; i++) {
    buffer[payloadOffset + i] ^= buffer[maskOffset + (i & (MASK_BYTES - 1))];
  }
  return padding === 0 ? buffer : buffer.subarray(padding);
}

/** The mask as one 32-bit word, built byte by byte so it matches the platform's byte order. */
const maskBytes = new Uint8Array(MASK_BYTES);
const maskWord = new Uint32Array(maskBytes.buffer);

/**
 * Bytes of the header {@linkcode encodeFrameInto} writes before a payload of `length` bytes.
 * @param length The payload's length.
 * @returns 2 to 14 bytes: the fixed part, the extended length and the mask.
 */
export function frameHeaderSize(length: number): number {
  return 2 + (length <= LENGTH_7_MAX ? 0 : length <= UINT16_MAX ? 2 : 8) + MASK_BYTES;
}

/**
 * Writes one masked, final client frame into `out` at `offset`, the payload masked 32 bits at a
 * time where `words` (a `Uint32Array` over all of `out`'s buffer, `out` starting at its byte 0)
 * reaches it.
 * @param out Where to write; {@linkcode frameHeaderSize} plus the payload's length must fit.
 * @param words `out`'s buffer as 32-bit words.
 * @param offset Where the frame starts.
 * @param opcode The frame's opcode.
 * @param payload The payload (copied).
 * @returns The offset just past the frame.
 */
export function encodeFrameInto(
  out: Uint8Array,
  words: Uint32Array,
  offset: number,
  opcode: number,
  payload: Uint8Array,
): number {
  const length = payload.length;
  out[offset] = FIN_BIT | opcode;
  let at = offset + 2;
  if (length <= LENGTH_7_MAX) {
    out[offset + 1] = MASK_BIT | length;
  } else if (length <= UINT16_MAX) {
    out[offset + 1] = MASK_BIT | LENGTH_16_MARK;
    out[at++] = length >>> 8;
    out[at++] = length & 0xff;
  } else {
    out[offset + 1] = MASK_BIT | LENGTH_64_MARK;
    writeUint32(out, at, Math.floor(length / UINT32_RANGE));
    writeUint32(out, at + 4, length >>> 0);
    at += 8;
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
      maskBytes[k] = out[maskOffset + ((i - start + k) & (MASK_BYTES - 1))];
    }
    const mask = maskWord[0];
    for (let w = i >>> 2; w < lastWord >>> 2; w++) words[w] ^= mask;
    i = lastWord;
  }
  for (; i < end; i++) out[i] ^= out[maskOffset + ((i - start) & (MASK_BYTES - 1))];
  return end;
}

/** Writes a u32 big-endian (network byte order). */
function writeUint32(out: Uint8Array, offset: number, value: number): void {
  out[offset] = value >>> 24;
  out[offset + 1] = value >>> 16;
  out[offset + 2] = value >>> 8;
  out[offset + 3] = value;
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
