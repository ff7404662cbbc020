/**
 * Channel ids and secrets under one key, both verifiable without any lookup, so that a channel
 * survives a server restart (with the same `--channel-key`) and every replica of a cluster
 * accepts the same ones.
 *
 * - The secret is `HMAC-SHA256(key, id)`, base64url (256 bits; only the client knows it).
 * - The id is a UUID v4 whose last 8 bytes are a tag, `HMAC-SHA256(key, "id" + first 8 bytes)`
 *   (with the UUID variant bits set): 60 random bits, 62 tag bits. The tag is not a secret; it
 *   lets a restarted server tell "a channel we issued whose client has not reconnected yet"
 *   (503, retry) from "an id nobody issued" (404).
 *
 * @module
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

/** Bytes of a randomly generated channel key (when `--channel-key` is not set). */
const RANDOM_KEY_BYTES = 32;

/** Issues and verifies channel secrets under one key. */
export class ChannelSecrets {
  #key: Uint8Array;

  /**
   * @param key The channel key; random when omitted (then secrets die with the process).
   */
  constructor(key?: string | Uint8Array) {
    this.#key = typeof key === "string"
      ? new TextEncoder().encode(key)
      : key ?? new Uint8Array(randomBytes(RANDOM_KEY_BYTES));
  }

  /**
   * A new channel id: a UUID v4 carrying this key's tag.
   * @returns The id.
   */
  issueId(): string {
    const bytes = new Uint8Array(16);
    bytes.set(randomBytes(8));
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes.set(this.#tag(bytes.subarray(0, 8)), 8);
    const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${
      hex.slice(20)
    }`;
  }

  /**
   * Whether `id` was issued under this key (by this replica or any replica sharing the key).
   * @param id A channel id.
   * @returns True when its tag matches.
   */
  isIssued(id: string): boolean {
    const hex = id.replaceAll("-", "");
    if (!/^[0-9a-f]{32}$/.test(hex)) return false;
    const bytes = new Uint8Array(hex.match(/../g)!.map((pair) => parseInt(pair, 16)));
    return timingSafeEqual(bytes.subarray(8), this.#tag(bytes.subarray(0, 8)));
  }

  #tag(head: Uint8Array): Uint8Array {
    const tag = new Uint8Array(
      createHmac("sha256", this.#key).update("id").update(head).digest().subarray(0, 8),
    );
    tag[0] = (tag[0] & 0x3f) | 0x80;
    return tag;
  }

  /**
   * The secret of a channel.
   * @param channelId The channel id.
   * @returns The base64url secret.
   */
  secretFor(channelId: string): string {
    return createHmac("sha256", this.#key).update(channelId).digest("base64url");
  }

  /**
   * Checks a presented secret in constant time.
   * @param channelId The channel id.
   * @param presented The secret the client sent, if any.
   * @returns Whether it is the channel's secret.
   */
  verify(channelId: string, presented: string | null | undefined): boolean {
    if (!presented) return false;
    const expected = new TextEncoder().encode(this.secretFor(channelId));
    const given = new TextEncoder().encode(presented);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }
}
