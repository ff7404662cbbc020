/**
 * TypeScript shapes of every memberlist message.
 *
 * Field names are the camelCase of Go's msgpack keys (`SeqNo` → `seqNo`); the codec writes and
 * reads Go's exact keys. Byte fields are `Uint8Array`; an empty array stands for Go's nil
 * (written as msgpack nil `c0`, the way Go writes a nil slice), so `meta`/`payload` are never
 * `null`. Addresses are raw IP bytes (4 for IPv4, 16 for IPv6); see `ipToBytes`/`bytesToIp`.
 *
 * @module
 */

/** Message type numbers: the first byte of every memberlist message (PROTOCOL.md §2). */
export const MessageType = {
  ping: 0,
  indirectPing: 1,
  ackResp: 2,
  suspect: 3,
  alive: 4,
  dead: 5,
  pushPull: 6,
  compound: 7,
  user: 8,
  compress: 9,
  encrypt: 10,
  nackResp: 11,
  hasCrc: 12,
  err: 13,
  hasLabel: 244,
} as const;

/** One of the {@linkcode MessageType} numbers. */
export type MessageTypeNumber = typeof MessageType[keyof typeof MessageType];

/**
 * Protocol/delegate versions `[PMin, PMax, PCur, DMin, DMax, DCur]`, exactly 6 bytes on the
 * wire (Go panics on 1–5 bytes). A decoded Vsn is either 6 bytes or empty (sender sent none).
 */
export type Vsn = Uint8Array;

/** The Vsn a Go node sends with no delegate versions: `01 05 02 00 00 00`. */
export const DEFAULT_VSN: readonly number[] = [1, 5, 2, 0, 0, 0];

/** `ping` (0): a probe. `node` is the *target's* name. */
export interface PingMessage {
  /** Discriminator. */
  type: "ping";
  /** Sequence number the ack must echo (`SeqNo`, uint32). */
  seqNo: number;
  /** Name of the node being pinged (`Node`); "" matches any receiver. */
  node: string;
  /** Sender's advertise address, 4 or 16 bytes, or empty (`SourceAddr`, omitted when empty). */
  sourceAddr: Uint8Array;
  /** Sender's advertise port (`SourcePort`, uint16, omitted when 0). */
  sourcePort: number;
  /** Sender's name (`SourceNode`, omitted when ""). */
  sourceNode: string;
}

/** `indirectPing` (1): asks the receiver to ping `target:port` on the sender's behalf. */
export interface IndirectPingMessage {
  /** Discriminator. */
  type: "indirectPing";
  /** The requester's sequence number (`SeqNo`, uint32). */
  seqNo: number;
  /** Address to probe, 4 or 16 bytes (`Target`). */
  target: Uint8Array;
  /** Port to probe (`Port`, uint16; 0 means the relay's own bind port). */
  port: number;
  /** Expected name of the probed node (`Node`). */
  node: string;
  /** Whether the relay should answer with a nack on timeout (`Nack`). */
  nack: boolean;
  /** Requester's address, 4 or 16 bytes, or empty (`SourceAddr`, omitted when empty). */
  sourceAddr: Uint8Array;
  /** Requester's port (`SourcePort`, omitted when 0). */
  sourcePort: number;
  /** Requester's name (`SourceNode`, omitted when ""). */
  sourceNode: string;
}

/** `ackResp` (2): answer to a ping. */
export interface AckMessage {
  /** Discriminator. */
  type: "ack";
  /** Echoed sequence number (`SeqNo`, uint32). */
  seqNo: number;
  /** Ping-delegate payload (`Payload`); empty = Go's nil. */
  payload: Uint8Array;
}

/** `nackResp` (11): an indirect-ping relay got no ack in time. */
export interface NackMessage {
  /** Discriminator. */
  type: "nack";
  /** The requester's sequence number (`SeqNo`, uint32). */
  seqNo: number;
}

/** `suspect` (3): `from` suspects `node`. */
export interface SuspectMessage {
  /** Discriminator. */
  type: "suspect";
  /** Incarnation of `node` being suspected (`Incarnation`, uint32). */
  incarnation: number;
  /** Suspected node (`Node`). */
  node: string;
  /** Accusing node (`From`). */
  from: string;
}

/** `alive` (4): a node is alive at an address (also join, refute and meta update). */
export interface AliveMessage {
  /** Discriminator. */
  type: "alive";
  /** Incarnation (`Incarnation`, uint32). */
  incarnation: number;
  /** Node name (`Node`). */
  node: string;
  /** Advertise address, 4 or 16 bytes (`Addr`). */
  addr: Uint8Array;
  /** Advertise port (`Port`, uint16). */
  port: number;
  /** Node metadata, ≤ 512 bytes (`Meta`); empty = Go's nil. */
  meta: Uint8Array;
  /** Versions (`Vsn`), 6 bytes. */
  vsn: Vsn;
}

/** `dead` (5): `from` declares `node` dead; `from === node` means a graceful leave. */
export interface DeadMessage {
  /** Discriminator. */
  type: "dead";
  /** Incarnation of `node` (`Incarnation`, uint32). */
  incarnation: number;
  /** Dead node (`Node`). */
  node: string;
  /** Declaring node (`From`); equal to `node` for "left". */
  from: string;
}

/** State of a node in a push/pull exchange (Go `State`: 0 alive, 1 suspect, 2 dead, 3 left). */
export type WireNodeState = "alive" | "suspect" | "dead" | "left";

/** One node in a push/pull exchange (Go `pushNodeState`). Note `name`, not `node`. */
export interface PushNodeState {
  /** Node name (`Name`). */
  name: string;
  /** Address, 4 or 16 bytes (`Addr`). */
  addr: Uint8Array;
  /** Port (`Port`, uint16). */
  port: number;
  /** Metadata (`Meta`); empty = Go's nil. */
  meta: Uint8Array;
  /** Incarnation (`Incarnation`, uint32). */
  incarnation: number;
  /** State (`State`). */
  state: WireNodeState;
  /** Versions (`Vsn`), 6 bytes (send them for dead and left nodes too). */
  vsn: Vsn;
}

/**
 * `pushPull` (6, TCP only): header `{Join, Nodes, UserStateLen}`, then the node states, then
 * the raw user (delegate) state.
 */
export interface PushPullMessage {
  /** Discriminator. */
  type: "pushPull";
  /** True for a join; the acceptor echoes the request's value (`Join`). */
  join: boolean;
  /** Node states (their count is the header's `Nodes`). */
  nodes: PushNodeState[];
  /** Delegate local state (its length is the header's `UserStateLen`); may be empty. */
  userState: Uint8Array;
}

/**
 * `user` (8): delegate payload. Over UDP the raw bytes follow the type byte; over TCP a
 * `{UserMsgLen}` header comes first (the stream functions handle that).
 */
export interface UserMessage {
  /** Discriminator. */
  type: "user";
  /** Application bytes. */
  payload: Uint8Array;
}

/** `errResp` (13, TCP reply only). */
export interface ErrMessage {
  /** Discriminator. */
  type: "err";
  /** Error text (`Error`). */
  error: string;
}

/** `compound` (7): several messages in one packet. */
export interface CompoundMessage {
  /** Discriminator. */
  type: "compound";
  /** The parts, in order; each non-empty. */
  parts: Message[];
}

/** Every memberlist message, discriminated by `type`. */
export type Message =
  | PingMessage
  | IndirectPingMessage
  | AckMessage
  | NackMessage
  | SuspectMessage
  | AliveMessage
  | DeadMessage
  | PushPullMessage
  | CompoundMessage
  | UserMessage
  | ErrMessage;

/** Messages that may travel alone on a TCP stream (request or reply). */
export type StreamMessage =
  | PingMessage
  | AckMessage
  | PushPullMessage
  | UserMessage
  | ErrMessage;

/**
 * Encryption keyring: 16-, 24- or 32-byte AES keys. Index 0 is the primary key, the only one
 * used to encrypt; every key is tried, in order, to decrypt.
 */
export type Keyring = readonly Uint8Array[];

/**
 * How Go `int` fields (`Nodes`, `UserStateLen`, `UserMsgLen`, `State`) are written above 127:
 * `"unsigned"` as memberlist 0.2.2 does (`cc/cd/ce`), `"signed"` as 0.5.x does (`d1/d2/d3`).
 * Every version reads both.
 */
export type IntFormat = "unsigned" | "signed";
