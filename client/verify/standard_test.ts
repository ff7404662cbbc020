import assert from "node:assert/strict";
import {
  check,
  flipByte,
  standardAccepts,
  standardSignature,
  verifierFor,
} from "./_test_support.ts";

// Standard Webhooks' verifier reads the real clock, so these deliveries are signed relative to it.
const SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const OTHER = "whsec_" + btoa("another key of some length");
const BODY = JSON.stringify({ type: "invoice.paid", data: { id: "in_1" } });
const ID = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W";

function signed(
  { secret = SECRET, at = new Date(), body = BODY, svix = false } = {},
): Record<string, string> {
  const prefix = svix ? "svix" : "webhook";
  return {
    [`${prefix}-id`]: ID,
    [`${prefix}-timestamp`]: String(Math.floor(at.getTime() / 1000)),
    [`${prefix}-signature`]: standardSignature(secret, ID, at, body),
  };
}

/** Our verdict, and standardwebhooks' opinion (it reads only the webhook-* names). */
function judge(headers: Record<string, string>, body = BODY, rules = [`standard=${SECRET}`]) {
  const verdict = check(verifierFor(rules), headers, body);
  const unbranded = Object.fromEntries(
    Object.entries(headers).map(([name, value]) => [name.replace(/^svix-/, "webhook-"), value]),
  );
  const secrets = rules.map((rule) => rule.slice("standard=".length));
  const library = secrets.some((secret) => standardAccepts(secret, body, unbranded));
  return { verdict, library };
}

Deno.test("standard: a delivery signed by standardwebhooks Webhook.sign is valid, and its verify agrees", () => {
  const { verdict, library } = judge(signed());
  assert.deepEqual(verdict, {
    result: "valid",
    provider: "standard",
    code: "ok",
    reason: "signature matches secret 1 of 1",
  });
  assert.equal(library, true);
});

Deno.test("standard: the svix-* header names are read the same way", () => {
  const { verdict, library } = judge(signed({ svix: true }));
  assert.equal(verdict.result, "valid");
  assert.equal(library, true);
});

Deno.test("standard: a wrong secret, one changed byte, another id are bad signatures (library agrees)", () => {
  const cases: [Record<string, string>, string][] = [
    [signed({ secret: OTHER }), BODY],
    [signed(), flipByte(BODY, 2)],
    [{ ...signed(), "webhook-id": ID + "x" }, BODY],
  ];
  for (const [headers, body] of cases) {
    const { verdict, library } = judge(headers, body);
    assert.equal(verdict.code, "bad_signature");
    assert.match(verdict.reason, /^bad signature: webhook-signature matches none/);
    assert.equal(library, false);
  }
});

Deno.test("standard: several signatures per header (sender-side rotation), any matching is valid", () => {
  const good = signed();
  const other = signed({ secret: OTHER })["webhook-signature"];
  const real = good["webhook-signature"];
  for (
    const signature of [
      `${other} ${real}`,
      `${real} ${other}`,
      `v1a,${btoa("x".repeat(64))} ${real}`,
      `${other}  ${real}`,
    ]
  ) {
    const { verdict, library } = judge({ ...good, "webhook-signature": signature });
    assert.equal(verdict.result, "valid", signature);
    assert.equal(library, true, signature);
  }
});

Deno.test("standard: rotation: the second of two configured secrets matching is valid", () => {
  const { verdict, library } = judge(signed(), BODY, [`standard=${OTHER}`, `standard=${SECRET}`]);
  assert.equal(verdict.reason, "signature matches secret 2 of 2");
  assert.equal(library, true);
});

Deno.test("standard: a timestamp more than 5 minutes old or ahead is refused (library agrees)", () => {
  const now = Date.now();
  const old = judge(signed({ at: new Date(now - 400_000) }));
  assert.equal(old.verdict.code, "expired");
  assert.match(old.verdict.reason, /^expired: the timestamp is 40\d s old \(tolerance 300 s\)$/);
  assert.equal(old.library, false);
  const ahead = judge(signed({ at: new Date(now + 400_000) }));
  assert.equal(ahead.verdict.code, "future");
  assert.equal(ahead.library, false);
  const recent = judge(signed({ at: new Date(now - 200_000) }));
  assert.equal(recent.verdict.result, "valid");
  assert.equal(recent.library, true);
});

Deno.test("standard: each missing header is named, in the sender's family", () => {
  for (const svix of [false, true]) {
    const all = signed({ svix });
    for (const name of Object.keys(all)) {
      const headers = { ...all };
      delete headers[name];
      const { verdict, library } = judge(headers);
      assert.equal(verdict.code, "missing_header");
      // With svix-id gone the family is read from svix-signature; all three can be named.
      assert.equal(verdict.reason, `missing header ${name}`);
      assert.equal(library, false);
    }
  }
});

Deno.test("standard: malformed headers are unparseable (library refuses them too)", () => {
  const good = signed();
  const real = good["webhook-signature"];
  const cases: [Record<string, string>, RegExp][] = [
    [{ ...good, "webhook-timestamp": "soon" }, /webhook-timestamp is not Unix seconds/],
    [{ ...good, "webhook-signature": real.replace("v1,", "v2,") }, /no "v1," signature/],
    [{ ...good, "webhook-signature": real.slice(0, -2) }, /no "v1," signature/],
    [{ ...good, "webhook-signature": real.slice(3) }, /no "v1," signature/],
    [{ ...good, "webhook-signature": real.replace("v1,", "v1,!") }, /no "v1," signature/],
    [{ ...good, "webhook-signature": real.replace(",", "=") }, /no "v1," signature/],
  ];
  for (const [headers, reason] of cases) {
    const { verdict, library } = judge(headers);
    assert.equal(verdict.code, "unparseable", JSON.stringify(headers));
    assert.match(verdict.reason, reason);
    assert.equal(library, false);
  }
});

Deno.test("standard: a secret that is not whsec_ + base64 is refused when configured", () => {
  assert.throws(() => verifierFor(["standard=whsec_not base64!"]), TypeError);
  assert.throws(() => verifierFor(["standard=whsec_"]), TypeError);
  // Without the prefix, the base64 is taken as is (as standardwebhooks does).
  assert.equal(
    judge(signed(), BODY, [`standard=${SECRET.slice("whsec_".length)}`]).verdict.result,
    "valid",
  );
});
