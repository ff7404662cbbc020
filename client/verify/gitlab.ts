/**
 * GitLab: `X-Gitlab-Token` carries the configured secret token itself (no signature over the
 * body); it is compared with each secret through SHA-256 digests in constant time, so neither its
 * content nor its length leaks through timing.
 *
 * @module
 */
import { equalSecret } from "./_crypto.ts";
import { decided, missing, type Scheme, secretReason, textKey } from "./_scheme.ts";
import { invalid, valid } from "./verdict.ts";

/** The token header, as GitLab spells it. */
export const GITLAB_TOKEN_HEADER = "X-Gitlab-Token";

/** GitLab's scheme. */
export const gitlab: Scheme = {
  provider: "gitlab",
  key: (secret) => textKey("gitlab", secret),
  begin(headers, keys) {
    const token = headers.get(GITLAB_TOKEN_HEADER);
    if (token === null) return decided(missing("gitlab", GITLAB_TOKEN_HEADER));
    let matched = -1;
    keys.forEach((key, i) => {
      if (equalSecret(key, token) && matched < 0) matched = i;
    });
    return decided(
      matched < 0
        ? invalid(
          "gitlab",
          "bad_signature",
          `bad token: ${GITLAB_TOKEN_HEADER} matches none of the ${keys.length} configured ${
            keys.length === 1 ? "secret" : "secrets"
          }`,
        )
        : valid("gitlab", secretReason(matched, keys.length).replace("signature", "token")),
    );
  },
};
