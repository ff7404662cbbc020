import assert from "node:assert/strict";
import {
  parseVerifyFile,
  parseVerifyRule,
  splitVerifyRules,
  VERIFY_PROVIDERS,
  verifyFileLines,
} from "./rules.ts";

Deno.test("parseVerifyRule: provider=secret for every named provider; the secret is kept exactly", () => {
  assert.deepEqual(parseVerifyRule("github=It's a secret=with=equals "), {
    provider: "github",
    secret: "It's a secret=with=equals ",
  });
  assert.deepEqual(parseVerifyRule("Stripe=whsec_abc"), {
    provider: "stripe",
    secret: "whsec_abc",
  });
  assert.deepEqual(VERIFY_PROVIDERS, [
    "github",
    "gitlab",
    "stripe",
    "slack",
    "shopify",
    "standard",
    "hmac",
  ]);
});

Deno.test("parseVerifyRule: hmac=<header>:<algorithm>:<encoding>:<secret>[:<prefix>]", () => {
  assert.deepEqual(parseVerifyRule("hmac=X-Signature:SHA256:hex:s3cret"), {
    provider: "hmac",
    header: "X-Signature",
    algorithm: "sha256",
    encoding: "hex",
    secret: "s3cret",
    prefix: "",
  });
  assert.deepEqual(parseVerifyRule("hmac=X-Sig:sha1:base64:a:b:sha1="), {
    provider: "hmac",
    header: "X-Sig",
    algorithm: "sha1",
    encoding: "base64",
    secret: "a:b",
    prefix: "sha1=",
  });
});

Deno.test("parseVerifyRule: bad rules fail with a reason that never shows the secret", () => {
  const cases: [string, ErrorConstructor, RegExp][] = [
    ["topsecret", SyntaxError, /^Cannot parse verify rule: expected <provider>=<secret>$/],
    ["topsecret with spaces=x", RangeError, /^Unknown verify provider: expected one of/],
    [
      "bitbucket=topsecret",
      RangeError,
      /Unknown verify provider "bitbucket": expected one of github/,
    ],
    ["github=", TypeError, /The github secret is empty/],
    ["standard=whsec_topsecret!!", TypeError, /not "whsec_" followed by base64/],
    ["hmac=X-Sig:sha256:hex", SyntaxError, /expected hmac=<header>/],
    ["hmac=X Sig:sha256:hex:topsecret", SyntaxError, /"X Sig" is not a header name/],
    ["hmac=X-Sig:md5:hex:topsecret", RangeError, /Unknown hmac algorithm "md5"/],
    ["hmac=X-Sig:sha256:b32:topsecret", RangeError, /Unknown hmac encoding "b32"/],
    ["hmac=X-Sig:sha256:hex:", TypeError, /The hmac secret is empty/],
  ];
  for (const [text, type, message] of cases) {
    assert.throws(() => parseVerifyRule(text), (error: Error) => {
      assert.ok(error instanceof type, `${text}: ${error}`);
      assert.match(error.message, message);
      assert.ok(!error.message.includes("topsecret"), error.message);
      return true;
    });
  }
});

Deno.test("parseVerifyFile: one rule a line, comments and blank lines skipped, line numbers in errors", () => {
  const rules = parseVerifyFile(
    "# secrets for this channel\n\ngithub=a, b and c\r\n  # indented comment\nstripe=whsec_1\n",
  );
  assert.deepEqual(rules, [
    { provider: "github", secret: "a, b and c" },
    { provider: "stripe", secret: "whsec_1" },
  ]);
  assert.throws(() => parseVerifyFile("github=a\nnope=topsecret\n"), (error: Error) => {
    assert.ok(error instanceof RangeError);
    assert.match(error.message, /^Line 2: Unknown verify provider "nope"/);
    assert.ok(!error.message.includes("topsecret"));
    return true;
  });
});

Deno.test("splitVerifyRules: commas split only before <provider>=", () => {
  assert.deepEqual(splitVerifyRules("github=a,b,c, Stripe=whsec_1,hmac=X:sha1:hex:k"), [
    "github=a,b,c",
    "Stripe=whsec_1",
    "hmac=X:sha1:hex:k",
  ]);
  assert.deepEqual(splitVerifyRules("slack=x,github"), ["slack=x,github"]);
});

Deno.test("verifyFileLines: the rule lines, as written", () => {
  assert.deepEqual(verifyFileLines("# c\n\ngithub=a b \r\n  #x\nstripe=whsec_1"), [
    "github=a b ",
    "stripe=whsec_1",
  ]);
});
