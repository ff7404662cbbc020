import assert from "node:assert/strict";
import {
  check,
  flipByte,
  seconds,
  stripeAccepts,
  stripeHeader,
  verifierFor,
} from "./_test_support.ts";

const SECRET = "whsec_test_secret_for_wow";
const OTHER = "whsec_some_other_secret";
const BODY = JSON.stringify({ id: "evt_1", type: "checkout.session.completed" });
const NOW = Date.UTC(2026, 11, 4, 13, 0, 0);
const T = seconds(NOW);

/** Our verdict for a delivery, and stripe-node's opinion of the same bytes. */
async function judge(
  header: string | undefined,
  body = BODY,
  rules = [`stripe=${SECRET}`],
  now = NOW,
) {
  const verifier = verifierFor(rules);
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (header !== undefined) headers["stripe-signature"] = header;
  const verdict = check(verifier, headers, body, now);
  const secrets = rules.map((rule) => rule.slice("stripe=".length));
  const library = header !== undefined &&
    (await Promise.all(secrets.map((s) => stripeAccepts(body, header, s, now)))).includes(true);
  return { verdict, library };
}

Deno.test("stripe: a header from generateTestHeaderString is valid, and stripe-node agrees", async () => {
  const { verdict, library } = await judge(await stripeHeader(SECRET, BODY, T));
  assert.deepEqual(verdict, {
    result: "valid",
    provider: "stripe",
    code: "ok",
    reason: "signature matches secret 1 of 1",
  });
  assert.equal(library, true);
});

Deno.test("stripe: a wrong secret, one changed body byte are bad signatures (stripe-node agrees)", async () => {
  for (
    const [header, body] of [
      [await stripeHeader(OTHER, BODY, T), BODY],
      [await stripeHeader(SECRET, BODY, T), flipByte(BODY)],
      [await stripeHeader(SECRET, BODY, T), flipByte(BODY, BODY.length - 1)],
      [await stripeHeader(SECRET, BODY, T), BODY + "\n"],
      [
        await stripeHeader(SECRET, BODY, T + 1).then((h) => h.replace(`t=${T + 1}`, `t=${T}`)),
        BODY,
      ],
    ]
  ) {
    const { verdict, library } = await judge(header, body);
    assert.equal(verdict.result, "invalid", header);
    assert.equal(verdict.code, "bad_signature");
    assert.match(verdict.reason, /^bad signature: Stripe-Signature matches none of the 1/);
    assert.equal(library, false);
  }
});

Deno.test("stripe: a missing or empty header is missing_header", async () => {
  for (const header of [undefined, ""]) {
    const { verdict } = await judge(header);
    assert.equal(verdict.result, "invalid");
    assert.equal(verdict.code, "missing_header");
    assert.equal(verdict.reason, "missing header Stripe-Signature");
  }
});

Deno.test("stripe: a timestamp past the tolerance is expired; one in the future is accepted, as stripe-node does", async () => {
  const stale = await judge(await stripeHeader(SECRET, BODY, T - 301));
  assert.equal(stale.verdict.code, "expired");
  assert.equal(stale.verdict.reason, "expired: the timestamp is 301 s old (tolerance 300 s)");
  assert.equal(stale.library, false);
  const edge = await judge(await stripeHeader(SECRET, BODY, T - 300));
  assert.equal(edge.verdict.result, "valid");
  assert.equal(edge.library, true);
  const future = await judge(await stripeHeader(SECRET, BODY, T + 3600));
  assert.equal(future.verdict.result, "valid");
  assert.equal(future.library, true);
});

Deno.test("stripe: the tolerance is configurable, and 0 turns the timestamp check off", async () => {
  const header = await stripeHeader(SECRET, BODY, T - 3600);
  const headers = { "stripe-signature": header };
  assert.equal(
    check(verifierFor([`stripe=${SECRET}`], { tolerance: 7_200_000 }), headers, BODY, NOW).result,
    "valid",
  );
  assert.equal(
    check(verifierFor([`stripe=${SECRET}`], { tolerance: 0 }), headers, BODY, NOW).result,
    "valid",
  );
  assert.equal(
    check(verifierFor([`stripe=${SECRET}`], { tolerance: 60_000 }), headers, BODY, NOW).code,
    "expired",
  );
});

Deno.test("stripe: several v1 entries (secret roll) match if any does; v0 and unknown items are ignored", async () => {
  const real = (await stripeHeader(SECRET, BODY, T)).split(",")[1];
  const old = (await stripeHeader(OTHER, BODY, T)).split(",")[1];
  for (
    const header of [
      `t=${T},${old},${real}`,
      `t=${T},${real},${old}`,
      `t=${T},v0=${"0".repeat(64)},${real}`,
      `${real},t=${T},x=1`,
    ]
  ) {
    const { verdict, library } = await judge(header);
    assert.equal(verdict.result, "valid", header);
    assert.equal(library, true, header);
  }
});

Deno.test("stripe: malformed headers are unparseable (and stripe-node refuses them too)", async () => {
  const real = (await stripeHeader(SECRET, BODY, T)).split(",")[1];
  const cases: [string, RegExp][] = [
    [real, /has no t= timestamp/],
    [`t=${T}`, /has no v1= signature$/],
    [`t=${T},v0=${real.slice(3)}`, /has no v1= signature$/],
    // stripe-node does not trim: " v1" is not "v1".
    [`t=${T}, ${real}`, /has no v1= signature$/],
    [`t=abc,${real}`, /t= that is not Unix seconds/],
    [`t=${T},v1=${"z".repeat(64)}`, /no v1= signature of 64 lower-case hex digits/],
    [`t=${T},v1=${real.slice(3).toUpperCase()}`, /no v1= signature of 64 lower-case hex digits/],
    [`t=${T},v1=${real.slice(3, -1)}`, /no v1= signature of 64 lower-case hex digits/],
  ];
  for (const [header, reason] of cases) {
    const { verdict, library } = await judge(header);
    assert.equal(verdict.code, "unparseable", header);
    assert.match(verdict.reason, reason, header);
    assert.equal(library, false, header);
  }
});

Deno.test("stripe: rotation: with two secrets configured, the second matching is valid", async () => {
  const { verdict, library } = await judge(await stripeHeader(SECRET, BODY, T), BODY, [
    `stripe=${OTHER}`,
    `stripe=${SECRET}`,
  ]);
  assert.equal(verdict.result, "valid");
  assert.equal(verdict.reason, "signature matches secret 2 of 2");
  assert.equal(library, true);
});

Deno.test("stripe: a binary body is hashed as raw bytes", async () => {
  const body = new Uint8Array([0xff, 0x00, 0xfe, 0x7b]);
  const { webHmac, hex } = await import("./_test_support.ts");
  const signed = new Uint8Array([...new TextEncoder().encode(`${T}.`), ...body]);
  const header = `t=${T},v1=${hex(await webHmac("SHA-256", SECRET, signed))}`;
  const verifier = verifierFor([`stripe=${SECRET}`]);
  assert.equal(check(verifier, { "stripe-signature": header }, body, NOW).result, "valid");
});
