/**
 * GitHub: `X-Hub-Signature-256: sha256=<hex>`, the HMAC-SHA256 of the raw body keyed with the
 * webhook secret, compared as `@octokit/webhooks-methods` `verify` does (the whole text, lower-case
 * hex).
 *
 * @module
 */
import { digestPattern, equalText } from "./_crypto.ts";
import { decided, hmacCheck, missing, type Scheme, textKey } from "./_scheme.ts";
import { invalid } from "./verdict.ts";

/** The signature header, as GitHub spells it. */
export const GITHUB_SIGNATURE_HEADER = "X-Hub-Signature-256";

const PREFIX = "sha256=";
const HEX = digestPattern("sha256", "hex");

/** GitHub's scheme. */
export const github: Scheme = {
  provider: "github",
  key: (secret) => textKey("github", secret),
  begin(headers, keys, context) {
    const value = headers.get(GITHUB_SIGNATURE_HEADER);
    if (value === null) return decided(missing("github", GITHUB_SIGNATURE_HEADER));
    if (!value.startsWith(PREFIX) || !HEX.test(value.slice(PREFIX.length))) {
      return decided(invalid(
        "github",
        "unparseable",
        `unparseable: ${GITHUB_SIGNATURE_HEADER} is not "sha256=" and 64 lower-case hex digits`,
      ));
    }
    return hmacCheck({
      provider: "github",
      algorithm: "sha256",
      encoding: "hex",
      keys,
      context,
      header: GITHUB_SIGNATURE_HEADER,
      matches: (expected) => equalText(PREFIX + expected, value),
    });
  },
};
