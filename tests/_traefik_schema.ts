/**
 * Validates Traefik v3 dynamic configuration (what `/traefik-config` serves and what the file
 * provider reads) against SchemaStore's `traefik-v3-file-provider.json` (JSON Schema draft-07),
 * kept in `tests/testdata/traefik-v3-dynamic.schema.json` (a pinned copy from SchemaStore).
 *
 * @example
 * ```ts
 * import { validateTraefikDynamicConfig } from "./_traefik_schema.ts";
 *
 * const errors = await validateTraefikDynamicConfig(await res.json());
 * assert.deepEqual(errors, []);
 * ```
 *
 * @module
 */

import { Ajv, type ValidateFunction } from "ajv";
import { fileURLToPath } from "node:url";

/**
 * Path of the schema file: `WOW_TRAEFIK_SCHEMA` when set, else
 * `tests/testdata/traefik-v3-dynamic.schema.json`.
 */
export const TRAEFIK_SCHEMA_PATH: string = Deno.env.get("WOW_TRAEFIK_SCHEMA") ??
  fileURLToPath(new URL("./testdata/traefik-v3-dynamic.schema.json", import.meta.url));

let validator: Promise<ValidateFunction> | undefined;

/**
 * Loads and compiles the schema once per process.
 *
 * @returns The compiled validator.
 * @throws {Deno.errors.NotFound} When the schema file is missing.
 */
export function loadTraefikSchema(): Promise<ValidateFunction> {
  validator ??= (async () => {
    const schema = JSON.parse(await Deno.readTextFile(TRAEFIK_SCHEMA_PATH));
    // strict: unknown keywords in the schema would be a sign of the wrong file or draft.
    const ajv = new Ajv({ allErrors: true, strict: true });
    return ajv.compile(schema);
  })();
  return validator;
}

/**
 * Validates a parsed Traefik dynamic configuration.
 *
 * @param config The configuration (parsed from JSON or YAML).
 * @returns One line per violation (`<json pointer> <message>`); empty when valid.
 * @example
 * ```ts
 * await validateTraefikDynamicConfig({ http: { routers: {} } }); // []
 * ```
 */
export async function validateTraefikDynamicConfig(config: unknown): Promise<string[]> {
  const validate = await loadTraefikSchema();
  if (validate(config)) return [];
  return (validate.errors ?? []).map((e) =>
    `${e.instancePath || "/"} ${e.message ?? e.keyword} ${JSON.stringify(e.params)}`
  );
}

/**
 * Asserts that a parsed Traefik dynamic configuration is valid.
 *
 * @param config The configuration.
 * @param label What it is, for the error message.
 * @throws {Error} Listing every violation when invalid.
 */
export async function assertValidTraefikDynamicConfig(
  config: unknown,
  label = "Traefik dynamic config",
): Promise<void> {
  const errors = await validateTraefikDynamicConfig(config);
  if (errors.length > 0) {
    throw new Error(`Invalid ${label}:\n  ${errors.join("\n  ")}`);
  }
}
