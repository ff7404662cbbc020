/**
 * AES-GCM encryption exactly as memberlist's keyring uses it (PROTOCOL.md §9):
 * `<version 0|1> <nonce 12> <ciphertext> <tag 16>`; version 0 pads the plaintext PKCS#7-style
 * to a multiple of 16 inside the ciphertext. Uses WebCrypto, hence async.
 *
 * @module
 */

import { WireDecodeError } from "./errors.ts";
import {
  AES_BLOCK_BYTES,
  AES_KEY_LENGTHS,
  ENCRYPTION_VERSION_BYTES,
  GCM_NONCE_BYTES,
  GCM_TAG_BYTES,
  MAX_ENCRYPTION_VERSION,
} from "./limits.ts";
import type { Keyring } from "./types.ts";

/** Encryption version: 0 (PKCS#7 padded, sent by ProtocolVersion 1) or 1 (unpadded, default). */
export type EncryptionVersion = 0 | 1;

const GCM_TAG_BITS = GCM_TAG_BYTES * 8;
const HEADER_BYTES = ENCRYPTION_VERSION_BYTES + GCM_NONCE_BYTES;

const keyCache = new WeakMap<Uint8Array, Promise<CryptoKey>>();

function importKey(key: Uint8Array): Promise<CryptoKey> {
  let k = keyCache.get(key);
  if (!k) {
    k = crypto.subtle.importKey("raw", key.slice(), "AES-GCM", false, ["encrypt", "decrypt"]);
    keyCache.set(key, k);
  }
  return k;
}

function checkKey(key: Uint8Array): void {
  if (!(key instanceof Uint8Array) || !AES_KEY_LENGTHS.includes(key.length)) {
    throw new RangeError(
      `Invalid key: expected ${AES_KEY_LENGTHS.join(", ")} bytes, got ${key?.length}`,
    );
  }
}

/**
 * Bytes encryption adds to a message of `length` bytes (the maximum when `length` is omitted):
 * 29 for version 1, 30–45 for version 0.
 *
 * @param version Encryption version.
 * @param length Plaintext length, if known.
 * @returns The overhead in bytes.
 */
export function encryptionOverhead(version: EncryptionVersion, length?: number): number {
  const base = HEADER_BYTES + GCM_TAG_BYTES;
  if (version === 1) return base;
  if (length === undefined) return base + AES_BLOCK_BYTES;
  return base + AES_BLOCK_BYTES - (length % AES_BLOCK_BYTES);
}

/** Options for {@linkcode encryptPayload}. */
export interface EncryptOptions {
  /** Encryption version. @default 1 */
  version?: EncryptionVersion;
  /** GCM additional data (UDP: the label; TCP: the 5-byte header + label). @default none */
  additionalData?: Uint8Array;
  /** Nonce to use instead of a random one (tests only: reusing a nonce breaks GCM). */
  nonce?: Uint8Array;
}

/**
 * Encrypts a payload like memberlist's `encryptPayload`.
 *
 * @param plaintext Bytes to seal.
 * @param key 16, 24 or 32-byte AES key (the keyring's primary key).
 * @param options Version, additional data.
 * @returns `<version><nonce><ciphertext+tag>`.
 * @throws {RangeError} On a bad key or nonce length.
 */
export async function encryptPayload(
  plaintext: Uint8Array,
  key: Uint8Array,
  options: EncryptOptions = {},
): Promise<Uint8Array> {
  checkKey(key);
  const version = options.version ?? 1;
  const nonce = options.nonce ?? crypto.getRandomValues(new Uint8Array(GCM_NONCE_BYTES));
  if (nonce.length !== GCM_NONCE_BYTES) {
    throw new RangeError(`Invalid nonce: expected ${GCM_NONCE_BYTES} bytes, got ${nonce.length}`);
  }
  let plain = plaintext;
  if (version === 0) {
    const pad = AES_BLOCK_BYTES - (plaintext.length % AES_BLOCK_BYTES);
    plain = new Uint8Array(plaintext.length + pad);
    plain.set(plaintext);
    plain.fill(pad, plaintext.length);
  }
  const sealed = new Uint8Array(
    await crypto.subtle.encrypt(
      {
        name: "AES-GCM",
        iv: nonce.slice(),
        tagLength: GCM_TAG_BITS,
        additionalData: (options.additionalData ?? new Uint8Array(0)).slice(),
      },
      await importKey(key),
      plain.slice(),
    ),
  );
  const out = new Uint8Array(HEADER_BYTES + sealed.length);
  out[0] = version;
  out.set(nonce, ENCRYPTION_VERSION_BYTES);
  out.set(sealed, HEADER_BYTES);
  return out;
}

/** Options for {@linkcode decryptPayload}. */
export interface DecryptOptions {
  /** GCM additional data the sender used. @default none */
  additionalData?: Uint8Array;
}

/**
 * Decrypts a payload like memberlist's `decryptPayload`: checks the version and size, tries
 * every key in order, strips version-0 padding.
 *
 * @param blob `<version><nonce><ciphertext+tag>`.
 * @param keys Keyring, primary first.
 * @param options Additional data.
 * @returns The plaintext.
 * @throws {WireDecodeError} `"decrypt"` on a bad version, a short blob, bad padding or when no
 *   key authenticates; `"encryptedNoKeys"` when `keys` is empty.
 */
export async function decryptPayload(
  blob: Uint8Array,
  keys: Keyring,
  options: DecryptOptions = {},
): Promise<Uint8Array> {
  if (keys.length === 0) {
    throw new WireDecodeError("encryptedNoKeys", "Cannot decrypt: no keys installed");
  }
  if (blob.length === 0) throw new WireDecodeError("decrypt", "Cannot decrypt empty payload");
  const version = blob[0];
  if (version > MAX_ENCRYPTION_VERSION) {
    throw new WireDecodeError("decrypt", `Unsupported encryption version ${version}`);
  }
  const min = encryptionOverhead(version as EncryptionVersion, 0);
  if (blob.length < min) {
    throw new WireDecodeError("decrypt", `Payload is too small to decrypt: ${blob.length}`);
  }
  const iv = blob.slice(ENCRYPTION_VERSION_BYTES, HEADER_BYTES);
  const data = blob.slice(HEADER_BYTES);
  const additionalData = (options.additionalData ?? new Uint8Array(0)).slice();
  for (const key of keys) {
    if (!(key instanceof Uint8Array) || !AES_KEY_LENGTHS.includes(key.length)) continue;
    let plain: Uint8Array;
    try {
      plain = new Uint8Array(
        await crypto.subtle.decrypt(
          { name: "AES-GCM", iv, tagLength: GCM_TAG_BITS, additionalData },
          await importKey(key),
          data,
        ),
      );
    } catch {
      continue;
    }
    if (version === 1) return plain;
    const pad = plain.length > 0 ? plain[plain.length - 1] : 0;
    if (plain.length === 0 || pad > plain.length) {
      throw new WireDecodeError("decrypt", "Cannot decrypt: invalid PKCS7 padding");
    }
    return plain.subarray(0, plain.length - pad);
  }
  throw new WireDecodeError("decrypt", "No installed keys could decrypt the message");
}
