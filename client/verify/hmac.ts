/**
 * The generic rule for providers without a scheme of their own: a header carrying
 * `[prefix]<digest>`, the digest an HMAC (`sha1`, `sha256`, `sha512`) of the raw body, written
 * as `hex` (either case), `base64` or `base64url` (padding optional).
 *
 * @module
 */
import { type DigestEncoding, digestPattern, equalText, type HmacAlgorithm } from "./_crypto.ts";
import { decided, hmacCheck, missing, type Scheme, textKey } from "./_scheme.ts";
import { invalid } from "./verdict.ts";

/** What a generic HMAC rule names besides its secret. */
export interface HmacParams {
  /** The header carrying the signature, e.g. `X-Signature`. */
  header: string;
  /** The hash. */
  algorithm: HmacAlgorithm;
  /** How the digest is written. */
  encoding: DigestEncoding;
  /** Text before the digest in the header, e.g. `sha256=`; `""` for none. */
  prefix: string;
}

/**
 * A scheme for one generic HMAC rule's parameters.
 * @param params Header, hash, encoding, prefix.
 * @returns The scheme.
 */
export function hmacScheme(params: HmacParams): Scheme {
  const { header, algorithm, encoding, prefix } = params;
  const pattern = digestPattern(algorithm, encoding);
  const normalize = (digest: string) =>
    encoding === "hex"
      ? digest.toLowerCase()
      : encoding === "base64url"
      ? digest.replace(/=+$/, "")
      : digest;
  return {
    provider: "hmac",
    key: (secret) => textKey("hmac", secret),
    begin(headers, keys, context) {
      const value = headers.get(header);
      if (value === null) return decided(missing("hmac", header));
      const digest = value.startsWith(prefix) ? value.slice(prefix.length) : undefined;
      if (
        digest === undefined || !pattern.test(encoding === "hex" ? digest.toLowerCase() : digest)
      ) {
        return decided(invalid(
          "hmac",
          "unparseable",
          `unparseable: ${header} is not ${
            prefix ? `"${prefix}" and ` : ""
          }a ${algorithm} digest in ${encoding}`,
        ));
      }
      const received = normalize(digest);
      return hmacCheck({
        provider: "hmac",
        algorithm,
        encoding,
        keys,
        context,
        header,
        matches: (expected) => equalText(normalize(expected), received),
      });
    },
  };
}
