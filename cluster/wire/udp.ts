/**
 * UDP packets: label, encryption, CRC, compress and compound layers (PROTOCOL.md §3).
 *
 * @module
 */

import { decodeCompound, encodeCompound } from "./compound.ts";
import { decodeCompress, encodeCompress } from "./compress.ts";
import { decodeCrc, encodeCrc } from "./crc.ts";
import {
  decryptPayload,
  encryptionOverhead,
  type EncryptionVersion,
  encryptPayload,
} from "./crypto.ts";
import { WireDecodeError } from "./errors.ts";
import { encodeLabelHeader, stripLabelHeader } from "./label.ts";
import {
  COMPOUND_HEADER_OVERHEAD,
  COMPOUND_PART_OVERHEAD,
  CRC_OVERHEAD,
  LABEL_HEADER_OVERHEAD,
  MAX_COMPOUND_PARTS,
  MAX_UDP_DECOMPRESSED_BYTES,
  MAX_UDP_PACKET_BYTES,
  MAX_UDP_TOTAL_DECOMPRESSED_BYTES,
  MAX_WRAPPER_DEPTH,
} from "./limits.ts";
import { type DecodeContext, decodeMessageWith, encodeMessage } from "./messages.ts";
import { type Keyring, type Message, MessageType } from "./types.ts";

const utf8Encoder = new TextEncoder();

/** Options for {@linkcode encodeUdpPacket}. */
export interface EncodeUdpOptions {
  /** LZW-compress the packet, kept only when that makes it smaller (as Go). @default false */
  compress?: boolean;
  /** Add the CRC wrapper (Go does for gossip to peers with PMax ≥ 5). @default false */
  crc?: boolean;
  /** Keyring; when non-empty the packet is encrypted with `keys[0]`. @default none */
  keys?: Keyring;
  /** Encryption version (0 only for ProtocolVersion 1 clusters). @default 1 */
  encryptionVersion?: EncryptionVersion;
  /** Cluster label (memberlist 0.3.0+); "" sends no header. @default "" */
  label?: string;
}

/**
 * Builds one UDP packet from messages: one message alone or several in a compound, then
 * compress (if smaller), CRC, encrypt and label, in Go's order. Staying within the packet
 * budget is the caller's job (see {@linkcode splitIntoPackets}, {@linkcode udpOverhead}).
 *
 * @param messages Messages or already-encoded messages (1–255).
 * @param options Layers to add.
 * @returns The datagram.
 * @throws {TypeError|RangeError} On invalid messages, keys or label.
 */
export async function encodeUdpPacket(
  messages: readonly (Message | Uint8Array)[],
  options: EncodeUdpOptions = {},
): Promise<Uint8Array> {
  const parts = messages.map((m) => m instanceof Uint8Array ? m : encodeMessage(m));
  if (parts.length === 0) throw new RangeError("Cannot encode UDP packet: no messages");
  for (const p of parts) {
    if (p.length === 0) throw new RangeError("Cannot encode UDP packet: empty message");
  }
  let body = parts.length === 1 ? parts[0] : encodeCompound(parts);
  if (options.compress) {
    const compressed = encodeCompress(body);
    if (compressed.length < body.length) body = compressed;
  }
  if (options.crc) body = encodeCrc(body);
  const label = options.label ?? "";
  const header = label ? encodeLabelHeader(label) : new Uint8Array(0);
  if (options.keys && options.keys.length > 0) {
    body = await encryptPayload(body, options.keys[0], {
      version: options.encryptionVersion ?? 1,
      additionalData: header.subarray(LABEL_HEADER_OVERHEAD),
    });
  }
  if (header.length === 0) return body;
  const out = new Uint8Array(header.length + body.length);
  out.set(header);
  out.set(body, header.length);
  return out;
}

/** Options for {@linkcode udpOverhead}. */
export type UdpOverheadOptions = Pick<
  EncodeUdpOptions,
  "crc" | "keys" | "encryptionVersion" | "label"
>;

/**
 * Most bytes the CRC, encryption and label layers add to a packet; subtract it (and the
 * compound overhead, which {@linkcode splitIntoPackets} counts) from the 1400-byte budget.
 *
 * @param options The layers that will be used.
 * @returns Overhead in bytes.
 */
export function udpOverhead(options: UdpOverheadOptions = {}): number {
  let n = 0;
  if (options.crc) n += CRC_OVERHEAD;
  if (options.keys && options.keys.length > 0) {
    n += encryptionOverhead(options.encryptionVersion ?? 1);
  }
  const label = options.label ?? "";
  if (label) n += LABEL_HEADER_OVERHEAD + utf8Encoder.encode(label).length;
  return n;
}

/**
 * Groups encoded messages, in order, into packets whose body fits `budget` bytes: a group of
 * one costs its length, a compound costs 2 + Σ(length + 2) (Go's accounting), at most 255
 * parts. A message larger than `budget` gets a group of its own; drop it if that is not wanted.
 *
 * @param messages Encoded messages.
 * @param budget Bytes available for the body (e.g. `UDP_BUFFER_SIZE - udpOverhead(opts)`).
 * @returns Groups to pass to {@linkcode encodeUdpPacket}, one packet each.
 *
 * @example
 * ```ts
 * import { splitIntoPackets, UDP_BUFFER_SIZE, udpOverhead } from "./mod.ts";
 * const groups = splitIntoPackets([new Uint8Array(900), new Uint8Array(600)], UDP_BUFFER_SIZE - udpOverhead({ crc: true }));
 * groups.length; // 2
 * ```
 */
export function splitIntoPackets(messages: readonly Uint8Array[], budget: number): Uint8Array[][] {
  const groups: Uint8Array[][] = [];
  let group: Uint8Array[] = [];
  let used = COMPOUND_HEADER_OVERHEAD;
  for (const m of messages) {
    const cost = m.length + COMPOUND_PART_OVERHEAD;
    const fitsAlone = group.length === 0;
    const fits = group.length < MAX_COMPOUND_PARTS && used + cost <= budget;
    if (!fits && !fitsAlone) {
      groups.push(group);
      group = [];
      used = COMPOUND_HEADER_OVERHEAD;
    }
    group.push(m);
    used += cost;
  }
  if (group.length > 0) groups.push(group);
  return groups;
}

/** Options for {@linkcode decodeUdpPacket}. */
export interface DecodeUdpOptions {
  /** Keyring; when non-empty every packet must decrypt with one of the keys. @default none */
  keys?: Keyring;
  /** Our cluster label; packets must carry exactly this label ("" = no header). @default "" */
  label?: string;
  /**
   * Go's `GossipVerifyIncoming`: when false and keys are set, a packet that does not decrypt
   * is read as plaintext (rolling key adoption). @default true
   */
  verifyIncoming?: boolean;
  /**
   * Called for each part of a compound that is dropped (truncated, undecodable or of a type
   * not valid over UDP); the rest of the packet is still returned, as Go does.
   */
  onWarning?: (error: WireDecodeError) => void;
}

const UDP_INVALID_TYPES: ReadonlySet<number> = new Set([
  MessageType.pushPull,
  MessageType.encrypt,
  MessageType.hasCrc,
  MessageType.err,
  MessageType.hasLabel,
]);

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function collect(
  bytes: Uint8Array,
  ctx: DecodeContext,
  out: Message[],
  warn: (e: WireDecodeError) => void,
): void {
  if (ctx.depth > MAX_WRAPPER_DEPTH) {
    throw new WireDecodeError(
      "limit",
      `Cannot decode packet: wrappers nested deeper than ${MAX_WRAPPER_DEPTH}`,
    );
  }
  if (bytes.length === 0) {
    throw new WireDecodeError("truncated", "Cannot decode message: missing message type byte");
  }
  const type = bytes[0];
  if (type === MessageType.compound) {
    const { parts, truncated } = decodeCompound(bytes);
    if (truncated > 0) {
      warn(
        new WireDecodeError("truncated", `Compound request had ${truncated} truncated messages`),
      );
    }
    for (const part of parts) {
      const inner = { depth: ctx.depth + 1, budget: ctx.budget };
      try {
        collect(part, inner, out, warn);
      } catch (err) {
        if (!(err instanceof WireDecodeError)) throw err;
        warn(err);
      }
      ctx.budget = inner.budget;
    }
    return;
  }
  if (type === MessageType.compress) {
    const plain = decodeCompress(bytes, {
      maxBytes: Math.min(MAX_UDP_DECOMPRESSED_BYTES, ctx.budget),
    });
    ctx.budget -= plain.length;
    const inner = { depth: ctx.depth + 1, budget: ctx.budget };
    collect(plain, inner, out, warn);
    ctx.budget = inner.budget;
    return;
  }
  if (UDP_INVALID_TYPES.has(type)) {
    throw new WireDecodeError(
      "unknownType",
      `Cannot decode packet: message type ${type} not supported over UDP`,
    );
  }
  out.push(decodeMessageWith(bytes, ctx));
}

/**
 * Decodes a UDP datagram into its messages, like Go's `ingestPacket`: checks and strips the
 * label, decrypts (trying every key; additional data = label), checks the CRC, then unwraps
 * compress and compound at any depth. Compounds are flattened; a bad part of a compound is
 * dropped (reported to `onWarning`), a bad outer layer or lone message throws.
 *
 * @param bytes The datagram.
 * @param options Keys, label, policy.
 * @returns The messages in order (never a `compound`).
 * @throws {WireDecodeError} When the packet as a whole must be dropped.
 */
export async function decodeUdpPacket(
  bytes: Uint8Array,
  options: DecodeUdpOptions = {},
): Promise<Message[]> {
  if (bytes.length > MAX_UDP_PACKET_BYTES) {
    throw new WireDecodeError(
      "limit",
      `Cannot decode packet: ${bytes.length} bytes, at most ${MAX_UDP_PACKET_BYTES}`,
    );
  }
  const { labelBytes, rest } = stripLabelHeader(bytes);
  const expected = utf8Encoder.encode(options.label ?? "");
  if (!equalBytes(labelBytes, expected)) {
    throw new WireDecodeError(
      "label",
      `Discarding packet with unacceptable label "${new TextDecoder().decode(labelBytes)}"`,
    );
  }
  let buf = rest;
  if (options.keys && options.keys.length > 0) {
    try {
      buf = await decryptPayload(rest, options.keys, { additionalData: labelBytes });
    } catch (err) {
      if (options.verifyIncoming !== false) throw err;
    }
  }
  if (buf.length >= CRC_OVERHEAD && buf[0] === MessageType.hasCrc) buf = decodeCrc(buf);
  const out: Message[] = [];
  collect(
    buf,
    { depth: 0, budget: MAX_UDP_TOTAL_DECOMPRESSED_BYTES },
    out,
    options.onWarning ?? (() => {}),
  );
  return out;
}
