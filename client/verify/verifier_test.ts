import assert from "node:assert/strict";
import { signatureExpires } from "../../protocol/providers.ts";
import { headersFromPairs } from "../../protocol/providers.ts";
import { check, githubHeader, seconds, stripeHeader, verifierFor } from "./_test_support.ts";
import { formatVerdict } from "./verdict.ts";

const BODY = JSON.stringify({ id: "evt_1", type: "charge.succeeded", padding: "x".repeat(5000) });
const NOW = Date.UTC(2026, 11, 4, 13, 0, 0);

Deno.test("Verifier: a recognised provider without a secret is unchecked (no_secret)", async () => {
  const verifier = verifierFor(["github=gh"]);
  const verdict = check(
    verifier,
    { "stripe-signature": await stripeHeader("whsec_x", BODY, seconds(NOW)) },
    BODY,
    NOW,
  );
  assert.deepEqual(verdict, {
    result: "unchecked",
    provider: "stripe",
    code: "no_secret",
    reason: "no secret configured for stripe (--verify stripe=<secret>)",
  });
});

Deno.test("Verifier: with several schemes configured, a delivery with no known header is unsigned", () => {
  const verifier = verifierFor(["github=gh", "stripe=whsec_x"]);
  const verdict = check(verifier, { "content-type": "application/json" }, BODY, NOW);
  assert.equal(verdict.result, "unchecked");
  assert.equal(verdict.code, "unsigned");
  assert.equal(verdict.provider, "");
  assert.equal(
    formatVerdict(verdict),
    "unchecked (unsigned: no signature header of a known provider)",
  );
});

Deno.test("Verifier: with one scheme configured, a delivery without its header is missing_header", () => {
  for (
    const [rule, header] of [
      ["github=gh", "X-Hub-Signature-256"],
      ["gitlab=t", "X-Gitlab-Token"],
      ["stripe=whsec_x", "Stripe-Signature"],
      ["slack=s", "X-Slack-Signature"],
      ["shopify=s", "X-Shopify-Hmac-Sha256"],
      [`standard=whsec_${btoa("k")}`, "webhook-id"],
    ]
  ) {
    const verdict = check(verifierFor([rule]), {}, BODY, NOW);
    assert.equal(verdict.result, "invalid", rule);
    assert.equal(verdict.reason, `missing header ${header}`);
  }
});

Deno.test("Verifier: the recognised provider's rule wins over a generic rule on the same header", async () => {
  const header = await githubHeader("gh", BODY);
  const verifier = verifierFor(["hmac=X-Hub-Signature-256:sha256:hex:other:sha256=", "github=gh"]);
  const verdict = check(verifier, { "x-hub-signature-256": header }, BODY, NOW);
  assert.equal(verdict.provider, "github");
  assert.equal(verdict.result, "valid");
  assert.deepEqual(verifier.providers, ["github", "hmac"]);
});

Deno.test("Verifier: a body fed in chunks of any size gives the verdict of the whole body", async () => {
  const t = seconds(NOW);
  const bytes = new TextEncoder().encode(BODY);
  const verifier = verifierFor(["stripe=whsec_x"]);
  const headers = headersFromPairs([["stripe-signature", await stripeHeader("whsec_x", BODY, t)]]);
  for (const size of [1, 7, 1000, 4096, bytes.length]) {
    const check = verifier.begin(headers, { now: NOW });
    for (let i = 0; i < bytes.length; i += size) check.update(bytes.subarray(i, i + size));
    assert.equal(check.finish().result, "valid", `chunks of ${size}`);
  }
  // An empty chunk changes nothing; one byte more does.
  const extra = verifier.begin(headers, { now: NOW });
  extra.update(bytes);
  extra.update(new Uint8Array());
  assert.equal(extra.finish().result, "valid");
  const more = verifier.begin(headers, { now: NOW });
  more.update(bytes);
  more.update(new Uint8Array([0x20]));
  assert.equal(more.finish().code, "bad_signature");
});

Deno.test("Verifier: a body over maxBody is unchecked (too_large), at the limit it is checked", async () => {
  const t = seconds(NOW);
  const bytes = new TextEncoder().encode(BODY);
  const headers = headersFromPairs([["stripe-signature", await stripeHeader("whsec_x", BODY, t)]]);
  const atLimit = verifierFor(["stripe=whsec_x"], { maxBody: bytes.length });
  assert.equal(atLimit.verify(headers, bytes, { now: NOW }).result, "valid");
  const below = verifierFor(["stripe=whsec_x"], { maxBody: bytes.length - 1 });
  const verdict = below.verify(headers, bytes, { now: NOW });
  assert.deepEqual(verdict, {
    result: "unchecked",
    provider: "stripe",
    code: "too_large",
    reason: `the body is over ${bytes.length - 1} bytes (--verify-max-body): not checked`,
  });
});

Deno.test("Verifier: judges at the clock it is given (a replay is judged as sent, or now)", async () => {
  const t = seconds(NOW);
  const headers = headersFromPairs([["stripe-signature", await stripeHeader("whsec_x", BODY, t)]]);
  const body = new TextEncoder().encode(BODY);
  let clock = NOW;
  const verifier = verifierFor(["stripe=whsec_x"], { now: () => clock });
  assert.equal(verifier.verify(headers, body).result, "valid");
  clock = NOW + 10 * 60_000;
  assert.equal(verifier.verify(headers, body).code, "expired");
  assert.equal(verifier.verify(headers, body, { now: NOW }).result, "valid");
});

Deno.test("Verifier: the timestamped schemes are exactly those protocol/providers.ts says expire", () => {
  const timestamped = {
    "stripe-signature": "t=1,v1=" + "0".repeat(64),
    "x-slack-request-timestamp": "1",
    "webhook-timestamp": "1",
    "svix-timestamp": "1",
  };
  for (const [name, value] of Object.entries(timestamped)) {
    assert.equal(signatureExpires(headersFromPairs([[name, value]])), true, name);
  }
  for (const name of ["x-hub-signature-256", "x-gitlab-token", "x-shopify-hmac-sha256"]) {
    assert.equal(signatureExpires(headersFromPairs([[name, "x"]])), false, name);
  }
});

Deno.test("formatVerdict: one phrase per result", () => {
  assert.equal(
    formatVerdict({ result: "valid", provider: "github", code: "ok", reason: "x" }),
    "valid (github)",
  );
  assert.equal(
    formatVerdict({
      result: "invalid",
      provider: "stripe",
      code: "expired",
      reason: "expired: the timestamp is 400 s old (tolerance 300 s)",
    }),
    "invalid (stripe: expired: the timestamp is 400 s old (tolerance 300 s))",
  );
});

Deno.test("BodyCheck.abandon: a body that did not arrive whole is unchecked (incomplete); a header verdict stays", async () => {
  const t = seconds(NOW);
  const verifier = verifierFor(["stripe=whsec_x"]);
  const headers = headersFromPairs([["stripe-signature", await stripeHeader("whsec_x", BODY, t)]]);
  const partial = verifier.begin(headers, { now: NOW });
  partial.update(new TextEncoder().encode(BODY.slice(0, 10)));
  assert.deepEqual(partial.abandon(), {
    result: "unchecked",
    provider: "stripe",
    code: "incomplete",
    reason: "the body did not arrive whole: not checked",
  });
  const missing = verifier.begin(headersFromPairs([]), { now: NOW });
  assert.equal(missing.abandon().code, "missing_header");
});
