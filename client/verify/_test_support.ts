/**
 * Test helpers: deliveries signed by the providers' own libraries (`stripe`,
 * `@octokit/webhooks-methods`, `standardwebhooks`) or, for providers without a pinned library
 * (Slack, Shopify, generic HMAC), by their documented algorithm through Web Crypto
 * (`crypto.subtle`), an implementation independent of the `node:crypto` HMACs under test. Also
 * the libraries' own verifiers, so tests can require that our verdict agrees with theirs.
 *
 * @module
 */
import Stripe from "stripe";
import { sign as octokitSign, verify as octokitVerify } from "@octokit/webhooks-methods";
import { Webhook } from "standardwebhooks";
import { headersFromPairs } from "../../protocol/providers.ts";
import { Verifier, type VerifierOptions } from "./verifier.ts";
import { parseVerifyRule } from "./rules.ts";
import type { Verdict } from "./verdict.ts";

const encoder = new TextEncoder();

/** A Stripe client for its webhook helpers (no network is used). */
export const stripeClient: Stripe = new Stripe("sk_test_unused");

/** Seconds since the epoch for a time in ms. */
export const seconds = (ms: number): number => Math.floor(ms / 1000);

/**
 * `Stripe-Signature` for a body, made by `stripe.webhooks.generateTestHeaderString` (its async
 * form: under Deno stripe-node uses Web Crypto, which has no synchronous HMAC).
 */
export function stripeHeader(secret: string, body: string, timestamp: number): Promise<string> {
  return stripeClient.webhooks.generateTestHeaderStringAsync({ payload: body, secret, timestamp });
}

/** Whether stripe-node's own `verifyHeaderAsync` accepts the delivery at `now` (ms). */
export async function stripeAccepts(
  body: string,
  header: string,
  secret: string,
  now: number,
  toleranceSeconds = 300,
): Promise<boolean> {
  try {
    await stripeClient.webhooks.signature!.verifyHeaderAsync(
      body,
      header,
      secret,
      toleranceSeconds,
      undefined,
      now,
    );
    return true;
  } catch {
    return false;
  }
}

/** `X-Hub-Signature-256` made by `@octokit/webhooks-methods` `sign`. */
export function githubHeader(secret: string, body: string): Promise<string> {
  return octokitSign(secret, body);
}

/** Whether `@octokit/webhooks-methods` `verify` accepts the signature. */
export async function githubAccepts(secret: string, body: string, header: string) {
  try {
    return await octokitVerify(secret, body, header);
  } catch {
    return false;
  }
}

/** `webhook-signature` made by `standardwebhooks` `Webhook.sign`. */
export function standardSignature(secret: string, id: string, at: Date, body: string): string {
  return new Webhook(secret).sign(id, at, body);
}

/** Whether `standardwebhooks` `Webhook.verify` accepts the delivery (at the real clock). */
export function standardAccepts(secret: string, body: string, headers: Record<string, string>) {
  try {
    new Webhook(secret).verify(body, headers, { jsonParse: false });
    return true;
  } catch {
    return false;
  }
}

/** HMAC through Web Crypto. */
export async function webHmac(
  hash: "SHA-1" | "SHA-256" | "SHA-512",
  secret: string,
  message: string | Uint8Array,
): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey(
    "raw",
    encoder.encode(secret),
    { name: "HMAC", hash },
    false,
    ["sign"],
  );
  const data = typeof message === "string" ? encoder.encode(message) : message;
  return new Uint8Array(await crypto.subtle.sign("HMAC", key, data as Uint8Array<ArrayBuffer>));
}

/** Lower-case hex. */
export const hex = (bytes: Uint8Array): string =>
  [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");

/** Standard base64. */
export const base64 = (bytes: Uint8Array): string => btoa(String.fromCharCode(...bytes));

/** Slack's documented v0 signature: `v0=` + hex HMAC-SHA256 of `v0:{timestamp}:{body}`. */
export async function slackSignature(secret: string, timestamp: string, body: string) {
  return `v0=${hex(await webHmac("SHA-256", secret, `v0:${timestamp}:${body}`))}`;
}

/** Shopify's documented signature: base64 HMAC-SHA256 of the body. */
export async function shopifySignature(secret: string, body: string) {
  return base64(await webHmac("SHA-256", secret, body));
}

/**
 * A verifier for `rules` (as the user writes them) judging at a fixed clock.
 * @param rules e.g. `["stripe=whsec_x"]`.
 * @param options Tolerance, body limit, clock.
 */
export function verifierFor(rules: string[], options: VerifierOptions = {}): Verifier {
  return new Verifier(rules.map(parseVerifyRule), options);
}

/**
 * Verifies `body` with headers given as a record (names in lower case), values kept exactly.
 */
export function check(
  verifier: Verifier,
  headers: Record<string, string>,
  body: string | Uint8Array,
  now?: number,
): Verdict {
  // Raw pairs, as the client gets them from the tunnel (`Headers` would trim values).
  return verifier.verify(
    headersFromPairs(Object.entries(headers)),
    typeof body === "string" ? encoder.encode(body) : body,
    { now },
  );
}

/** The body with its byte at `index` changed (one bit flipped). */
export function flipByte(body: string, index = 0): string {
  const bytes = encoder.encode(body);
  bytes[index] ^= 0x01;
  return new TextDecoder().decode(bytes);
}
