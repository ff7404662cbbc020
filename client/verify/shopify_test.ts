import assert from "node:assert/strict";
import { check, flipByte, shopifySignature, verifierFor } from "./_test_support.ts";

// Shopify: X-Shopify-Hmac-Sha256 is the base64 HMAC-SHA256 of the raw body (shopify.dev,
// "Verify webhooks"); signed here through Web Crypto, independent of the code under test.
const SECRET = "shpss_client_secret";
const BODY = JSON.stringify({ id: 820982911946154500, email: "jon@example.com" });
const verifier = verifierFor([`shopify=${SECRET}`]);
const topic = { "x-shopify-topic": "orders/create" };

Deno.test("shopify: a signature by the documented scheme is valid", async () => {
  const verdict = check(verifier, {
    ...topic,
    "x-shopify-hmac-sha256": await shopifySignature(SECRET, BODY),
  }, BODY);
  assert.deepEqual(verdict, {
    result: "valid",
    provider: "shopify",
    code: "ok",
    reason: "signature matches secret 1 of 1",
  });
});

Deno.test("shopify: a wrong secret or one changed byte is a bad signature", async () => {
  for (
    const [signature, body] of [
      [await shopifySignature("other", BODY), BODY],
      [await shopifySignature(SECRET, BODY), flipByte(BODY, 1)],
    ]
  ) {
    const verdict = check(verifier, { ...topic, "x-shopify-hmac-sha256": signature }, body);
    assert.equal(verdict.code, "bad_signature");
  }
});

Deno.test("shopify: a Shopify topic without X-Shopify-Hmac-Sha256 is missing_header", () => {
  const verdict = check(verifier, topic, BODY);
  assert.equal(verdict.reason, "missing header X-Shopify-Hmac-Sha256");
});

Deno.test("shopify: malformed base64 is unparseable", async () => {
  const good = await shopifySignature(SECRET, BODY);
  for (
    const signature of [
      good.slice(0, -1),
      good.replace("=", ""),
      `${good} `,
      good.replaceAll("+", "-").replaceAll("/", "_") + (good.includes("+") ? "" : "!"),
      Array.from(atob(good), (c) => c.charCodeAt(0).toString(16).padStart(2, "0")).join(""),
      "",
    ]
  ) {
    const verdict = check(verifier, { ...topic, "x-shopify-hmac-sha256": signature }, BODY);
    assert.equal(verdict.code, "unparseable", signature);
    assert.equal(
      verdict.reason,
      "unparseable: X-Shopify-Hmac-Sha256 is not the base64 of 32 bytes",
    );
  }
});
