/**
 * Standard Webhooks (and Svix, which uses the same scheme under `svix-*` names):
 * `webhook-signature: v1,<base64> [v1,<base64> …]`, each the HMAC-SHA256 of
 * `{webhook-id}.{webhook-timestamp}.{raw body}` keyed with the base64 secret after `whsec_`.
 * Several signatures per header (key rotation on the sender's side) are all compared; other
 * versions (`v1a` asymmetric) are ignored. A timestamp more than the tolerance from now, either
 * way, is refused, as `standardwebhooks`'s `Webhook.verify` does.
 *
 * @module
 */
import { decodeBase64, digestPattern, equalText } from "./_crypto.ts";
import {
  checkTimestamp,
  decided,
  hmacCheck,
  missing,
  parseSeconds,
  type Scheme,
} from "./_scheme.ts";
import { invalid } from "./verdict.ts";

/** The three headers, by their Standard Webhooks names and their Svix names. */
export const STANDARD_HEADERS = {
  id: ["webhook-id", "svix-id"],
  timestamp: ["webhook-timestamp", "svix-timestamp"],
  signature: ["webhook-signature", "svix-signature"],
} as const;

/** The prefix of a Standard Webhooks secret. */
export const STANDARD_SECRET_PREFIX = "whsec_";

const BASE64 = digestPattern("sha256", "base64");
const VERSION = "v1,";

/** The Standard Webhooks / Svix scheme. */
export const standard: Scheme = {
  provider: "standard",
  key(secret) {
    const text = secret.startsWith(STANDARD_SECRET_PREFIX)
      ? secret.slice(STANDARD_SECRET_PREFIX.length)
      : secret;
    const key = decodeBase64(text);
    if (!key || key.length === 0) {
      throw new TypeError(
        `The standard secret is not "${STANDARD_SECRET_PREFIX}" followed by base64 (as the sender shows it)`,
      );
    }
    return key;
  },
  begin(headers, keys, context) {
    // Each field under its Standard Webhooks name, else its Svix name; a missing one is named in
    // the family the sender uses.
    const svix = headers.get("svix-id") !== null || headers.get("svix-signature") !== null;
    const fields: { value: string; name: string }[] = [];
    for (
      const names of [STANDARD_HEADERS.id, STANDARD_HEADERS.timestamp, STANDARD_HEADERS.signature]
    ) {
      const name = headers.get(names[0]) !== null ? names[0] : names[1];
      const value = headers.get(name);
      if (value === null) return decided(missing("standard", names[svix ? 1 : 0]));
      fields.push({ value, name });
    }
    const [id, timestamp, signature] = fields;
    const seconds = parseSeconds(timestamp.value);
    if (seconds === undefined) {
      return decided(
        invalid("standard", "unparseable", `unparseable: ${timestamp.name} is not Unix seconds`),
      );
    }
    const signatures = signature.value.split(" ").filter((item) => item.startsWith(VERSION));
    if (!signatures.some((item) => BASE64.test(item.slice(VERSION.length)))) {
      return decided(invalid(
        "standard",
        "unparseable",
        `unparseable: ${signature.name} has no "v1," signature of 32 bytes in base64`,
      ));
    }
    return hmacCheck({
      provider: "standard",
      algorithm: "sha256",
      encoding: "base64",
      keys,
      context,
      prefix: new TextEncoder().encode(`${id.value}.${timestamp.value}.`),
      header: signature.name,
      matches: (expected) =>
        signatures.map((item) => equalText(VERSION + expected, item)).includes(true),
      after: () => checkTimestamp("standard", seconds, context, true),
    });
  },
};
