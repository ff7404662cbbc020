/**
 * The verdict of a signature check: what the client records for each delivery, logs, and (in
 * `reject` mode) acts on.
 *
 * @module
 */
import type { ProviderName } from "../../protocol/providers.ts";

/**
 * The schemes the client can verify: every provider `protocol/providers.ts` recognises, plus
 * `hmac`, the generic rule.
 */
export type VerifyProvider = Exclude<ProviderName, ""> | "hmac";

/**
 * `valid`: a configured secret produced the delivery's signature (and its timestamp is fresh);
 * `invalid`: a rule applies and the delivery fails it; `unchecked`: no rule applies (unsigned, no
 * secret configured for its provider, or its body is over the size limit).
 */
export type VerifyResult = "valid" | "invalid" | "unchecked";

/**
 * Why a verdict is what it is, for programs (the `reason` text is for people).
 *
 * - `ok`: valid.
 * - `missing_header`, `unparseable`, `bad_signature`, `expired`, `future`: invalid.
 * - `unsigned`, `no_secret`, `too_large`, `incomplete` (the body did not arrive whole):
 *   unchecked.
 */
export type VerifyCode =
  | "ok"
  | "missing_header"
  | "unparseable"
  | "bad_signature"
  | "expired"
  | "future"
  | "unsigned"
  | "no_secret"
  | "too_large"
  | "incomplete";

/** The outcome of checking one delivery. */
export interface Verdict {
  /** `valid`, `invalid` or `unchecked`. */
  result: VerifyResult;
  /** The scheme that was applied, or the provider recognised; `""` when none. */
  provider: VerifyProvider | "";
  /** Machine-readable reason. */
  code: VerifyCode;
  /**
   * One line for people, e.g. `expired: the timestamp is 612 s old (tolerance 300 s)`. Never
   * contains a secret.
   */
  reason: string;
}

/**
 * A `valid` verdict.
 * @param provider The scheme applied.
 * @param reason Which secret matched.
 * @returns The verdict.
 */
export function valid(provider: VerifyProvider, reason: string): Verdict {
  return { result: "valid", provider, code: "ok", reason };
}

/**
 * An `invalid` verdict.
 * @param provider The scheme applied.
 * @param code Why.
 * @param reason Why, for people.
 * @returns The verdict.
 */
export function invalid(
  provider: VerifyProvider,
  code: Exclude<VerifyCode, "ok" | "unsigned" | "no_secret" | "too_large" | "incomplete">,
  reason: string,
): Verdict {
  return { result: "invalid", provider, code, reason };
}

/**
 * An `unchecked` verdict.
 * @param provider The provider recognised, if any.
 * @param code Why no rule applied.
 * @param reason Why, for people.
 * @returns The verdict.
 */
export function unchecked(
  provider: VerifyProvider | "",
  code: "unsigned" | "no_secret" | "too_large" | "incomplete",
  reason: string,
): Verdict {
  return { result: "unchecked", provider, code, reason };
}

/**
 * The verdict as one short phrase for a log line: `valid (stripe)`,
 * `invalid (github: bad signature: …)`, `unchecked (unsigned: …)`.
 * @param verdict The verdict.
 * @returns The phrase.
 */
export function formatVerdict(verdict: Verdict): string {
  if (verdict.result === "valid") return `valid (${verdict.provider})`;
  const who = verdict.provider ? `${verdict.provider}: ` : "";
  return `${verdict.result} (${who}${verdict.reason})`;
}
