/**
 * Shopify: `X-Shopify-Hmac-Sha256: <base64>`, the HMAC-SHA256 of the raw body keyed with the
 * app's client secret (or the webhook signing secret), compared as text.
 *
 * @module
 */
import { digestPattern, equalText } from "./_crypto.ts";
import { decided, hmacCheck, missing, type Scheme, textKey } from "./_scheme.ts";
import { invalid } from "./verdict.ts";

/** The signature header, as Shopify spells it. */
export const SHOPIFY_SIGNATURE_HEADER = "X-Shopify-Hmac-Sha256";

const BASE64 = digestPattern("sha256", "base64");

/** Shopify's scheme. */
export const shopify: Scheme = {
  provider: "shopify",
  key: (secret) => textKey("shopify", secret),
  begin(headers, keys, context) {
    const value = headers.get(SHOPIFY_SIGNATURE_HEADER);
    if (value === null) return decided(missing("shopify", SHOPIFY_SIGNATURE_HEADER));
    if (!BASE64.test(value)) {
      return decided(invalid(
        "shopify",
        "unparseable",
        `unparseable: ${SHOPIFY_SIGNATURE_HEADER} is not the base64 of 32 bytes`,
      ));
    }
    return hmacCheck({
      provider: "shopify",
      algorithm: "sha256",
      encoding: "base64",
      keys,
      context,
      header: SHOPIFY_SIGNATURE_HEADER,
      matches: (expected) => equalText(expected, value),
    });
  },
};
