/**
 * Who may do what: bearer tokens for `/new` and `/ws/*` (`--auth-token`), an admin token for
 * `/traefik-config` and `/internal/*` (`--admin-token`), compared in constant time.
 *
 * @module
 */
import { timingSafeEqual } from "node:crypto";
import type { HeaderLookup } from "../protocol/providers.ts";

const encoder = new TextEncoder();

/**
 * The bearer token of a request's `Authorization` header.
 * @param request The request.
 * @returns The token, or `undefined` when there is none.
 */
export function bearerToken(request: HeaderLookup): string | undefined {
  const header = request.get("authorization");
  const match = header && /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match ? match[1] : undefined;
}

/**
 * Compares two strings in time independent of where they differ.
 * @param a One string.
 * @param b The other.
 * @returns Whether they are equal.
 */
export function constantTimeEqual(a: string, b: string): boolean {
  const left = encoder.encode(a);
  const right = encoder.encode(b);
  // Compare equal-length buffers even on a length mismatch, so timing does not leak the length
  // of a prefix match.
  if (left.length !== right.length) {
    timingSafeEqual(right, right);
    return false;
  }
  return timingSafeEqual(left, right);
}

/** A set of accepted tokens; empty means "no token required". */
export class TokenSet {
  #tokens: string[];

  /** @param tokens Accepted tokens (empty strings are ignored). */
  constructor(tokens: readonly string[] = []) {
    this.#tokens = tokens.filter((token) => token.length > 0);
  }

  /** True when at least one token is configured. */
  get required(): boolean {
    return this.#tokens.length > 0;
  }

  /**
   * Whether the request may pass: always when no token is configured, else when its bearer
   * token is one of the set (every token is compared, so timing does not reveal which matched).
   * @param request The request.
   * @returns Whether it is allowed.
   */
  allows(request: HeaderLookup): boolean {
    if (!this.required) return true;
    const presented = bearerToken(request);
    if (presented === undefined) return false;
    let ok = false;
    for (const token of this.#tokens) ok = constantTimeEqual(token, presented) || ok;
    return ok;
  }
}

/**
 * Reads tokens from a file: one per line, blank lines and `#` comments ignored.
 * @param path The file.
 * @returns The tokens.
 */
export async function readTokenFile(path: string): Promise<string[]> {
  const text = await Deno.readTextFile(path);
  return text.split(/\r?\n/).map((line) => line.trim()).filter((line) =>
    line && !line.startsWith("#")
  );
}
