import assert from "node:assert/strict";
import { check, flipByte, seconds, slackSignature, verifierFor } from "./_test_support.ts";

// The worked example in Slack's "Verifying requests from Slack".
const DOC_SECRET = "8f742231b10e8888abcd99yyyzzz85a5";
const DOC_TIMESTAMP = "1531420618";
const DOC_BODY =
  "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
const DOC_SIGNATURE = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

const SECRET = "slack-signing-secret";
const BODY = JSON.stringify({ type: "event_callback", event: { type: "app_mention" } });
const NOW = Date.UTC(2026, 11, 4, 13, 0, 0);
const T = String(seconds(NOW));
const verifier = verifierFor([`slack=${SECRET}`]);

async function headers(timestamp = T, secret = SECRET, body = BODY) {
  return {
    "x-slack-request-timestamp": timestamp,
    "x-slack-signature": await slackSignature(secret, timestamp, body),
  };
}

Deno.test("slack: Slack's documented example is valid at its own time", async () => {
  assert.equal(await slackSignature(DOC_SECRET, DOC_TIMESTAMP, DOC_BODY), DOC_SIGNATURE);
  const verdict = check(
    verifierFor([`slack=${DOC_SECRET}`]),
    { "x-slack-request-timestamp": DOC_TIMESTAMP, "x-slack-signature": DOC_SIGNATURE },
    DOC_BODY,
    Number(DOC_TIMESTAMP) * 1000 + 60_000,
  );
  assert.equal(verdict.result, "valid");
});

Deno.test("slack: a v0 signature by the documented scheme is valid", async () => {
  const verdict = check(verifier, await headers(), BODY, NOW);
  assert.deepEqual(verdict, {
    result: "valid",
    provider: "slack",
    code: "ok",
    reason: "signature matches secret 1 of 1",
  });
});

Deno.test("slack: a wrong secret, one changed byte, another timestamp are bad signatures", async () => {
  const signed = await headers();
  const cases: [Record<string, string>, string][] = [
    [await headers(T, "wrong"), BODY],
    [signed, flipByte(BODY, 3)],
    [{ ...signed, "x-slack-request-timestamp": String(Number(T) - 1) }, BODY],
  ];
  for (const [sent, body] of cases) {
    const verdict = check(verifier, sent, body, NOW);
    assert.equal(verdict.code, "bad_signature");
    assert.match(verdict.reason, /^bad signature: X-Slack-Signature matches none/);
  }
});

Deno.test("slack: a timestamp more than 5 minutes old or ahead is refused", async () => {
  const old = check(verifier, await headers(String(Number(T) - 301)), BODY, NOW);
  assert.equal(old.code, "expired");
  assert.equal(old.reason, "expired: the timestamp is 301 s old (tolerance 300 s)");
  const ahead = check(verifier, await headers(String(Number(T) + 301)), BODY, NOW);
  assert.equal(ahead.code, "future");
  assert.equal(ahead.reason, "future: the timestamp is 301 s ahead (tolerance 300 s)");
  for (const offset of [-300, 300]) {
    const edge = check(verifier, await headers(String(Number(T) + offset)), BODY, NOW);
    assert.equal(edge.result, "valid");
  }
});

Deno.test("slack: either header missing is missing_header", async () => {
  const signed = await headers();
  const noSignature = check(verifier, { "x-slack-request-timestamp": T }, BODY, NOW);
  assert.equal(noSignature.reason, "missing header X-Slack-Signature");
  const noTimestamp = check(
    verifier,
    { "x-slack-signature": signed["x-slack-signature"] },
    BODY,
    NOW,
  );
  assert.equal(noTimestamp.reason, "missing header X-Slack-Request-Timestamp");
});

Deno.test("slack: malformed headers are unparseable", async () => {
  const signed = await headers();
  const sig = signed["x-slack-signature"];
  for (
    const [sent, reason] of [
      [{ ...signed, "x-slack-request-timestamp": `${T}.5` }, /Timestamp is not Unix seconds/],
      [{ ...signed, "x-slack-request-timestamp": "" }, /Timestamp is not Unix seconds/],
      [{ ...signed, "x-slack-signature": sig.replace("v0=", "v1=") }, /is not "v0=" and 64/],
      [{ ...signed, "x-slack-signature": sig.slice(3) }, /is not "v0=" and 64/],
      [{ ...signed, "x-slack-signature": `${sig} ${sig}` }, /is not "v0=" and 64/],
      [{ ...signed, "x-slack-signature": sig.slice(0, -2) + "xy" }, /is not "v0=" and 64/],
    ] as [Record<string, string>, RegExp][]
  ) {
    const verdict = check(verifier, sent, BODY, NOW);
    assert.equal(verdict.code, "unparseable", JSON.stringify(sent));
    assert.match(verdict.reason, reason);
  }
});
