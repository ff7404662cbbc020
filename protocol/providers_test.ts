import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { detectProvider, headersFromPairs, signatureExpires } from "./providers.ts";

const json = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));

Deno.test("detectProvider names GitHub, GitLab and Shopify events from their headers", () => {
  assertEquals(detectProvider(new Headers({ "X-GitHub-Event": "push" })), {
    provider: "github",
    event: "push",
  });
  assertEquals(detectProvider(new Headers({ "X-Gitlab-Event": "Push Hook" })).event, "Push Hook");
  assertEquals(
    detectProvider(
      new Headers({ "X-Shopify-Hmac-Sha256": "x", "X-Shopify-Topic": "orders/create" }),
    ),
    { provider: "shopify", event: "orders/create" },
  );
});

Deno.test("detectProvider reads Stripe's and Standard Webhooks' event type from the body", () => {
  const body = json({ id: "evt_1", type: "checkout.session.completed" });
  assertEquals(detectProvider(new Headers({ "Stripe-Signature": "t=1,v1=x" }), body), {
    provider: "stripe",
    event: "checkout.session.completed",
  });
  assertEquals(
    detectProvider(
      new Headers({ "webhook-id": "m", "webhook-signature": "v1,x" }),
      json({ type: "user.created" }),
    ),
    { provider: "standard", event: "user.created" },
  );
  assertEquals(detectProvider(new Headers({ "svix-id": "m" }), json([1])).event, "");
});

Deno.test("detectProvider reads Slack events from JSON and from form payloads", () => {
  const headers = new Headers({ "X-Slack-Signature": "v0=x", "X-Slack-Request-Timestamp": "1" });
  assertEquals(
    detectProvider(headers, json({ event: { type: "app_mention" } })).event,
    "app_mention",
  );
  assertEquals(
    detectProvider(headers, json({ type: "url_verification" })).event,
    "url_verification",
  );
  const form = new Headers(headers);
  form.set("content-type", "application/x-www-form-urlencoded");
  const command = new TextEncoder().encode("command=%2Fdeploy&text=now");
  assertEquals(detectProvider(form, command).event, "/deploy");
  const payload = new TextEncoder().encode(
    "payload=" + encodeURIComponent(JSON.stringify({ type: "block_actions" })),
  );
  assertEquals(detectProvider(form, payload).event, "block_actions");
});

Deno.test("detectProvider leaves unknown senders, bad JSON and huge bodies blank", () => {
  assertEquals(detectProvider(new Headers({ "content-type": "application/json" })), {
    provider: "",
    event: "",
  });
  assertEquals(
    detectProvider(new Headers({ "Stripe-Signature": "x" }), new TextEncoder().encode("{no")).event,
    "",
  );
  const huge = new Uint8Array(1024 * 1024 + 1).fill(0x20);
  assertEquals(detectProvider(new Headers({ "Stripe-Signature": "x" }), huge).event, "");
});

Deno.test("signatureExpires is true only for timestamped signatures whose senders retry", () => {
  assertEquals(signatureExpires(new Headers({ "Stripe-Signature": "t=1" })), true);
  assertEquals(signatureExpires(new Headers({ "X-Slack-Request-Timestamp": "1" })), true);
  assertEquals(signatureExpires(new Headers({ "webhook-timestamp": "1" })), true);
  assertEquals(signatureExpires(new Headers({ "svix-timestamp": "1" })), true);
  assertEquals(signatureExpires(new Headers({ "X-GitHub-Event": "push" })), false);
  assertEquals(signatureExpires(new Headers({ "X-Shopify-Hmac-Sha256": "x" })), false);
  assertEquals(signatureExpires(new Headers({})), false);
});

Deno.test("headersFromPairs looks names up case-insensitively, first value first", () => {
  const lookup = headersFromPairs([["X-GitHub-Event", "push"], ["x-github-event", "ping"]]);
  assertEquals(lookup.get("x-github-event"), "push");
  assertEquals(lookup.get("missing"), null);
  assertEquals(detectProvider(lookup).provider, "github");
});
