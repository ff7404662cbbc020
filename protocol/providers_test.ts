import { deepStrictEqual as assertEquals } from "node:assert/strict";
import {
  deliveryIdFrom,
  deliveryIdOf,
  detectProvider,
  headersFromPairs,
  MAX_DELIVERY_ID_LENGTH,
  signatureExpires,
} from "./providers.ts";

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

Deno.test("deliveryIdOf reads each provider's delivery id header, Slack's timestamp as a fallback", () => {
  const cases: [Record<string, string>, string, string][] = [
    [
      { "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958" },
      "github",
      "72d3162e-cc78-11e3-81ab-4c9367dc0958",
    ],
    [
      { "X-Gitlab-Event-UUID": "13792a34-cac6-4fda-95a8-c58e00a3954e" },
      "gitlab",
      "13792a34-cac6-4fda-95a8-c58e00a3954e",
    ],
    [
      { "X-Shopify-Webhook-Id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043" },
      "shopify",
      "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
    ],
    [
      { "webhook-id": "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W" },
      "standard",
      "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W",
    ],
    [{ "svix-id": "msg_p5jXN8AQM9LWM0D4loKWxJek" }, "standard", "msg_p5jXN8AQM9LWM0D4loKWxJek"],
    [{ "X-Slack-Request-Timestamp": "1531420618" }, "slack", "1531420618"],
  ];
  for (const [headers, provider, id] of cases) {
    assertEquals(deliveryIdOf(new Headers(headers)), { provider, id });
  }
  assertEquals(deliveryIdOf(headersFromPairs([["x-github-delivery", "abc"]])), {
    provider: "github",
    id: "abc",
  });
});

Deno.test("deliveryIdOf ignores absent ids and values that are not ids", () => {
  assertEquals(deliveryIdOf(new Headers({ "stripe-signature": "t=1,v1=ab" })), undefined);
  assertEquals(deliveryIdOf(new Headers({ "x-github-delivery": "a b\u0007" })), undefined);
  assertEquals(
    deliveryIdOf(new Headers({ "x-github-delivery": "a".repeat(MAX_DELIVERY_ID_LENGTH + 1) })),
    undefined,
  );
});

Deno.test("deliveryIdFrom reads Stripe's event id from the body's first bytes, only for Stripe", () => {
  const body = new TextEncoder().encode(
    '{\n  "id": "evt_1NG8Du2eZvKYlo2CUI79vXWy",\n  "object": "event",\n  "type": "charge.succeeded"\n}',
  );
  const stripe = new Headers({ "stripe-signature": "t=1,v1=ab" });
  assertEquals(deliveryIdFrom(stripe, body), {
    provider: "stripe",
    id: "evt_1NG8Du2eZvKYlo2CUI79vXWy",
  });
  assertEquals(deliveryIdFrom(stripe), undefined, "no body at hand: nothing read");
  assertEquals(deliveryIdFrom(new Headers(), body), undefined, "not a Stripe webhook");
  const late = new TextEncoder().encode(`{"pad": "${"x".repeat(300)}", "id": "evt_1"}`);
  assertEquals(deliveryIdFrom(stripe, late), undefined, "only the first bytes are looked at");
  const github = new Headers({ "x-github-delivery": "abc", "stripe-signature": "t=1" });
  assertEquals(deliveryIdFrom(github, body), { provider: "github", id: "abc" });
});
