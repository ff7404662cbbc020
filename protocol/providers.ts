/**
 * Recognises which provider sent a webhook and which event it carries, from its headers (and,
 * for providers that name the event only in the body, from a bounded look at the body).
 *
 * Shared by the server (the queue's `auto` offline mode needs to know whose signatures expire)
 * and the client (the inspector shows provider and event; signature checks pick their rule).
 *
 * @example
 * ```ts
 * import { detectProvider } from "./providers.ts";
 * const headers = new Headers({ "x-github-event": "push" });
 * detectProvider(headers); // { provider: "github", event: "push" }
 * ```
 * @module
 */

/** A provider this program recognises; `""` when none matches. */
export type ProviderName =
  | "github"
  | "gitlab"
  | "stripe"
  | "slack"
  | "shopify"
  | "standard"
  | "";

/** The provider and event of one webhook (`""` where unknown). */
export interface ProviderInfo {
  /** Which provider sent it. */
  provider: ProviderName;
  /** The provider's event name, e.g. `push` or `checkout.session.completed`. */
  event: string;
}

/**
 * Bodies larger than this are not parsed to find an event name: the event is then blank. A
 * webhook's JSON is rarely over a few hundred KiB, and parsing must stay cheap.
 */
export const MAX_EVENT_BODY_BYTES = 1024 * 1024;

/** Anything with a case-insensitive `get`: `Headers`, or use {@linkcode headersFromPairs}. */
export interface HeaderLookup {
  /** The header's value, or null when absent. */
  get(name: string): string | null;
}

/**
 * Wraps an ordered list of header pairs in a case-insensitive lookup (first value wins). The
 * first lookup indexes the list once (the client looks up about ten names per request), so the
 * list must not change afterwards.
 *
 * @param pairs The headers as `[name, value]` pairs, as they arrived.
 * @returns A lookup usable with {@linkcode detectProvider}.
 */
export function headersFromPairs(pairs: readonly (readonly [string, string])[]): HeaderLookup {
  let index: Map<string, string> | undefined;
  return {
    get(name: string): string | null {
      if (index === undefined) {
        index = new Map();
        for (const [key, value] of pairs) {
          const lower = key.toLowerCase();
          if (!index.has(lower)) index.set(lower, value);
        }
      }
      return index.get(name.toLowerCase()) ?? null;
    },
  };
}

/** Headers whose presence identifies a provider, checked in this order. */
const SIGNATURE_HEADERS: readonly (readonly [string, ProviderName])[] = [
  ["x-github-event", "github"],
  ["x-hub-signature-256", "github"],
  ["x-gitlab-event", "gitlab"],
  ["x-gitlab-token", "gitlab"],
  ["stripe-signature", "stripe"],
  ["x-slack-signature", "slack"],
  ["x-slack-request-timestamp", "slack"],
  ["x-shopify-hmac-sha256", "shopify"],
  ["x-shopify-topic", "shopify"],
  ["webhook-signature", "standard"],
  ["webhook-id", "standard"],
  ["svix-signature", "standard"],
  ["svix-id", "standard"],
];

/**
 * Names the provider that sent a webhook, from its headers alone.
 *
 * @param headers The request's headers.
 * @returns The provider, or `""` when no known header is present.
 */
export function providerOf(headers: HeaderLookup): ProviderName {
  for (const [name, provider] of SIGNATURE_HEADERS) {
    if (headers.get(name) !== null) return provider;
  }
  return "";
}

/** A provider's own id of one delivery, for log lines an operator can grep. */
export interface ProviderDelivery {
  /** Which provider sent it. */
  provider: Exclude<ProviderName, "">;
  /** The provider's delivery id (or, for Slack, the request timestamp as a fallback key). */
  id: string;
}

/**
 * Headers carrying a provider's delivery id, checked in this order. Slack sends no delivery id;
 * its request timestamp is the best key a log line can have for it. Stripe's event id is in the
 * body only: see {@linkcode deliveryIdFrom}.
 */
const DELIVERY_ID_HEADERS: readonly (readonly [string, Exclude<ProviderName, "">])[] = [
  ["x-github-delivery", "github"],
  ["x-gitlab-event-uuid", "gitlab"],
  ["x-shopify-webhook-id", "shopify"],
  ["webhook-id", "standard"],
  ["svix-id", "standard"],
  ["x-slack-request-timestamp", "slack"],
];

/** Longest delivery id logged; ids are UUIDs or short tokens, anything longer is not one. */
export const MAX_DELIVERY_ID_LENGTH = 128;

/** Characters a logged delivery id may contain (UUIDs, `msg_…`, digits): nothing to escape. */
const DELIVERY_ID = /^[A-Za-z0-9._:-]+$/;

/**
 * The provider's own id of a delivery, from its headers alone (cheap: a few lookups), so each
 * delivery log line can carry it. Values that do not look like an id (too long, odd characters)
 * are ignored rather than logged.
 *
 * @param headers The request's headers.
 * @returns Provider and id, or undefined when the webhook carries none.
 * @example
 * ```ts
 * import { deliveryIdOf } from "./providers.ts";
 * deliveryIdOf(new Headers({ "x-github-delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958" }));
 * // { provider: "github", id: "72d3162e-cc78-11e3-81ab-4c9367dc0958" }
 * ```
 */
export function deliveryIdOf(headers: HeaderLookup): ProviderDelivery | undefined {
  for (const [name, provider] of DELIVERY_ID_HEADERS) {
    const id = headers.get(name);
    if (id === null) continue;
    if (id.length <= MAX_DELIVERY_ID_LENGTH && DELIVERY_ID.test(id)) return { provider, id };
  }
  return undefined;
}

/** How much of a body {@linkcode deliveryIdFrom} looks at: Stripe's `id` is its first field. */
export const DELIVERY_ID_BODY_BYTES = 256;

const STRIPE_EVENT_ID = /^\s*\{\s*"id"\s*:\s*"(evt_[A-Za-z0-9]{1,100})"/;
const latin1 = new TextDecoder("latin1");

/**
 * {@linkcode deliveryIdOf}, and for a Stripe webhook (`Stripe-Signature`) whose body is at hand
 * the event id, read from the body's first {@linkcode DELIVERY_ID_BODY_BYTES} bytes only (Stripe
 * sends `{"id": "evt_…"` first). Callers pass the body only when they hold it whole anyway (a
 * small body), so this never costs a read.
 *
 * @param headers The request's headers.
 * @param body The request body, when already in memory.
 * @returns Provider and id, or undefined.
 * @example
 * ```ts
 * import { deliveryIdFrom } from "./providers.ts";
 * const body = new TextEncoder().encode('{\n  "id": "evt_1NG8Du2eZvKYlo2CUI79vXWy", "object": "event"}');
 * deliveryIdFrom(new Headers({ "stripe-signature": "t=1,v1=x" }), body);
 * // { provider: "stripe", id: "evt_1NG8Du2eZvKYlo2CUI79vXWy" }
 * ```
 */
export function deliveryIdFrom(
  headers: HeaderLookup,
  body?: Uint8Array,
): ProviderDelivery | undefined {
  const fromHeaders = deliveryIdOf(headers);
  if (fromHeaders || !body || headers.get("stripe-signature") === null) return fromHeaders;
  const id = STRIPE_EVENT_ID.exec(latin1.decode(body.subarray(0, DELIVERY_ID_BODY_BYTES)))?.[1];
  return id ? { provider: "stripe", id } : undefined;
}

/**
 * True for providers whose signatures carry a timestamp that receivers reject after a few minutes
 * and whose senders retry on 5xx (Stripe, Slack, Standard Webhooks / Svix). A queued copy of such
 * a webhook would be refused by the app later, so the queue's `auto` mode answers 503 instead and
 * lets the sender resend a freshly signed copy.
 *
 * @param headers The request's headers.
 * @returns Whether the webhook's signature expires.
 */
export function signatureExpires(headers: HeaderLookup): boolean {
  return headers.get("stripe-signature") !== null ||
    headers.get("x-slack-request-timestamp") !== null ||
    headers.get("webhook-timestamp") !== null ||
    headers.get("svix-timestamp") !== null;
}

/**
 * Recognises a webhook's provider and event. The event comes from a header where the provider
 * sends one (GitHub, GitLab, Shopify) and otherwise from the JSON body (`type` for Stripe and
 * Standard Webhooks; `event.type`, `type` or a slash command for Slack). Bodies over
 * {@linkcode MAX_EVENT_BODY_BYTES} or not JSON leave the event blank.
 *
 * @param headers The request's headers.
 * @param body The request body's bytes, when available.
 * @returns The provider and event, blank where unknown.
 */
export function detectProvider(headers: HeaderLookup, body?: Uint8Array): ProviderInfo {
  const provider = providerOf(headers);
  switch (provider) {
    case "github":
      return { provider, event: headers.get("x-github-event") ?? "" };
    case "gitlab":
      return { provider, event: headers.get("x-gitlab-event") ?? "" };
    case "shopify":
      return { provider, event: headers.get("x-shopify-topic") ?? "" };
    case "stripe":
    case "standard":
      return { provider, event: stringAt(parseBody(headers, body), ["type"]) };
    case "slack":
      return { provider, event: slackEvent(headers, body) };
    default:
      return { provider, event: "" };
  }
}

function slackEvent(headers: HeaderLookup, body?: Uint8Array): string {
  const parsed = parseBody(headers, body);
  if (parsed !== undefined) {
    return stringAt(parsed, ["event", "type"]) || stringAt(parsed, ["type"]) ||
      stringAt(parsed, ["command"]);
  }
  return "";
}

/** Parses a JSON body, a form body (Slack commands and interactivity), or returns undefined. */
function parseBody(headers: HeaderLookup, body?: Uint8Array): unknown {
  if (body === undefined || body.length === 0 || body.length > MAX_EVENT_BODY_BYTES) {
    return undefined;
  }
  const text = new TextDecoder().decode(body);
  const type = (headers.get("content-type") ?? "").toLowerCase();
  if (type.startsWith("application/x-www-form-urlencoded")) {
    const form = new URLSearchParams(text);
    const payload = form.get("payload");
    if (payload !== null) return parseJson(payload);
    return Object.fromEntries(form);
  }
  return parseJson(text);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function stringAt(value: unknown, path: readonly string[]): string {
  let current = value;
  for (const key of path) {
    if (current === null || typeof current !== "object") return "";
    current = (current as Record<string, unknown>)[key];
  }
  return typeof current === "string" ? current : "";
}
