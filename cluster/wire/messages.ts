/**
 * Encoding and decoding of single memberlist messages: `<type byte><msgpack body>`, plus the
 * push/pull and compound layouts (PROTOCOL.md §5, §6, §11).
 *
 * @module
 */

import {
  asMap,
  checkAddr,
  checkBytes,
  checkString,
  checkUint,
  checkVsn,
  getAddr,
  getBool,
  getBytes,
  getState,
  getString,
  getUint,
  getVsn,
  NODE_STATES,
  U16_MAX,
  U32_MAX,
} from "./_fields.ts";
import { type MsgMap, MsgpackReader, MsgpackWriter } from "./_msgpack.ts";
import { decodeCompound, encodeCompound } from "./compound.ts";
import { decodeCompress } from "./compress.ts";
import { WireDecodeError } from "./errors.ts";
import {
  MAX_PUSH_PULL_NODES,
  MAX_STREAM_BYTES,
  MAX_UDP_DECOMPRESSED_BYTES,
  MAX_UDP_TOTAL_DECOMPRESSED_BYTES,
  MAX_WRAPPER_DEPTH,
  META_MAX_SIZE,
} from "./limits.ts";
import {
  type AckMessage,
  type AliveMessage,
  type DeadMessage,
  type ErrMessage,
  type IndirectPingMessage,
  type IntFormat,
  type Message,
  MessageType,
  type NackMessage,
  type PingMessage,
  type PushNodeState,
  type SuspectMessage,
} from "./types.ts";

/** Options for {@linkcode encodeMessage}. */
export interface EncodeMessageOptions {
  /**
   * How Go `int` fields above 127 are written (push/pull header, node `State`). Every Go
   * version reads both. @default "unsigned" (as memberlist 0.2.2)
   */
  intFormat?: IntFormat;
}

const PORT_MAX = U16_MAX;
const INT_MAX = Number.MAX_SAFE_INTEGER;

/** Push/pull header as decoded. */
export interface PushPullHeader {
  /** `Join`. */
  join: boolean;
  /** `Nodes`. */
  nodes: number;
  /** `UserStateLen`. */
  userStateLen: number;
}

function writePing(w: MsgpackWriter, m: PingMessage): void {
  checkString(m.node, "node");
  checkUint(m.seqNo, U32_MAX, "seqNo");
  const sourceAddr = checkAddr(m.sourceAddr ?? new Uint8Array(0), "sourceAddr", true);
  const sourceNode = checkString(m.sourceNode ?? "", "sourceNode");
  const sourcePort = checkUint(m.sourcePort ?? 0, PORT_MAX, "sourcePort");
  const n = 2 + (sourceAddr.length ? 1 : 0) + (sourceNode ? 1 : 0) + (sourcePort ? 1 : 0);
  w.map(n).text("Node").text(m.node).text("SeqNo").uint(m.seqNo);
  writeSource(w, sourceAddr, sourceNode, sourcePort);
}

function writeSource(w: MsgpackWriter, addr: Uint8Array, node: string, port: number): void {
  if (addr.length) w.text("SourceAddr").str(addr);
  if (node) w.text("SourceNode").text(node);
  if (port) w.text("SourcePort").uint(port);
}

function writeIndirectPing(w: MsgpackWriter, m: IndirectPingMessage): void {
  checkString(m.node, "node");
  checkUint(m.seqNo, U32_MAX, "seqNo");
  checkUint(m.port, PORT_MAX, "port");
  checkAddr(m.target, "target", false);
  const sourceAddr = checkAddr(m.sourceAddr ?? new Uint8Array(0), "sourceAddr", true);
  const sourceNode = checkString(m.sourceNode ?? "", "sourceNode");
  const sourcePort = checkUint(m.sourcePort ?? 0, PORT_MAX, "sourcePort");
  const n = 5 + (sourceAddr.length ? 1 : 0) + (sourceNode ? 1 : 0) + (sourcePort ? 1 : 0);
  w.map(n).text("Nack").bool(!!m.nack).text("Node").text(m.node).text("Port").uint(m.port)
    .text("SeqNo").uint(m.seqNo);
  writeSource(w, sourceAddr, sourceNode, sourcePort);
  w.text("Target").str(m.target);
}

function writeAck(w: MsgpackWriter, m: AckMessage): void {
  checkUint(m.seqNo, U32_MAX, "seqNo");
  const payload = checkBytes(m.payload ?? new Uint8Array(0), "payload");
  w.map(2).text("Payload").str(payload, true).text("SeqNo").uint(m.seqNo);
}

function writeNack(w: MsgpackWriter, m: NackMessage): void {
  w.map(1).text("SeqNo").uint(checkUint(m.seqNo, U32_MAX, "seqNo"));
}

function writeSuspectOrDead(w: MsgpackWriter, m: SuspectMessage | DeadMessage): void {
  checkString(m.from, "from");
  checkString(m.node, "node");
  checkUint(m.incarnation, U32_MAX, "incarnation");
  w.map(3).text("From").text(m.from).text("Incarnation").uint(m.incarnation).text("Node")
    .text(m.node);
}

function writeAlive(w: MsgpackWriter, m: AliveMessage): void {
  checkAddr(m.addr, "addr", false);
  checkUint(m.incarnation, U32_MAX, "incarnation");
  const meta = checkBytes(m.meta ?? new Uint8Array(0), "meta", META_MAX_SIZE);
  checkString(m.node, "node");
  checkUint(m.port, PORT_MAX, "port");
  checkVsn(m.vsn, "vsn");
  w.map(6).text("Addr").str(m.addr).text("Incarnation").uint(m.incarnation).text("Meta")
    .str(meta, true).text("Node").text(m.node).text("Port").uint(m.port).text("Vsn").str(m.vsn);
}

function writeErr(w: MsgpackWriter, m: ErrMessage): void {
  w.map(1).text("Error").text(checkString(m.error, "error"));
}

/** Writes a push/pull node state map. */
export function writePushNodeState(w: MsgpackWriter, s: PushNodeState, format: IntFormat): void {
  checkAddr(s.addr, "addr", false);
  checkUint(s.incarnation, U32_MAX, "incarnation");
  const meta = checkBytes(s.meta ?? new Uint8Array(0), "meta", META_MAX_SIZE);
  checkString(s.name, "name");
  checkUint(s.port, PORT_MAX, "port");
  const state = NODE_STATES.indexOf(s.state);
  if (state < 0) throw new RangeError(`Cannot encode field "state": unknown state "${s.state}"`);
  checkVsn(s.vsn, "vsn");
  w.map(7).text("Addr").str(s.addr).text("Incarnation").uint(s.incarnation).text("Meta")
    .str(meta, true).text("Name").text(s.name).text("Port").uint(s.port).text("State")
    .goInt(state, format).text("Vsn").str(s.vsn);
}

/** Writes a push/pull header map. */
export function writePushPullHeader(
  w: MsgpackWriter,
  join: boolean,
  nodes: number,
  userStateLen: number,
  format: IntFormat,
): void {
  w.map(3).text("Join").bool(join).text("Nodes").goInt(nodes, format).text("UserStateLen")
    .goInt(userStateLen, format);
}

/**
 * Encodes one message: its type byte and body. `pushPull` gives the full stream body (header,
 * node states, user state); `user` gives the UDP form (raw bytes after the type byte; the TCP
 * form is written by `encodeStreamMessage`); `compound` frames its encoded parts.
 *
 * @param msg The message.
 * @param options Integer format.
 * @returns The encoded message.
 * @throws {TypeError|RangeError} When a field has the wrong type or is out of range.
 *
 * @example
 * ```ts
 * import { encodeMessage } from "./mod.ts";
 * encodeMessage({ type: "nack", seqNo: 10 }); // 0b 81 a5 "SeqNo" 0a
 * ```
 */
export function encodeMessage(msg: Message, options: EncodeMessageOptions = {}): Uint8Array {
  const format = options.intFormat ?? "unsigned";
  const w = new MsgpackWriter();
  switch (msg.type) {
    case "ping":
      writePing(w.byte(MessageType.ping), msg);
      break;
    case "indirectPing":
      writeIndirectPing(w.byte(MessageType.indirectPing), msg);
      break;
    case "ack":
      writeAck(w.byte(MessageType.ackResp), msg);
      break;
    case "nack":
      writeNack(w.byte(MessageType.nackResp), msg);
      break;
    case "suspect":
      writeSuspectOrDead(w.byte(MessageType.suspect), msg);
      break;
    case "alive":
      writeAlive(w.byte(MessageType.alive), msg);
      break;
    case "dead":
      writeSuspectOrDead(w.byte(MessageType.dead), msg);
      break;
    case "err":
      writeErr(w.byte(MessageType.err), msg);
      break;
    case "user":
      w.byte(MessageType.user).raw(checkBytes(msg.payload, "payload"));
      break;
    case "pushPull": {
      const userState = checkBytes(msg.userState ?? new Uint8Array(0), "userState");
      if (!Array.isArray(msg.nodes)) {
        throw new TypeError(`Cannot encode field "nodes": not an array`);
      }
      writePushPullHeader(
        w.byte(MessageType.pushPull),
        !!msg.join,
        msg.nodes.length,
        userState.length,
        format,
      );
      for (const s of msg.nodes) writePushNodeState(w, s, format);
      w.raw(userState);
      break;
    }
    case "compound":
      if (!Array.isArray(msg.parts)) {
        throw new TypeError(`Cannot encode field "parts": not an array`);
      }
      return encodeCompound(msg.parts.map((p) => encodeMessage(p, options)));
    default:
      throw new TypeError(
        `Cannot encode message: unknown type "${(msg as { type: unknown }).type}"`,
      );
  }
  return w.bytes().slice();
}

/** Decodes the msgpack map of a ping. */
function decodePing(m: MsgMap): PingMessage {
  const what = "ping";
  return {
    type: "ping",
    seqNo: getUint(m, "SeqNo", what, U32_MAX),
    node: getString(m, "Node", what),
    sourceAddr: getAddr(m, "SourceAddr", what, true),
    sourcePort: getUint(m, "SourcePort", what, PORT_MAX),
    sourceNode: getString(m, "SourceNode", what),
  };
}

function decodeIndirectPing(m: MsgMap): IndirectPingMessage {
  const what = "indirectPing";
  return {
    type: "indirectPing",
    seqNo: getUint(m, "SeqNo", what, U32_MAX),
    target: getAddr(m, "Target", what, false),
    port: getUint(m, "Port", what, PORT_MAX),
    node: getString(m, "Node", what),
    nack: getBool(m, "Nack", what),
    sourceAddr: getAddr(m, "SourceAddr", what, true),
    sourcePort: getUint(m, "SourcePort", what, PORT_MAX),
    sourceNode: getString(m, "SourceNode", what),
  };
}

/** Decodes a push/pull header map. */
export function decodePushPullHeader(v: ReturnType<MsgpackReader["value"]>): PushPullHeader {
  const what = "pushPull header";
  const m = asMap(v, what);
  const nodes = getUint(m, "Nodes", what, INT_MAX);
  if (nodes > MAX_PUSH_PULL_NODES) {
    throw new WireDecodeError(
      "limit",
      `Cannot decode push/pull: ${nodes} nodes, at most ${MAX_PUSH_PULL_NODES}`,
    );
  }
  const userStateLen = getUint(m, "UserStateLen", what, INT_MAX);
  if (userStateLen > MAX_STREAM_BYTES) {
    throw new WireDecodeError(
      "limit",
      `Cannot decode push/pull: user state of ${userStateLen} bytes, at most ${MAX_STREAM_BYTES}`,
    );
  }
  return { join: getBool(m, "Join", what), nodes, userStateLen };
}

/** Decodes a push/pull node state map. */
export function decodePushNodeState(v: ReturnType<MsgpackReader["value"]>): PushNodeState {
  const what = "pushNodeState";
  const m = asMap(v, what);
  return {
    name: getString(m, "Name", what),
    addr: getAddr(m, "Addr", what, false),
    port: getUint(m, "Port", what, PORT_MAX),
    meta: getBytes(m, "Meta", what),
    incarnation: getUint(m, "Incarnation", what, U32_MAX),
    state: getState(m, "State", what),
    vsn: getVsn(m, "Vsn", what),
  };
}

/** Decodes a userMsgHeader map; returns `UserMsgLen`. */
export function decodeUserMsgHeader(v: ReturnType<MsgpackReader["value"]>): number {
  const len = getUint(asMap(v, "userMsgHeader"), "UserMsgLen", "userMsgHeader", INT_MAX);
  if (len > MAX_STREAM_BYTES) {
    throw new WireDecodeError(
      "limit",
      `Cannot decode user message: ${len} bytes, at most ${MAX_STREAM_BYTES}`,
    );
  }
  return len;
}

/** Message types whose body is a single msgpack map. */
export const MAP_BODY_TYPES: ReadonlySet<number> = new Set([
  MessageType.ping,
  MessageType.indirectPing,
  MessageType.ackResp,
  MessageType.nackResp,
  MessageType.suspect,
  MessageType.alive,
  MessageType.dead,
  MessageType.err,
]);

/**
 * Decodes the msgpack body of a message whose type has one (everything but 6, 7, 8, 9, 12).
 * Returns undefined for types without a single-map body.
 */
export function decodeMapBody(
  type: number,
  body: ReturnType<MsgpackReader["value"]>,
): Message | undefined {
  switch (type) {
    case MessageType.ping:
      return decodePing(asMap(body, "ping"));
    case MessageType.indirectPing:
      return decodeIndirectPing(asMap(body, "indirectPing"));
    case MessageType.ackResp: {
      const m = asMap(body, "ackResp");
      return {
        type: "ack",
        seqNo: getUint(m, "SeqNo", "ackResp", U32_MAX),
        payload: getBytes(m, "Payload", "ackResp"),
      };
    }
    case MessageType.nackResp:
      return {
        type: "nack",
        seqNo: getUint(asMap(body, "nackResp"), "SeqNo", "nackResp", U32_MAX),
      };
    case MessageType.suspect:
    case MessageType.dead: {
      const what = type === MessageType.suspect ? "suspect" : "dead";
      const m = asMap(body, what);
      return {
        type: what,
        incarnation: getUint(m, "Incarnation", what, U32_MAX),
        node: getString(m, "Node", what),
        from: getString(m, "From", what),
      };
    }
    case MessageType.alive: {
      const m = asMap(body, "alive");
      return {
        type: "alive",
        incarnation: getUint(m, "Incarnation", "alive", U32_MAX),
        node: getString(m, "Node", "alive"),
        addr: getAddr(m, "Addr", "alive", false),
        port: getUint(m, "Port", "alive", PORT_MAX),
        meta: getBytes(m, "Meta", "alive"),
        vsn: getVsn(m, "Vsn", "alive"),
      };
    }
    case MessageType.err:
      return { type: "err", error: getString(asMap(body, "errResp"), "Error", "errResp") };
    default:
      return undefined;
  }
}

/** Decodes a complete push/pull body (after the type byte) from memory. */
function decodePushPullBody(bytes: Uint8Array, start: number): Message {
  const r = new MsgpackReader(bytes, start);
  const header = decodePushPullHeader(r.value());
  const nodes: PushNodeState[] = [];
  for (let i = 0; i < header.nodes; i++) nodes.push(decodePushNodeState(r.value()));
  if (r.pos + header.userStateLen > bytes.length) {
    throw new WireDecodeError(
      "truncated",
      `Cannot decode push/pull: user state of ${header.userStateLen} bytes is truncated`,
    );
  }
  return {
    type: "pushPull",
    join: header.join,
    nodes,
    userState: bytes.slice(r.pos, r.pos + header.userStateLen),
  };
}

/** Decoding context: nesting depth and the decompression budget left. */
export interface DecodeContext {
  /** Current wrapper depth. */
  depth: number;
  /** Bytes that may still be produced by decompression. */
  budget: number;
}

/**
 * Decodes one message (internal form with a context). Compress wrappers are unwrapped
 * transparently; compound parts are decoded strictly (any bad or truncated part fails).
 */
export function decodeMessageWith(bytes: Uint8Array, ctx: DecodeContext): Message {
  if (bytes.length === 0) {
    throw new WireDecodeError("truncated", "Cannot decode message: missing message type byte");
  }
  if (ctx.depth > MAX_WRAPPER_DEPTH) {
    throw new WireDecodeError(
      "limit",
      `Cannot decode message: wrappers nested deeper than ${MAX_WRAPPER_DEPTH}`,
    );
  }
  const type = bytes[0];
  switch (type) {
    case MessageType.user:
      return { type: "user", payload: bytes.slice(1) };
    case MessageType.pushPull:
      return decodePushPullBody(bytes, 1);
    case MessageType.compound: {
      const { parts, truncated } = decodeCompound(bytes);
      if (truncated > 0) {
        throw new WireDecodeError(
          "truncated",
          `Cannot decode compound: ${truncated} parts truncated`,
        );
      }
      const inner = { depth: ctx.depth + 1, budget: ctx.budget };
      const out = parts.map((p) => decodeMessageWith(p, inner));
      ctx.budget = inner.budget;
      return { type: "compound", parts: out };
    }
    case MessageType.compress: {
      const plain = decodeCompress(bytes, {
        maxBytes: Math.min(MAX_UDP_DECOMPRESSED_BYTES, ctx.budget),
      });
      ctx.budget -= plain.length;
      const inner = { depth: ctx.depth + 1, budget: ctx.budget };
      const msg = decodeMessageWith(plain, inner);
      ctx.budget = inner.budget;
      return msg;
    }
  }
  if (!MAP_BODY_TYPES.has(type)) {
    throw new WireDecodeError(
      "unknownType",
      `Cannot decode message: type ${type} not supported here`,
    );
  }
  return decodeMapBody(type, new MsgpackReader(bytes, 1).value()) as Message;
}

/**
 * Decodes one message from its bytes (type byte first). Compress wrappers (9) are unwrapped
 * (output capped at 64 KiB each); a compound (7) decodes strictly, every part must be valid.
 * `user` (8) is the UDP form; `pushPull` (6) the whole stream body. Bytes after a msgpack body
 * are ignored, as Go does.
 *
 * @param bytes The message.
 * @returns The decoded message.
 * @throws {WireDecodeError} On any bad input.
 *
 * @example
 * ```ts
 * import { decodeMessage } from "./mod.ts";
 * const msg = decodeMessage(new Uint8Array([0x0b, 0x81, 0xa5, 0x53, 0x65, 0x71, 0x4e, 0x6f, 0x0a]));
 * // { type: "nack", seqNo: 10 }
 * ```
 */
export function decodeMessage(bytes: Uint8Array): Message {
  return decodeMessageWith(bytes, { depth: 0, budget: MAX_UDP_TOTAL_DECOMPRESSED_BYTES });
}
