import assert from "node:assert/strict";
import {
  base64,
  check,
  flipByte,
  githubHeader,
  hex,
  verifierFor,
  webHmac,
} from "./_test_support.ts";

const SECRET = "generic-secret";
const BODY = JSON.stringify({ event: "build.finished", id: 42 });

Deno.test("hmac: a generic rule verifies GitHub's octokit-made signature like the github scheme", async () => {
  const header = await githubHeader(SECRET, BODY);
  const verifier = verifierFor([`hmac=X-Hub-Signature-256:sha256:hex:${SECRET}:sha256=`]);
  const verdict = check(verifier, { "x-hub-signature-256": header }, BODY);
  // x-hub-signature-256 is GitHub's, but no github secret is configured: the hmac rule applies.
  assert.deepEqual(verdict, {
    result: "valid",
    provider: "hmac",
    code: "ok",
    reason: "signature matches secret 1 of 1",
  });
  assert.equal(
    check(verifier, { "x-hub-signature-256": header }, flipByte(BODY)).code,
    "bad_signature",
  );
});

Deno.test("hmac: every algorithm and encoding, signed through Web Crypto", async () => {
  const hashes = { sha1: "SHA-1", sha256: "SHA-256", sha512: "SHA-512" } as const;
  for (const [algorithm, hash] of Object.entries(hashes)) {
    const digest = await webHmac(hash, SECRET, BODY);
    const encodings: Record<string, string[]> = {
      hex: [hex(digest), hex(digest).toUpperCase()],
      base64: [base64(digest)],
      base64url: [
        base64(digest).replaceAll("+", "-").replaceAll("/", "_"),
        base64(digest).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, ""),
      ],
    };
    for (const [encoding, texts] of Object.entries(encodings)) {
      const verifier = verifierFor([`hmac=X-Signature:${algorithm}:${encoding}:${SECRET}`]);
      for (const text of texts) {
        const label = `${algorithm} ${encoding} ${text}`;
        assert.equal(check(verifier, { "x-signature": text }, BODY).result, "valid", label);
        assert.equal(
          check(verifier, { "x-signature": text }, flipByte(BODY, 7)).code,
          "bad_signature",
          label,
        );
      }
      // The other encodings of the same digest are not this rule's encoding.
      assert.equal(
        check(verifier, { "x-signature": encoding === "hex" ? base64(digest) : hex(digest) }, BODY)
          .code,
        "unparseable",
      );
    }
  }
});

Deno.test("hmac: a prefix must be present; a missing header is missing_header", async () => {
  const digest = hex(await webHmac("SHA-256", SECRET, BODY));
  const verifier = verifierFor([`hmac=X-Sig:sha256:hex:${SECRET}:v1=`]);
  assert.equal(check(verifier, { "x-sig": `v1=${digest}` }, BODY).result, "valid");
  const bare = check(verifier, { "x-sig": digest }, BODY);
  assert.equal(bare.code, "unparseable");
  assert.equal(bare.reason, `unparseable: X-Sig is not "v1=" and a sha256 digest in hex`);
  // The only scheme configured judges a delivery without its header.
  const none = check(verifier, {}, BODY);
  assert.equal(none.reason, "missing header X-Sig");
});

Deno.test("hmac: rotation across rules for the same header", async () => {
  const digest = hex(await webHmac("SHA-256", SECRET, BODY));
  const verifier = verifierFor([
    "hmac=X-Sig:sha256:hex:old",
    `hmac=x-sig:sha256:hex:${SECRET}`,
  ]);
  assert.equal(
    check(verifier, { "x-sig": digest }, BODY).reason,
    "signature matches secret 2 of 2",
  );
});

Deno.test("hmac: a secret containing ':' is written with a trailing prefix part", async () => {
  const secret = "se:cr:et";
  const digest = hex(await webHmac("SHA-256", secret, BODY));
  const verifier = verifierFor([`hmac=X-Sig:sha256:hex:${secret}:`]);
  assert.equal(check(verifier, { "x-sig": digest }, BODY).result, "valid");
});
