/**
 * memberlist-compatible wire codec: pure functions, no I/O (apart from reading a stream the
 * caller hands in). Speaks HashiCorp memberlist's protocol as 0.2.2 and 0.5.x write it; see
 * `shared/memberlist/PROTOCOL.md`.
 *
 * Layers, outermost first:
 * - UDP: `[label f4 len label] [AES-GCM blob] [CRC 0c crc32] message` where a message may be
 *   `compress` (09, LZW) or `compound` (07) at any depth. Use {@linkcode encodeUdpPacket} /
 *   {@linkcode decodeUdpPacket}; {@linkcode splitIntoPackets} groups encoded messages under a
 *   byte budget ({@linkcode udpOverhead} says how much the wrappers take).
 * - TCP: `[label] [0a u32 blob] [09 compress] <type><body>`, one request and at most one reply
 *   per connection. Use {@linkcode encodeStreamMessage} / {@linkcode readStreamMessage}
 *   (incremental: it reads exactly one message from a reader).
 * - Single messages: {@linkcode encodeMessage} / {@linkcode decodeMessage}; layer helpers
 *   (compound, compress, CRC, LZW, encryption, label) are exported for tests and tools.
 *
 * msgpack is written the way Go's memberlist writes it (maps with byte-wise sorted keys,
 * strings and byte fields as msgpack str, smallest unsigned ints), so golden captures
 * re-encode byte for byte; the decoder accepts every form Go accepts (str/bin, any int family,
 * any key order, unknown keys). Every decoder throws only {@linkcode WireDecodeError} on bad
 * input; encoders throw `TypeError`/`RangeError` on invalid messages.
 *
 * @example
 * ```ts
 * import { decodeUdpPacket, encodeUdpPacket, ipToBytes } from "./mod.ts";
 *
 * const keys = [new Uint8Array(16)];
 * const packet = await encodeUdpPacket([
 *   {
 *     type: "ping", seqNo: 1, node: "node-a",
 *     sourceAddr: ipToBytes("127.0.0.22"), sourcePort: 7946, sourceNode: "node-b",
 *   },
 * ], { crc: true, compress: true, keys });
 * const [ping] = await decodeUdpPacket(packet, { keys });
 * console.log(ping.type); // "ping"
 * ```
 *
 * @example TCP
 * ```ts
 * import { encodeStreamMessage, readStreamMessage } from "./mod.ts";
 *
 * // dialer: write the request (label header only on the dialer's request)
 * const request = await encodeStreamMessage({ type: "pushPull", join: true, nodes: [], userState: new Uint8Array() });
 * // acceptor: read it from the connection (`conn.readable.getReader()` or bytes)
 * const { message } = await readStreamMessage(request);
 * // acceptor's reply and the dialer reading it pass `reply: true`
 * const reply = await encodeStreamMessage({ type: "err", error: "nope" }, { reply: true });
 * await readStreamMessage(reply, { reply: true });
 * ```
 *
 * @module
 */

export * from "./types.ts";
export * from "./errors.ts";
export * from "./limits.ts";
export { bytesToIp, ipToBytes } from "./address.ts";
export { decodeMessage, encodeMessage, type EncodeMessageOptions } from "./messages.ts";
export { type CompoundParts, decodeCompound, encodeCompound } from "./compound.ts";
export { lzwCompress, lzwDecompress, type LzwDecompressOptions } from "./lzw.ts";
export { decodeCompress, type DecodeCompressOptions, encodeCompress } from "./compress.ts";
export { crc32, decodeCrc, encodeCrc } from "./crc.ts";
export {
  type DecryptOptions,
  decryptPayload,
  encryptionOverhead,
  type EncryptionVersion,
  type EncryptOptions,
  encryptPayload,
} from "./crypto.ts";
export { encodeLabelHeader, type LabelSplit, stripLabelHeader } from "./label.ts";
export {
  type DecodeUdpOptions,
  decodeUdpPacket,
  type EncodeUdpOptions,
  encodeUdpPacket,
  splitIntoPackets,
  udpOverhead,
  type UdpOverheadOptions,
} from "./udp.ts";
export {
  encodeStreamMessage,
  type EncodeStreamOptions,
  readStreamMessage,
  type ReadStreamOptions,
  type ReadStreamResult,
  type StreamSource,
} from "./stream.ts";
