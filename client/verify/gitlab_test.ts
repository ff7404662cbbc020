import assert from "node:assert/strict";
import { check, verifierFor } from "./_test_support.ts";

// GitLab sends the configured secret token itself in X-Gitlab-Token (docs.gitlab.com, "Webhooks":
// "Validate requests with a secret token"); there is no signature over the body.
const TOKEN = "glpat-like secret token";
const BODY = JSON.stringify({ object_kind: "push" });
const verifier = verifierFor([`gitlab=${TOKEN}`]);

Deno.test("gitlab: the configured token in X-Gitlab-Token is valid whatever the body", () => {
  for (const body of [BODY, "", "changed"]) {
    const verdict = check(
      verifier,
      { "x-gitlab-event": "Push Hook", "x-gitlab-token": TOKEN },
      body,
    );
    assert.deepEqual(verdict, {
      result: "valid",
      provider: "gitlab",
      code: "ok",
      reason: "token matches secret 1 of 1",
    });
  }
});

Deno.test("gitlab: a wrong, changed, padded or prefixed token is a bad token", () => {
  for (
    const token of [
      "wrong",
      TOKEN.slice(0, -1),
      TOKEN + "x",
      `${TOKEN} `,
      TOKEN.toUpperCase(),
      "",
      TOKEN.replace("g", "h"),
    ]
  ) {
    const verdict = check(
      verifier,
      { "x-gitlab-event": "Push Hook", "x-gitlab-token": token },
      BODY,
    );
    assert.equal(verdict.result, "invalid", token);
    assert.equal(verdict.code, "bad_signature");
    assert.equal(
      verdict.reason,
      "bad token: X-Gitlab-Token matches none of the 1 configured secret",
    );
  }
});

Deno.test("gitlab: a GitLab event without X-Gitlab-Token is missing_header", () => {
  const verdict = check(verifier, { "x-gitlab-event": "Push Hook" }, BODY);
  assert.equal(verdict.code, "missing_header");
  assert.equal(verdict.reason, "missing header X-Gitlab-Token");
});

Deno.test("gitlab: rotation: the second of two tokens matching is valid", () => {
  const two = verifierFor(["gitlab=old-token", `gitlab=${TOKEN}`]);
  const verdict = check(two, { "x-gitlab-token": TOKEN }, BODY);
  assert.equal(verdict.reason, "token matches secret 2 of 2");
});
