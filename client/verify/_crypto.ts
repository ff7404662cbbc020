/**
 * The primitives every scheme shares: a streaming HMAC (`node:crypto`, so a body is hashed chunk
 * by chunk as it passes, with no copy of its own) and constant-time comparisons
 * (`timingSafeEqual`).
 *
 * @module
 */
import { createHash, createHmac, type Hmac, timingSafeEqual } from "node:crypto";

/** Hash functions an HMAC rule may name. */
export type HmacAlgorithm = "sha1" | "sha256" | "sha512";

/** Every {@linkcode HmacAlgorithm}, for parsing and help. */
export const HMAC_ALGORITHMS: readonly HmacAlgorithm[] = ["sha1", "sha256", "sha512"];

/** How a digest is written in a header. */
export type DigestEncoding = "hex" | "base64" | "base64url";

/** Every {@linkcode DigestEncoding}, for parsing and help. */
export const DIGEST_ENCODINGS: readonly DigestEncoding[] = ["hex", "base64", "base64url"];

const encoder = new TextEncoder();

/**
 * Starts an HMAC that is fed chunk by chunk.
 * @param algorithm The hash.
 * @param key The key bytes.
 * @returns The running HMAC (`update`, `digest`).
 */
export function startHmac(algorithm: HmacAlgorithm, key: Uint8Array): Hmac {
  return createHmac(algorithm, key);
}

/**
 * Compares two texts in time that depends only on their lengths (which are public: every
 * signature of a scheme has the same length).
 * @param a One text (e.g. the expected signature).
 * @param b The other (e.g. the received one).
 * @returns Whether they are equal, byte for byte.
 */
export function equalText(a: string, b: string): boolean {
  const left = encoder.encode(a);
  const right = encoder.encode(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

/**
 * Compares a received token with a secret without revealing either's length or content through
 * timing: both are hashed (SHA-256) first, and the digests compared in constant time.
 * @param secret The configured secret.
 * @param received The received token.
 * @returns Whether they are equal.
 */
export function equalSecret(secret: Uint8Array, received: string): boolean {
  const a = createHash("sha256").update(secret).digest();
  const b = createHash("sha256").update(encoder.encode(received)).digest();
  return timingSafeEqual(a, b);
}

/** Length of each digest in bytes. */
const DIGEST_BYTES: Record<HmacAlgorithm, number> = { sha1: 20, sha256: 32, sha512: 64 };

/**
 * A pattern matching exactly a well-formed encoding of an `algorithm` digest.
 * @param algorithm The hash.
 * @param encoding How the digest is written.
 * @returns The pattern (lower-case hex only; canonical base64 with its padding).
 */
export function digestPattern(algorithm: HmacAlgorithm, encoding: DigestEncoding): RegExp {
  const bytes = DIGEST_BYTES[algorithm];
  if (encoding === "hex") return new RegExp(`^[0-9a-f]{${bytes * 2}}$`);
  const full = Math.floor(bytes / 3) * 4;
  const rest = bytes % 3;
  if (encoding === "base64") {
    const tail = rest === 0 ? "" : rest === 1 ? "[A-Za-z0-9+/]{2}==" : "[A-Za-z0-9+/]{3}=";
    return new RegExp(`^[A-Za-z0-9+/]{${full}}${tail}$`);
  }
  const tail = rest === 0 ? "" : rest === 1 ? "[A-Za-z0-9_-]{2}" : "[A-Za-z0-9_-]{3}";
  return new RegExp(`^[A-Za-z0-9_-]{${full}}${tail}(?:={0,${rest ? 3 - rest : 0}})$`);
}

/**
 * Decodes standard base64 strictly (no whitespace, correct padding).
 * @param text The base64 text.
 * @returns The bytes, or `undefined` when the text is not base64.
 */
export function decodeBase64(text: string): Uint8Array | undefined {
  if (text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return undefined;
  try {
    return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  } catch {
    return undefined;
  }
}
