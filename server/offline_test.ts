import assert from "node:assert/strict";
import { defaultMode, EXPIRING_SIGNATURES, expiringSignature, mayQueue } from "./offline.ts";

Deno.test("expiringSignature names Stripe, Slack, Standard Webhooks and Svix; not GitHub, GitLab, Shopify", () => {
  assert.equal(expiringSignature(new Headers({ "stripe-signature": "t=1,v1=a" })), "Stripe");
  assert.equal(expiringSignature(new Headers({ "x-slack-request-timestamp": "1" })), "Slack");
  assert.equal(expiringSignature(new Headers({ "webhook-timestamp": "1" })), "Standard Webhooks");
  assert.equal(expiringSignature(new Headers({ "svix-timestamp": "1" })), "Svix");
  for (
    const header of ["x-hub-signature-256", "x-gitlab-token", "x-shopify-hmac-sha256", "x-any"]
  ) {
    assert.equal(expiringSignature(new Headers({ [header]: "x" })), undefined, header);
  }
  assert.equal(EXPIRING_SIGNATURES.length, 4);
});

Deno.test("mayQueue: queue always, reject never, auto unless the signature expires", () => {
  const stripe = new Headers({ "stripe-signature": "t=1" });
  const github = new Headers({ "x-hub-signature-256": "sha256=0" });
  assert.equal(mayQueue("queue", stripe), true);
  assert.equal(mayQueue("reject", github), false);
  assert.equal(mayQueue("auto", github), true);
  assert.equal(mayQueue("auto", stripe), false);
  assert.equal(mayQueue(undefined, github), false);
});

Deno.test("defaultMode is auto when allowed, else the first allowed mode", () => {
  assert.equal(defaultMode(["auto", "queue", "reject"]), "auto");
  assert.equal(defaultMode(["reject", "queue"]), "reject");
});
