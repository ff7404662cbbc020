/**
 * Slack: `X-Slack-Signature: v0=<hex>`, the HMAC-SHA256 of `v0:{X-Slack-Request-Timestamp}:{raw
 * body}` keyed with the app's signing secret, and a timestamp more than the tolerance from now
 * (either way) refused, as Slack's "Verifying requests from Slack" documents.
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

/** The signature header, as Slack spells it. */
export const SLACK_SIGNATURE_HEADER = "X-Slack-Signature";
/** The timestamp header, as Slack spells it. */
export const SLACK_TIMESTAMP_HEADER = "X-Slack-Request-Timestamp";

const PREFIX = "v0=";
const HEX = digestPattern("sha256", "hex");

/** Slack's scheme. */
export const slack: Scheme = {
  provider: "slack",
  key: (secret) => textKey("slack", secret),
  begin(headers, keys, context) {
    const signature = headers.get(SLACK_SIGNATURE_HEADER);
    if (signature === null) return decided(missing("slack", SLACK_SIGNATURE_HEADER));
    const timestamp = headers.get(SLACK_TIMESTAMP_HEADER);
    if (timestamp === null) return decided(missing("slack", SLACK_TIMESTAMP_HEADER));
    const seconds = parseSeconds(timestamp);
    if (seconds === undefined) {
      return decided(
        invalid(
          "slack",
          "unparseable",
          `unparseable: ${SLACK_TIMESTAMP_HEADER} is not Unix seconds`,
        ),
      );
    }
    if (!signature.startsWith(PREFIX) || !HEX.test(signature.slice(PREFIX.length))) {
      return decided(invalid(
        "slack",
        "unparseable",
        `unparseable: ${SLACK_SIGNATURE_HEADER} is not "v0=" and 64 lower-case hex digits`,
      ));
    }
    return hmacCheck({
      provider: "slack",
      algorithm: "sha256",
      encoding: "hex",
      keys,
      context,
      prefix: new TextEncoder().encode(`v0:${timestamp}:`),
      header: SLACK_SIGNATURE_HEADER,
      matches: (expected) => equalText(PREFIX + expected, signature),
      after: () => checkTimestamp("slack", seconds, context, true),
    });
  },
};
