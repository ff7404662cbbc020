/**
 * What every signature scheme implements, and the helpers they share: a check that hashes the
 * body as it streams past, and the timestamp tolerance test.
 *
 * @module
 */
import type { Hmac } from "node:crypto";
import type { HeaderLookup } from "../../protocol/providers.ts";
import { type DigestEncoding, type HmacAlgorithm, startHmac } from "./_crypto.ts";
import { invalid, unchecked, valid, type Verdict, type VerifyProvider } from "./verdict.ts";

/** What a check knows besides the delivery. */
export interface SchemeContext {
  /** The time the delivery is judged at, ms since the epoch. */
  now: number;
  /** Largest timestamp age (and lead, where the scheme limits it) accepted, ms; 0: no limit. */
  tolerance: number;
  /** Bodies larger than this many bytes are not hashed: the verdict is `unchecked`. */
  maxBody: number;
}

/** One delivery's check in progress: fed the body chunk by chunk, then asked for the verdict. */
export interface BodyCheck {
  /**
   * Feeds the next chunk of the body, exactly as received. The chunk is hashed at once and not
   * kept.
   */
  update(chunk: Uint8Array): void;
  /** The verdict, once the whole body has been fed. */
  finish(): Verdict;
  /**
   * The verdict when the body did not arrive whole (reset, or the app stopped reading): an
   * `invalid` decided from the headers alone stays; otherwise `unchecked` (`incomplete`).
   */
  abandon(): Verdict;
}

/** One signature scheme (a provider's, or a generic HMAC rule). */
export interface Scheme {
  /** The provider name shown in verdicts. */
  readonly provider: VerifyProvider;
  /**
   * Turns a configured secret into the key bytes the scheme uses.
   * @throws {TypeError} When the secret is malformed (the message never contains it).
   */
  key(secret: string): Uint8Array;
  /**
   * Starts checking one delivery against every key (a match with any is `valid`).
   * @param headers The delivery's headers.
   * @param keys The configured keys, at least one.
   * @param context Clock, tolerance, body limit.
   */
  begin(headers: HeaderLookup, keys: readonly Uint8Array[], context: SchemeContext): BodyCheck;
}

/**
 * A check already decided from the headers alone: the body is ignored.
 * @param verdict The verdict.
 * @returns The check.
 */
export function decided(verdict: Verdict): BodyCheck {
  return { update() {}, finish: () => verdict, abandon: () => verdict };
}

/** Options for {@linkcode hmacCheck}. */
export interface HmacCheckOptions {
  /** The provider in verdicts. */
  provider: VerifyProvider;
  /** The hash. */
  algorithm: HmacAlgorithm;
  /** The keys to try. */
  keys: readonly Uint8Array[];
  /** Bytes the scheme signs before the body (`{t}.` for Stripe, …). */
  prefix?: Uint8Array;
  /** Clock, tolerance, body limit. */
  context: SchemeContext;
  /** The signature header's name, for reasons. */
  header: string;
  /** How the expected digest is encoded for {@linkcode HmacCheckOptions.matches}. */
  encoding: DigestEncoding;
  /** Whether an expected signature (the digest, encoded) is among the received ones. */
  matches(expected: string): boolean;
  /** Checks that follow a matching signature (the timestamp); `undefined`: none fails. */
  after?(): Verdict | undefined;
}

/**
 * A check that hashes `prefix` + body with every key as the body streams past, then compares.
 * A body over `context.maxBody` stops being hashed and is `unchecked`.
 * @param options Scheme parameters.
 * @returns The check.
 */
export function hmacCheck(options: HmacCheckOptions): BodyCheck {
  const { provider, keys, context } = options;
  let hmacs: Hmac[] | undefined = keys.map((key) => {
    const hmac = startHmac(options.algorithm, key);
    if (options.prefix) hmac.update(options.prefix);
    return hmac;
  });
  let size = 0;
  return {
    update(chunk) {
      if (!hmacs) return;
      size += chunk.length;
      if (size > context.maxBody) {
        hmacs = undefined;
        return;
      }
      for (const hmac of hmacs) hmac.update(chunk);
    },
    finish() {
      if (!hmacs) {
        return unchecked(
          provider,
          "too_large",
          `the body is over ${context.maxBody} bytes (--verify-max-body): not checked`,
        );
      }
      let matched = -1;
      // Every key is tried (no early exit), so timing does not tell which one matched.
      hmacs.forEach((hmac, i) => {
        const expected = hmac.digest(options.encoding);
        if (options.matches(expected) && matched < 0) matched = i;
      });
      hmacs = undefined;
      if (matched < 0) {
        return invalid(
          provider,
          "bad_signature",
          `bad signature: ${options.header} matches none of the ${keys.length} configured ${
            keys.length === 1 ? "secret" : "secrets"
          }`,
        );
      }
      return options.after?.() ?? valid(provider, secretReason(matched, keys.length));
    },
    abandon() {
      hmacs = undefined;
      return unchecked(provider, "incomplete", "the body did not arrive whole: not checked");
    },
  };
}

/**
 * Which secret matched, as a reason text.
 * @param index 0-based.
 * @param count Secrets configured.
 * @returns e.g. `signature matches secret 2 of 2`.
 */
export function secretReason(index: number, count: number): string {
  return `signature matches secret ${index + 1} of ${count}`;
}

/**
 * Parses a Unix timestamp in seconds, digits only.
 * @param text The header value.
 * @returns Seconds, or `undefined` when not a whole number.
 */
export function parseSeconds(text: string): number | undefined {
  return /^\d{1,15}$/.test(text) ? Number(text) : undefined;
}

/**
 * Checks a signed timestamp against the tolerance.
 * @param provider The provider in verdicts.
 * @param seconds The signed timestamp, Unix seconds.
 * @param context Clock and tolerance.
 * @param limitFuture Also refuse timestamps more than the tolerance ahead (Slack, Standard
 *   Webhooks do; stripe-node does not).
 * @returns An `invalid` verdict, or `undefined` when the timestamp is acceptable.
 */
export function checkTimestamp(
  provider: VerifyProvider,
  seconds: number,
  context: SchemeContext,
  limitFuture: boolean,
): Verdict | undefined {
  if (context.tolerance <= 0) return undefined;
  const toleranceSeconds = Math.floor(context.tolerance / 1000);
  const age = Math.floor(context.now / 1000) - seconds;
  if (age > toleranceSeconds) {
    return invalid(
      provider,
      "expired",
      `expired: the timestamp is ${age} s old (tolerance ${toleranceSeconds} s)`,
    );
  }
  if (limitFuture && -age > toleranceSeconds) {
    return invalid(
      provider,
      "future",
      `future: the timestamp is ${-age} s ahead (tolerance ${toleranceSeconds} s)`,
    );
  }
  return undefined;
}

/**
 * The `missing_header` verdict.
 * @param provider The provider.
 * @param header The header's name as the provider spells it.
 * @returns The verdict.
 */
export function missing(provider: VerifyProvider, header: string): Verdict {
  return invalid(provider, "missing_header", `missing header ${header}`);
}

/**
 * A key from a secret used as text (its UTF-8 bytes), refusing an empty one.
 * @param provider For the message.
 * @param secret The secret.
 * @returns The key.
 */
export function textKey(provider: VerifyProvider, secret: string): Uint8Array {
  if (secret === "") throw new TypeError(`The ${provider} secret is empty`);
  return new TextEncoder().encode(secret);
}
