/**
 * TCP stream messages: `[label] [0a u32 blob] [09 compress] <type><body>` (PROTOCOL.md §3,
 * §9.3, §11). A stream carries no overall length unless encrypted, so the reader parses
 * msgpack incrementally to find where the message ends.
 *
 * @module
 */

import { MsgpackReader, MsgpackWriter, type MsgValue } from "./_msgpack.ts";
import { decompressBody, encodeCompress } from "./compress.ts";
import {
  decryptPayload,
  encryptionOverhead,
  type EncryptionVersion,
  encryptPayload,
} from "./crypto.ts";
import { WireDecodeError } from "./errors.ts";
import { encodeLabelHeader } from "./label.ts";
import { MAX_STREAM_BYTES, STREAM_ENCRYPT_HEADER_BYTES } from "./limits.ts";
import {
  decodeMapBody,
  decodePushNodeState,
  decodePushPullHeader,
  decodeUserMsgHeader,
  encodeMessage,
} from "./messages.ts";
import {
  type IntFormat,
  type Keyring,
  MessageType,
  type PushNodeState,
  type StreamMessage,
} from "./types.ts";

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder();
const READ_CHUNK_BYTES = 64 * 1024;
const INITIAL_BUFFER_BYTES = 4 * 1024;
const U32_BYTES = 4;

/** Options for {@linkcode encodeStreamMessage}. */
export interface EncodeStreamOptions {
  /** LZW-compress the message (Go compresses every stream message). @default true */
  compress?: boolean;
  /** Keyring; when non-empty the message is encrypted with `keys[0]`. @default none */
  keys?: Keyring;
  /** Encryption version. @default 1 */
  encryptionVersion?: EncryptionVersion;
  /** Cluster label: GCM additional data in both directions; a header on requests only. @default "" */
  label?: string;
  /**
   * True for the acceptor's reply (ack, pushPull, err): no label header is written. False for
   * the dialer's request, which starts the connection with the label header. @default false
   */
  reply?: boolean;
  /** Go `int` format (push/pull header, `State`, `UserMsgLen`). @default "unsigned" */
  intFormat?: IntFormat;
}

function streamBody(msg: StreamMessage, format: IntFormat): Uint8Array {
  switch (msg.type) {
    case "ping":
    case "ack":
    case "pushPull":
    case "err":
      return encodeMessage(msg, { intFormat: format });
    case "user": {
      if (!(msg.payload instanceof Uint8Array)) {
        throw new TypeError(`Cannot encode field "payload": not a Uint8Array`);
      }
      const w = new MsgpackWriter().byte(MessageType.user).map(1).text("UserMsgLen")
        .goInt(msg.payload.length, format);
      return w.raw(msg.payload).bytes().slice();
    }
    default:
      throw new TypeError(
        `Cannot encode stream message: type "${
          (msg as { type: unknown }).type
        }" is not sent over TCP`,
      );
  }
}

/**
 * Encodes one TCP stream message with its layers, as Go's `rawSendMsgStream` writes it:
 * the body (for `user`, with its `{UserMsgLen}` header), compressed, encrypted
 * (`0a` + u32 length + blob, additional data = those 5 bytes + label), preceded by the label
 * header on a request.
 *
 * @param msg ping, ack, pushPull, user or err.
 * @param options Layers.
 * @returns Bytes to write to the connection.
 * @throws {TypeError|RangeError} On an invalid message, key or label.
 */
export async function encodeStreamMessage(
  msg: StreamMessage,
  options: EncodeStreamOptions = {},
): Promise<Uint8Array> {
  let body = streamBody(msg, options.intFormat ?? "unsigned");
  if (options.compress ?? true) body = encodeCompress(body);
  const label = options.label ?? "";
  const labelBytes = utf8Encoder.encode(label);
  if (options.keys && options.keys.length > 0) {
    const version = options.encryptionVersion ?? 1;
    const header = new Uint8Array(STREAM_ENCRYPT_HEADER_BYTES);
    header[0] = MessageType.encrypt;
    new DataView(header.buffer).setUint32(
      1,
      encryptionOverhead(version, body.length) + body.length,
    );
    const ad = new Uint8Array(header.length + labelBytes.length);
    ad.set(header);
    ad.set(labelBytes, header.length);
    const blob = await encryptPayload(body, options.keys[0], { version, additionalData: ad });
    body = new Uint8Array(header.length + blob.length);
    body.set(header);
    body.set(blob, header.length);
  }
  if (!label || options.reply) return body;
  const labelHeader = encodeLabelHeader(label);
  const out = new Uint8Array(labelHeader.length + body.length);
  out.set(labelHeader);
  out.set(body, labelHeader.length);
  return out;
}

/**
 * Where {@linkcode readStreamMessage} reads from: bytes already received, a `ReadableStream`
 * (e.g. `conn.readable`; its lock is released afterwards), a stream reader, or a Deno-style
 * reader with `read(buffer)`.
 */
export type StreamSource =
  | Uint8Array
  | ReadableStream<Uint8Array>
  | ReadableStreamDefaultReader<Uint8Array>
  | { read(p: Uint8Array): Promise<number | null> };

/** Options for {@linkcode readStreamMessage}. */
export interface ReadStreamOptions {
  /** Keyring; when non-empty the stream must be encrypted (see `verifyIncoming`). @default none */
  keys?: Keyring;
  /** Our cluster label (checked against a request's header; GCM additional data). @default "" */
  label?: string;
  /**
   * True when reading the acceptor's reply (dialer side): no label header is expected. False
   * when reading a request (acceptor side): an optional label header is read and must equal
   * `label`. @default false
   */
  reply?: boolean;
  /** Go's `GossipVerifyIncoming`: reject a plaintext stream when keys are set. @default true */
  verifyIncoming?: boolean;
  /** Most bytes read or decompressed for this message. @default MAX_STREAM_BYTES (8 MiB) */
  maxBytes?: number;
}

/** Result of {@linkcode readStreamMessage}. */
export interface ReadStreamResult {
  /** The message. */
  message: StreamMessage;
  /** Label the request carried ("" for none, and always "" for replies). */
  label: string;
  /** Whether the message was encrypted. */
  encrypted: boolean;
  /** Whether the message was compressed. */
  compressed: boolean;
}

type Pull = () => Promise<Uint8Array | null>;

/** Buffers a byte source and hands out exact lengths and msgpack objects. */
class ByteSource {
  #buf: Uint8Array;
  #len: number;
  #pos = 0;
  #pull: Pull | undefined;
  #max: number;

  constructor(initial: Uint8Array, pull: Pull | undefined, max: number) {
    this.#buf = initial;
    this.#len = initial.length;
    this.#pull = pull;
    this.#max = max;
  }

  /** Bytes consumed so far. */
  get pos(): number {
    return this.#pos;
  }

  /** Ensures `n` unread bytes are buffered; false when the source ended first. */
  async fill(n: number): Promise<boolean> {
    const need = this.#pos + n;
    if (need > this.#max) {
      throw new WireDecodeError("limit", `Cannot read stream: message exceeds ${this.#max} bytes`);
    }
    while (this.#len < need) {
      if (!this.#pull) return false;
      let chunk: Uint8Array | null;
      try {
        chunk = await this.#pull();
      } catch (err) {
        throw new WireDecodeError("truncated", `Cannot read stream: ${err}`, { cause: err });
      }
      if (chunk === null) {
        this.#pull = undefined;
        return false;
      }
      if (this.#len + chunk.length > this.#buf.length) {
        let cap = Math.max(this.#buf.length * 2, INITIAL_BUFFER_BYTES);
        while (cap < this.#len + chunk.length) cap *= 2;
        const next = new Uint8Array(cap);
        next.set(this.#buf.subarray(0, this.#len));
        this.#buf = next;
      }
      this.#buf.set(chunk, this.#len);
      this.#len += chunk.length;
    }
    return true;
  }

  async take(n: number, what: string): Promise<Uint8Array> {
    if (!(await this.fill(n))) {
      throw new WireDecodeError("truncated", `Cannot read ${what}: stream ended early`);
    }
    const out = this.#buf.slice(this.#pos, this.#pos + n);
    this.#pos += n;
    return out;
  }

  async object(what: string): Promise<MsgValue> {
    for (;;) {
      const r = new MsgpackReader(this.#buf.subarray(0, this.#len), this.#pos).tryValue();
      if ("value" in r) {
        this.#pos = r.end;
        return r.value;
      }
      if (!(await this.fill(r.need - this.#pos))) {
        throw new WireDecodeError("truncated", `Cannot read ${what}: stream ended inside msgpack`);
      }
    }
  }
}

function pullFrom(source: StreamSource): { pull: Pull | undefined; done: () => void } {
  if (source instanceof Uint8Array) return { pull: undefined, done: () => {} };
  if (source instanceof ReadableStream) {
    const reader = source.getReader();
    return { pull: readerPull(reader), done: () => reader.releaseLock() };
  }
  if ("releaseLock" in source) return { pull: readerPull(source), done: () => {} };
  const denoReader = source as { read(p: Uint8Array): Promise<number | null> };
  return {
    pull: async () => {
      const buf = new Uint8Array(READ_CHUNK_BYTES);
      const n = await denoReader.read(buf);
      return n === null ? null : buf.subarray(0, n);
    },
    done: () => {},
  };
}

function readerPull(reader: ReadableStreamDefaultReader<Uint8Array>): Pull {
  return async () => {
    const { done, value } = await reader.read();
    return done ? null : value;
  };
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Reads exactly one message from a TCP stream, like Go's `readStream` plus the body readers:
 * optional label header (requests only), the encryption block, the compress wrapper, then a
 * ping, ack, pushPull (header, node states, user state), user message or err. Bytes after the
 * message are left unread in the source's buffer and ignored.
 *
 * I/O errors of the source are rethrown as `WireDecodeError("truncated")` with the original
 * as `cause`. To bound the time, close the connection (the read then ends).
 *
 * @param source Where to read.
 * @param options Keys, label, direction, limits.
 * @returns The message and which layers it had.
 * @throws {WireDecodeError} `"eof"` when the stream ended before any byte; the other codes on
 *   bad input (a Go acceptor answers `errResp` for `"encryptedNoKeys"`, `"notEncrypted"`,
 *   `"decrypt"` and `"compress"`).
 */
export async function readStreamMessage(
  source: StreamSource,
  options: ReadStreamOptions = {},
): Promise<ReadStreamResult> {
  const max = options.maxBytes ?? MAX_STREAM_BYTES;
  const { pull, done } = pullFrom(source);
  const initial = source instanceof Uint8Array ? source : new Uint8Array(0);
  try {
    return await readFrom(new ByteSource(initial, pull, max), options, max);
  } finally {
    done();
  }
}

async function readFrom(
  src: ByteSource,
  options: ReadStreamOptions,
  max: number,
): Promise<ReadStreamResult> {
  const ourLabel = utf8Encoder.encode(options.label ?? "");
  let label = "";
  if (!(await src.fill(1))) {
    throw new WireDecodeError("eof", "Cannot read stream: connection closed before any data");
  }
  if (!options.reply) {
    let labelBytes: Uint8Array<ArrayBufferLike> = new Uint8Array(0);
    const first = (await src.take(1, "stream"))[0];
    if (first === MessageType.hasLabel) {
      const size = (await src.take(1, "label header"))[0];
      if (size < 1) {
        throw new WireDecodeError(
          "label",
          "Cannot decode label: header cannot be empty when present",
        );
      }
      labelBytes = await src.take(size, "label");
      label = utf8Decoder.decode(labelBytes);
    }
    if (!equalBytes(labelBytes, ourLabel)) {
      throw new WireDecodeError("label", `Discarding stream with unacceptable label "${label}"`);
    }
    if (first !== MessageType.hasLabel) {
      return await readBody(first, src, options, ourLabel, max, label);
    }
  }
  const type = (await src.take(1, "message type"))[0];
  return await readBody(type, src, options, ourLabel, max, label);
}

async function readBody(
  firstType: number,
  outer: ByteSource,
  options: ReadStreamOptions,
  labelBytes: Uint8Array,
  max: number,
  label: string,
): Promise<ReadStreamResult> {
  let src = outer;
  let type = firstType;
  let encrypted = false;
  let compressed = false;
  const keys = options.keys ?? [];
  if (type === MessageType.encrypt) {
    if (keys.length === 0) {
      throw new WireDecodeError(
        "encryptedNoKeys",
        "Remote state is encrypted and encryption is not configured",
      );
    }
    const lenBytes = await src.take(U32_BYTES, "encryption header");
    const length = new DataView(lenBytes.buffer).getUint32(0);
    if (length > max) {
      throw new WireDecodeError("limit", `Remote node state is larger than limit (${length})`);
    }
    const blob = await src.take(length, "encrypted block");
    const ad = new Uint8Array(STREAM_ENCRYPT_HEADER_BYTES + labelBytes.length);
    ad[0] = MessageType.encrypt;
    ad.set(lenBytes, 1);
    ad.set(labelBytes, STREAM_ENCRYPT_HEADER_BYTES);
    const plain = await decryptPayload(blob, keys, { additionalData: ad });
    if (plain.length === 0) {
      throw new WireDecodeError("truncated", "Cannot read stream: empty decrypted message");
    }
    src = new ByteSource(plain, undefined, max);
    type = (await src.take(1, "message type"))[0];
    encrypted = true;
  } else if (keys.length > 0 && options.verifyIncoming !== false) {
    throw new WireDecodeError(
      "notEncrypted",
      "Encryption is configured but remote state is not encrypted",
    );
  }
  if (type === MessageType.compress) {
    const plain = decompressBody(await src.object("compress wrapper"), max);
    src = new ByteSource(plain, undefined, max);
    type = (await src.take(1, "message type"))[0];
    compressed = true;
  }
  const result = (message: StreamMessage): ReadStreamResult => ({
    message,
    label,
    encrypted,
    compressed,
  });
  switch (type) {
    case MessageType.ping:
    case MessageType.ackResp:
    case MessageType.err:
      return result(decodeMapBody(type, await src.object("message")) as StreamMessage);
    case MessageType.pushPull: {
      const header = decodePushPullHeader(await src.object("push/pull header"));
      const nodes: PushNodeState[] = [];
      for (let i = 0; i < header.nodes; i++) {
        nodes.push(decodePushNodeState(await src.object("push/pull node state")));
      }
      const userState = await src.take(header.userStateLen, "push/pull user state");
      return result({ type: "pushPull", join: header.join, nodes, userState });
    }
    case MessageType.user: {
      const len = decodeUserMsgHeader(await src.object("user message header"));
      return result({ type: "user", payload: await src.take(len, "user message") });
    }
    default:
      throw new WireDecodeError("unknownType", `Received invalid msgType (${type}) on stream`);
  }
}
