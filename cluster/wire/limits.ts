/**
 * Limits and wire constants of the memberlist codec, in one place.
 *
 * Every number the codec checks against lives here with the reason for its value. Protocol
 * constants (fixed by memberlist) are separate from our own safety caps (chosen by us).
 *
 * @module
 */

/**
 * Largest UDP datagram a memberlist node reads (its receive buffer). A packet cannot be bigger,
 * so neither can anything inside it before decompression.
 */
export const MAX_UDP_PACKET_BYTES = 65_536;

/**
 * Default payload budget of one UDP packet (memberlist `UDPBufferSize`). Go fills packets up to
 * this size; wrappers (CRC, encryption, label) come on top of or out of it.
 */
export const UDP_BUFFER_SIZE = 1_400;

/**
 * Cap on the bytes one LZW stream inside a UDP packet may expand to. A real packet is at most
 * 64 KiB before compression, so more output can only come from a hostile or corrupt stream.
 */
export const MAX_UDP_DECOMPRESSED_BYTES = 65_536;

/**
 * Cap on the total bytes decompressed while decoding one UDP packet (all nested compress
 * wrappers together), so nesting cannot multiply {@linkcode MAX_UDP_DECOMPRESSED_BYTES}.
 */
export const MAX_UDP_TOTAL_DECOMPRESSED_BYTES = 4 * MAX_UDP_DECOMPRESSED_BYTES;

/**
 * Cap on one TCP stream message: the encrypted block length, the bytes read from an
 * unencrypted stream and the LZW output. Go refuses encrypted blocks above 20 MiB; our cluster
 * state is a few hundred bytes per node, so 8 MiB holds tens of thousands of members while
 * bounding memory per connection.
 */
export const MAX_STREAM_BYTES = 8 * 1024 * 1024;

/**
 * Cap on `Nodes` in a push/pull header. memberlist v0.6.0 allows up to 1 Mi; every node state
 * needs well over 8 bytes, so {@linkcode MAX_STREAM_BYTES} could never hold more than this.
 */
export const MAX_PUSH_PULL_NODES = MAX_STREAM_BYTES / 8;

/**
 * Deepest nesting of compound/compress wrappers accepted in one packet. Go writes at most
 * compress(compound(...)), i.e. 2; the cap keeps recursion bounded on hostile input.
 */
export const MAX_WRAPPER_DEPTH = 8;

/**
 * Deepest nesting of msgpack maps/arrays accepted. memberlist bodies are flat maps (depth 1;
 * a Vsn array makes 2), so anything deeper is garbage and would only risk the call stack.
 */
export const MAX_MSGPACK_DEPTH = 16;

/** Largest node metadata memberlist accepts from its delegate (`MetaMaxSize`). */
export const META_MAX_SIZE = 512;

/** Length of the `Vsn` field: [PMin, PMax, PCur, DMin, DMax, DCur]. */
export const VSN_LENGTH = 6;

/** Most parts one compound message can hold: its count is one byte. */
export const MAX_COMPOUND_PARTS = 255;

/** Largest compound part: each length is a big-endian u16. */
export const MAX_COMPOUND_PART_BYTES = 0xffff;

/** Compound header bytes a sender budgets per packet (type byte + count byte). */
export const COMPOUND_HEADER_OVERHEAD = 2;

/** Compound bytes a sender budgets per part (its u16 length). */
export const COMPOUND_PART_OVERHEAD = 2;

/** Bytes the CRC wrapper adds: type byte + CRC-32 (big-endian). */
export const CRC_OVERHEAD = 5;

/** Length of a CRC-32 checksum. */
export const CRC_BYTES = 4;

/** Length of the encryption version byte. */
export const ENCRYPTION_VERSION_BYTES = 1;

/** AES-GCM nonce length memberlist uses. */
export const GCM_NONCE_BYTES = 12;

/** AES-GCM tag length memberlist uses. */
export const GCM_TAG_BYTES = 16;

/** AES block size, the PKCS#7 padding unit of encryption version 0. */
export const AES_BLOCK_BYTES = 16;

/** AES key lengths memberlist accepts (AES-128, AES-192, AES-256). */
export const AES_KEY_LENGTHS: readonly number[] = [16, 24, 32];

/** Highest encryption version memberlist knows. */
export const MAX_ENCRYPTION_VERSION = 1;

/** Stream encryption header: type byte `0a` + big-endian u32 length (also the GCM AD). */
export const STREAM_ENCRYPT_HEADER_BYTES = 5;

/** Longest label: its length is one byte (0 is invalid). */
export const MAX_LABEL_BYTES = 255;

/** Label header bytes before the label itself: type byte `f4` + length byte. */
export const LABEL_HEADER_OVERHEAD = 2;

/** LZW literal width memberlist uses with Go's `compress/lzw` (LSB order). */
export const LZW_LIT_WIDTH = 8;

/** Widest LZW code Go's `compress/lzw` uses. */
export const LZW_MAX_WIDTH = 12;

/** The only compression algorithm memberlist defines (`lzwAlgo`). */
export const LZW_ALGO = 0;
