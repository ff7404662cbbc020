/**
 * Stripe: `Stripe-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>…]`, each `v1` the HMAC-SHA256
 * of `{t}.{raw body}` keyed with the endpoint's `whsec_…` secret (the whole text is the key).
 * Any `v1` may match (Stripe sends several while a secret is rolled). As in `stripe-node`, items
 * are split on `,` and `=` without trimming, other schemes (`v0`) are ignored, and a timestamp
 * older than the tolerance is refused while one in the future is not.
 *
 * @module
 */
import { digestPattern, equalText } from "./_crypto.ts";
import {
  checkTimestamp,
  decided,
  hmacCheck,
  missing,
  parseSeconds,
  type Scheme,
  textKey,
} from "./_scheme.ts";
import { invalid } from "./verdict.ts";

/** The signature header, as Stripe spells it. */
export const STRIPE_SIGNATURE_HEADER = "Stripe-Signature";

const HEX = digestPattern("sha256", "hex");

/** Stripe's scheme. */
export const stripe: Scheme = {
  provider: "stripe",
  key: (secret) => textKey("stripe", secret),
  begin(headers, keys, context) {
    const value = headers.get(STRIPE_SIGNATURE_HEADER);
    if (value === null || value === "") return decided(missing("stripe", STRIPE_SIGNATURE_HEADER));
    let timestamp: string | undefined;
    const signatures: string[] = [];
    for (const item of value.split(",")) {
      const equals = item.indexOf("=");
      const name = equals < 0 ? item : item.slice(0, equals);
      const text = equals < 0 ? "" : item.slice(equals + 1);
      if (name === "t") timestamp = text;
      else if (name === "v1") signatures.push(text);
    }
    const unparseable = (what: string) =>
      decided(invalid("stripe", "unparseable", `unparseable: ${STRIPE_SIGNATURE_HEADER} ${what}`));
    if (timestamp === undefined) return unparseable("has no t= timestamp");
    const seconds = parseSeconds(timestamp);
    if (seconds === undefined) return unparseable(`has a t= that is not Unix seconds`);
    if (signatures.length === 0) return unparseable("has no v1= signature");
    if (!signatures.some((signature) => HEX.test(signature))) {
      return unparseable("has no v1= signature of 64 lower-case hex digits");
    }
    return hmacCheck({
      provider: "stripe",
      algorithm: "sha256",
      encoding: "hex",
      keys,
      context,
      prefix: new TextEncoder().encode(`${timestamp}.`),
      header: STRIPE_SIGNATURE_HEADER,
      // Every v1 is compared (no early exit).
      matches: (expected) =>
        signatures.map((signature) => equalText(expected, signature)).includes(true),
      after: () => checkTimestamp("stripe", seconds, context, false),
    });
  },
};
