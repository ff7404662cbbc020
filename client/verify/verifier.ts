/**
 * The dispatcher: given a delivery's headers (and then its body, as it streams), picks the rule
 * that applies and returns the verdict.
 *
 * Which rule applies: the provider `protocol/providers.ts` recognises from the headers, when a
 * secret is configured for it; otherwise the first generic `hmac` rule whose header is present;
 * otherwise, when no provider is recognised and only one scheme is configured, that scheme (the
 * delivery then fails with `missing_header`); otherwise none, and the delivery is `unchecked`
 * (`no_secret` when a provider was recognised, `unsigned` when not).
 *
 * @module
 */
import { type HeaderLookup, providerOf } from "../../protocol/providers.ts";
import type { BodyCheck, Scheme, SchemeContext } from "./_scheme.ts";
import { decided } from "./_scheme.ts";
import { hmacScheme } from "./hmac.ts";
import { type NamedProvider, SCHEMES, type VerifyRule } from "./rules.ts";
import { unchecked, type Verdict, type VerifyProvider } from "./verdict.ts";

/** Defaults of the verification options, one place (the CLI shows them in `--help`). */
export const VERIFY_DEFAULTS = {
  /**
   * Largest timestamp age accepted: 5 minutes, the window Stripe, Slack and Standard Webhooks
   * document and their libraries use.
   */
  verifyTolerance: 5 * 60_000,
  /**
   * Bodies over this are not hashed (`unchecked`): 32 MiB is far above any provider's webhook
   * size (GitHub caps payloads at 25 MB) and bounds what `reject` mode holds before deciding.
   */
  verifyMaxBody: 32 * 1024 * 1024,
  /** `flag`: forward everything and record the verdict. */
  verifyMode: "flag",
} as const;

/** Options for {@linkcode Verifier}. */
export interface VerifierOptions {
  /** Largest timestamp age (or lead, where the scheme limits it), ms; 0: not checked. @default 300000 */
  tolerance?: number;
  /** Bodies over this many bytes are `unchecked`. @default 33554432 */
  maxBody?: number;
  /** The clock, ms since the epoch (tests, replays judged "as sent"). @default Date.now */
  now?: () => number;
}

interface Entry {
  scheme: Scheme;
  keys: Uint8Array[];
  /** For generic rules: the header whose presence selects the rule. */
  header?: string;
}

/**
 * Checks deliveries against the configured rules.
 *
 * @example
 * ```ts
 * import { Verifier } from "./verifier.ts";
 * import { parseVerifyRule } from "./rules.ts";
 * const verifier = new Verifier([parseVerifyRule("github=It's a secret")]);
 * const verdict = verifier.verify(new Headers({ "x-github-event": "ping" }), new Uint8Array());
 * verdict.result; // "invalid" (missing header X-Hub-Signature-256)
 * ```
 */
export class Verifier {
  #named = new Map<NamedProvider, Entry>();
  #generic: Entry[] = [];
  #tolerance: number;
  #maxBody: number;
  #now: () => number;

  /**
   * @param rules The rules; several for one provider are all tried (secret rotation).
   * @param options Tolerance, body limit, clock.
   * @throws {TypeError} When a secret is malformed for its provider.
   */
  constructor(rules: readonly VerifyRule[], options: VerifierOptions = {}) {
    this.#tolerance = options.tolerance ?? VERIFY_DEFAULTS.verifyTolerance;
    this.#maxBody = options.maxBody ?? VERIFY_DEFAULTS.verifyMaxBody;
    this.#now = options.now ?? Date.now;
    const generic = new Map<string, Entry>();
    for (const rule of rules) {
      if (rule.provider === "hmac") {
        const id = JSON.stringify([
          rule.header.toLowerCase(),
          rule.algorithm,
          rule.encoding,
          rule.prefix,
        ]);
        let entry = generic.get(id);
        if (!entry) {
          entry = { scheme: hmacScheme(rule), keys: [], header: rule.header };
          generic.set(id, entry);
          this.#generic.push(entry);
        }
        entry.keys.push(entry.scheme.key(rule.secret));
        continue;
      }
      let entry = this.#named.get(rule.provider);
      if (!entry) {
        entry = { scheme: SCHEMES[rule.provider], keys: [] };
        this.#named.set(rule.provider, entry);
      }
      entry.keys.push(entry.scheme.key(rule.secret));
    }
  }

  /** Bodies over this many bytes are `unchecked`. */
  get maxBody(): number {
    return this.#maxBody;
  }

  /** The providers with at least one rule, named ones first. */
  get providers(): VerifyProvider[] {
    return [...this.#named.keys(), ...(this.#generic.length ? ["hmac" as const] : [])];
  }

  /**
   * Starts checking one delivery: feed its body to the returned check as it streams, then ask
   * for the verdict. The check keeps no chunk (only the running HMACs).
   * @param headers The delivery's headers, as the sender sent them.
   * @param options `now`: judge at this time (ms since the epoch) instead of the clock's.
   * @returns The check.
   */
  begin(headers: HeaderLookup, options: { now?: number } = {}): BodyCheck {
    const context: SchemeContext = {
      now: options.now ?? this.#now(),
      tolerance: this.#tolerance,
      maxBody: this.#maxBody,
    };
    const recognised = providerOf(headers);
    const named = recognised ? this.#named.get(recognised) : undefined;
    if (named) return named.scheme.begin(headers, named.keys, context);
    for (const entry of this.#generic) {
      if (headers.get(entry.header!) !== null) {
        return entry.scheme.begin(headers, entry.keys, context);
      }
    }
    if (!recognised) {
      // One scheme configured: the channel is that sender's, so a delivery without its
      // signature header is judged by it (missing header), not waved through as unsigned.
      const only = [...this.#named.values(), ...this.#generic];
      if (only.length === 1) return only[0].scheme.begin(headers, only[0].keys, context);
    } else {
      return decided(unchecked(
        recognised,
        "no_secret",
        `no secret configured for ${recognised} (--verify ${recognised}=<secret>)`,
      ));
    }
    return decided(unchecked(
      "",
      "unsigned",
      `unsigned: no signature header of a known provider${
        this.#generic.length ? " or an hmac rule" : ""
      }`,
    ));
  }

  /**
   * Checks a delivery whose body is at hand.
   * @param headers The delivery's headers.
   * @param body The raw body bytes.
   * @param options `now`: judge at this time (ms since the epoch).
   * @returns The verdict.
   */
  verify(headers: HeaderLookup, body?: Uint8Array, options: { now?: number } = {}): Verdict {
    const check = this.begin(headers, options);
    if (body?.length) check.update(body);
    return check.finish();
  }
}
