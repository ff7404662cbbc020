import assert from "node:assert/strict";
import { check, flipByte, githubAccepts, githubHeader, verifierFor } from "./_test_support.ts";

const SECRET = "It's a Secret to Everybody";
const BODY = JSON.stringify({ zen: "Design for failure.", hook_id: 1 });

async function judge(header: string | undefined, body = BODY, rules = [`github=${SECRET}`]) {
  const headers: Record<string, string> = { "x-github-event": "push" };
  if (header !== undefined) headers["x-hub-signature-256"] = header;
  const verdict = check(verifierFor(rules), headers, body);
  const secrets = rules.map((rule) => rule.slice("github=".length));
  const library = header !== undefined &&
    (await Promise.all(secrets.map((s) => githubAccepts(s, body, header)))).includes(true);
  return { verdict, library };
}

Deno.test("github: GitHub's documented example delivery is valid", () => {
  // docs.github.com, "Validating webhook deliveries": this secret, body "Hello, World!".
  const verdict = check(verifierFor([`github=${SECRET}`]), {
    "x-hub-signature-256":
      "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
  }, "Hello, World!");
  assert.equal(verdict.result, "valid");
});

Deno.test("github: a signature from @octokit/webhooks-methods sign is valid, and its verify agrees", async () => {
  const { verdict, library } = await judge(await githubHeader(SECRET, BODY));
  assert.deepEqual(verdict, {
    result: "valid",
    provider: "github",
    code: "ok",
    reason: "signature matches secret 1 of 1",
  });
  assert.equal(library, true);
});

Deno.test("github: a wrong secret or one changed body byte is a bad signature (octokit agrees)", async () => {
  const cases: [string, string][] = [
    [await githubHeader("not the secret", BODY), BODY],
    [await githubHeader(SECRET, BODY), flipByte(BODY, 5)],
    [await githubHeader(SECRET, BODY), BODY.slice(0, -1)],
  ];
  for (const [header, body] of cases) {
    const { verdict, library } = await judge(header, body);
    assert.equal(verdict.code, "bad_signature");
    assert.equal(
      verdict.reason,
      "bad signature: X-Hub-Signature-256 matches none of the 1 configured secret",
    );
    assert.equal(library, false);
  }
});

Deno.test("github: a GitHub event without X-Hub-Signature-256 is missing_header", async () => {
  const { verdict } = await judge(undefined);
  assert.equal(verdict.result, "invalid");
  assert.equal(verdict.code, "missing_header");
  assert.equal(verdict.reason, "missing header X-Hub-Signature-256");
});

Deno.test("github: malformed signatures are unparseable (octokit refuses them too)", async () => {
  const real = await githubHeader(SECRET, BODY);
  for (
    const header of [
      real.slice("sha256=".length),
      real.replace("sha256=", "sha1="),
      real.toUpperCase().replace("SHA256=", "sha256="),
      real.slice(0, -1),
      real + "0",
      ` ${real}`,
      `${real} `,
      `${real},${real}`,
      "sha256=" + "g".repeat(64),
      "",
    ]
  ) {
    const { verdict, library } = await judge(header);
    assert.equal(verdict.code, "unparseable", JSON.stringify(header));
    assert.match(verdict.reason, /is not "sha256=" and 64 lower-case hex digits/);
    assert.equal(library, false, JSON.stringify(header));
  }
});

Deno.test("github: rotation: the second of two secrets matching is valid", async () => {
  const { verdict, library } = await judge(await githubHeader(SECRET, BODY), BODY, [
    "github=old secret",
    `github=${SECRET}`,
  ]);
  assert.equal(verdict.reason, "signature matches secret 2 of 2");
  assert.equal(library, true);
});
