/**
 * Signature checks on the client: each delivery's signature is verified against the secrets the
 * developer configured, on the exact bytes the sender sent, so the secrets never leave the
 * developer's machine. One module per scheme (`github.ts`, `gitlab.ts`, `stripe.ts`, `slack.ts`,
 * `shopify.ts`, `standard.ts`, and the generic `hmac.ts`); {@linkcode Verifier} picks the one that
 * applies (the provider `protocol/providers.ts` recognises) and returns a {@linkcode Verdict}:
 * `valid`, `invalid` with the reason, or `unchecked`.
 *
 * Every comparison runs in constant time (`node:crypto` `timingSafeEqual`); bodies are hashed as
 * they stream (`node:crypto` HMACs, fed chunk by chunk), never copied for the check.
 *
 * @example
 * ```ts
 * import { parseVerifyRule, Verifier } from "./mod.ts";
 * const verifier = new Verifier([parseVerifyRule("stripe=whsec_test")], { tolerance: 300_000 });
 * const check = verifier.begin(new Headers({ "stripe-signature": "t=1,v1=00" }));
 * check.update(new TextEncoder().encode("{}"));
 * console.log(check.finish()); // { result: "invalid", code: "unparseable", … }
 * ```
 *
 * @module
 */
export { Verifier, VERIFY_DEFAULTS } from "./verifier.ts";
export type { VerifierOptions } from "./verifier.ts";
export {
  parseVerifyFile,
  parseVerifyRule,
  splitVerifyRules,
  VERIFY_PROVIDERS,
  verifyFileLines,
} from "./rules.ts";
export type { HmacRule, NamedProvider, NamedRule, VerifyRule } from "./rules.ts";
export type { BodyCheck } from "./_scheme.ts";
export { formatVerdict, unchecked } from "./verdict.ts";
export type { Verdict, VerifyCode, VerifyProvider, VerifyResult } from "./verdict.ts";
