/**
 * Verification rules as the user writes them: `<provider>=<secret>` (the `--verify` flag,
 * `WOW_VERIFY`, and the lines of a `--verify-file`), and the generic
 * `hmac=<header>:<algorithm>:<encoding>:<secret>[:<prefix>]`.
 *
 * @example
 * ```ts
 * import { parseVerifyRule } from "./rules.ts";
 * parseVerifyRule("github=It's a secret"); // { provider: "github", secret: "It's a secret" }
 * parseVerifyRule("hmac=X-Signature:sha256:hex:s3cret:sha256=");
 * ```
 * @module
 */
import { DIGEST_ENCODINGS, HMAC_ALGORITHMS } from "./_crypto.ts";
import type { Scheme } from "./_scheme.ts";
import { github } from "./github.ts";
import { gitlab } from "./gitlab.ts";
import { type HmacParams, hmacScheme } from "./hmac.ts";
import { shopify } from "./shopify.ts";
import { slack } from "./slack.ts";
import { standard } from "./standard.ts";
import { stripe } from "./stripe.ts";
import type { VerifyProvider } from "./verdict.ts";

/** A provider with a scheme of its own (not the generic `hmac`). */
export type NamedProvider = Exclude<VerifyProvider, "hmac">;

/** The scheme of each named provider: the registry the verifier dispatches through. */
export const SCHEMES: Readonly<Record<NamedProvider, Scheme>> = {
  github,
  gitlab,
  stripe,
  slack,
  shopify,
  standard,
};

/** Every provider a rule may name, in the order help texts list them. */
export const VERIFY_PROVIDERS: readonly VerifyProvider[] = [
  ...Object.keys(SCHEMES) as NamedProvider[],
  "hmac",
];

/** One configured secret for a named provider. */
export interface NamedRule {
  /** The provider. */
  provider: NamedProvider;
  /** The secret, as the provider shows it (`whsec_…` for Stripe and Standard Webhooks). */
  secret: string;
}

/** One generic HMAC rule. */
export interface HmacRule extends HmacParams {
  /** Always `hmac`. */
  provider: "hmac";
  /** The HMAC key, as text. */
  secret: string;
}

/** One verification rule: a provider and a secret (several rules per provider: rotation). */
export type VerifyRule = NamedRule | HmacRule;

/**
 * Parses one rule. Messages never contain the secret.
 * @param text `<provider>=<secret>`, or `hmac=<header>:<algorithm>:<encoding>:<secret>[:<prefix>]`
 *   (a secret containing `:` needs the prefix part, which may be empty: `…:se:cret:`).
 * @returns The rule.
 * @throws {SyntaxError} When the text is not in that shape.
 * @throws {RangeError} When the provider, algorithm or encoding is unknown.
 * @throws {TypeError} When the secret is empty or malformed for its provider.
 */
export function parseVerifyRule(text: string): VerifyRule {
  const equals = text.indexOf("=");
  const provider = (equals < 0 ? text : text.slice(0, equals)).trim().toLowerCase();
  // The text may be a secret given without its provider: never echo it.
  if (equals < 0) {
    throw new SyntaxError("Cannot parse verify rule: expected <provider>=<secret>");
  }
  const rest = text.slice(equals + 1);
  if (provider === "hmac") return parseHmacRule(rest);
  if (!(provider in SCHEMES)) {
    const shown = /^[a-z0-9_-]{1,20}$/.test(provider) ? ` "${provider}"` : "";
    throw new RangeError(
      `Unknown verify provider${shown}: expected one of ${VERIFY_PROVIDERS.join(", ")}`,
    );
  }
  const rule: NamedRule = { provider: provider as NamedProvider, secret: rest };
  SCHEMES[rule.provider].key(rule.secret);
  return rule;
}

function parseHmacRule(rest: string): HmacRule {
  const parts = rest.split(":");
  if (parts.length < 4) {
    throw new SyntaxError(
      "Cannot parse verify rule hmac=…: expected hmac=<header>:<algorithm>:<encoding>:<secret>[:<prefix>]",
    );
  }
  const [header, algorithm, encoding] = parts.map((part) => part.trim());
  if (!/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(header)) {
    throw new SyntaxError(`Cannot parse verify rule hmac=…: "${header}" is not a header name`);
  }
  if (!(HMAC_ALGORITHMS as readonly string[]).includes(algorithm.toLowerCase())) {
    throw new RangeError(
      `Unknown hmac algorithm "${algorithm}": expected one of ${HMAC_ALGORITHMS.join(", ")}`,
    );
  }
  if (!(DIGEST_ENCODINGS as readonly string[]).includes(encoding.toLowerCase())) {
    throw new RangeError(
      `Unknown hmac encoding "${encoding}": expected one of ${DIGEST_ENCODINGS.join(", ")}`,
    );
  }
  const tail = parts.slice(3);
  const prefix = tail.length > 1 ? tail.pop()! : "";
  const rule: HmacRule = {
    provider: "hmac",
    header,
    algorithm: algorithm.toLowerCase() as HmacRule["algorithm"],
    encoding: encoding.toLowerCase() as HmacRule["encoding"],
    secret: tail.join(":"),
    prefix,
  };
  hmacScheme(rule).key(rule.secret);
  return rule;
}

/**
 * Parses a `--verify-file`: one rule a line; blank lines and lines starting with `#` are
 * skipped; the line is the rule as written (only the line break is removed), so a secret may
 * contain commas and spaces.
 * @param text The file's content.
 * @returns The rules, in file order.
 * @throws {SyntaxError | RangeError | TypeError} As {@linkcode parseVerifyRule}, with the line
 *   number.
 */
export function parseVerifyFile(text: string): VerifyRule[] {
  const rules: VerifyRule[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    if (line.trim() === "" || line.trimStart().startsWith("#")) return;
    try {
      rules.push(parseVerifyRule(line));
    } catch (error) {
      const Type = (error as Error).constructor as typeof TypeError;
      throw new Type(`Line ${i + 1}: ${(error as Error).message}`, { cause: error });
    }
  });
  return rules;
}

/**
 * Splits one `--verify` value (or `WOW_VERIFY`) holding several rules separated by commas. A
 * comma splits only where a provider name and `=` follow, so a secret may contain commas.
 * @param text e.g. `github=abc,stripe=whsec_x`.
 * @returns The rules' texts.
 */
export function splitVerifyRules(text: string): string[] {
  const names = VERIFY_PROVIDERS.join("|");
  return text.split(new RegExp(`,(?=\\s*(?:${names})=)`, "i")).map((rule) => rule.trimStart());
}

/**
 * The rule lines of a `--verify-file`: blank lines and lines starting with `#` are skipped; a
 * line is the rule as written (only the line break is removed), so a secret may contain commas
 * and spaces.
 * @param text The file's content.
 * @returns The rules' texts, in file order.
 */
export function verifyFileLines(text: string): string[] {
  return text.split(/\r?\n/).filter((line) =>
    line.trim() !== "" && !line.trimStart().startsWith("#")
  );
}
