/**
 * Default node name: `HOSTNAME` (a Kubernetes pod name), else `node-<8 hex>`.
 *
 * @module
 */

/** Bytes of randomness in a generated name (8 hex digits). */
const RANDOM_NAME_BYTES = 4;

/**
 * The default node name.
 *
 * @param env Environment lookup (tests pass their own).
 */
export function defaultNodeName(
  env: (name: string) => string | undefined = safeEnv,
): string {
  const host = env("HOSTNAME")?.trim();
  if (host) return host;
  const bytes = crypto.getRandomValues(new Uint8Array(RANDOM_NAME_BYTES));
  return `node-${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

function safeEnv(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined; // no --allow-env
  }
}
