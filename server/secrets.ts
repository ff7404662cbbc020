/**
 * Channel secrets: `HMAC-SHA256(channel key, channel id)`, base64url. A replica can verify a
 * secret without any lookup, so a channel survives a server restart (with the same
 * `--channel-key`) and every replica of a cluster accepts the same secrets.
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
