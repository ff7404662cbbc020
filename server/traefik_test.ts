import assert from "node:assert/strict";
import YAML from "yaml";
import { buildTraefikConfig, renderTraefikConfig, type ReplicaChannels } from "./traefik.ts";
import { assertValidTraefikDynamicConfig } from "../tests/_traefik_schema.ts";

const A = "11111111-1111-4111-8111-111111111111";
const B = "22222222-2222-4222-8222-222222222222";
const C = "33333333-3333-4333-8333-333333333333";

const REPLICAS: ReplicaChannels[] = [
  { server_url: "http://10.0.0.6:8080", ws_channels: [C, B], webhook_channels: [C] },
  { server_url: "http://10.0.0.5:8080", ws_channels: [A, B], webhook_channels: [A] },
];

/** Every ordering of a list. */
function permutations<T>(items: readonly T[]): T[][] {
  if (items.length <= 1) return [[...items]];
  return items.flatMap((item, i) =>
    permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest])
  );
}

Deno.test("buildTraefikConfig renders the Go original's routers and services", () => {
  const config = buildTraefikConfig([
    { server_url: "http://10.0.0.5:8080", ws_channels: [A], webhook_channels: [A] },
  ]);
  assert.deepEqual(config, {
    http: {
      routers: {
        [`webhook-${A}`]: { rule: `PathPrefix(\`/webhook/${A}\`)`, service: `service-${A}` },
        [`ws-${A}`]: { rule: `PathPrefix(\`/ws/${A}\`)`, service: `service-${A}` },
      },
      services: {
        [`service-${A}`]: { loadBalancer: { servers: [{ url: "http://10.0.0.5:8080" }] } },
      },
    },
  });
});

Deno.test("buildTraefikConfig returns {} when no replica has a channel", () => {
  assert.deepEqual(buildTraefikConfig([]), {});
  const empty = buildTraefikConfig([
    { server_url: "http://10.0.0.5:8080", ws_channels: [], webhook_channels: [] },
  ]);
  assert.deepEqual(empty, {});
  assert.equal(renderTraefikConfig(empty, "json"), "{}");
});

Deno.test("buildTraefikConfig adds a webhook router only for attached channels", () => {
  const config = buildTraefikConfig(REPLICAS);
  const routers = Object.keys(config.http!.routers);
  assert.deepEqual(routers, [
    `webhook-${A}`,
    `webhook-${C}`,
    `ws-${A}`,
    `ws-${B}`,
    `ws-${C}`,
  ]);
});

Deno.test("buildTraefikConfig sorts routers and services by name", () => {
  const config = buildTraefikConfig(REPLICAS);
  const routers = Object.keys(config.http!.routers);
  const services = Object.keys(config.http!.services);
  assert.deepEqual(routers, [...routers].sort());
  assert.deepEqual(services, [`service-${A}`, `service-${B}`, `service-${C}`]);
});

Deno.test("buildTraefikConfig output is byte-identical whatever the input order", () => {
  const expected = renderTraefikConfig(buildTraefikConfig(REPLICAS), "json");
  const expectedYaml = renderTraefikConfig(buildTraefikConfig(REPLICAS), "yaml");
  for (const order of permutations(REPLICAS)) {
    const shuffled = order.map((r) => ({
      server_url: r.server_url,
      ws_channels: [...r.ws_channels].reverse(),
      webhook_channels: [...r.webhook_channels].reverse(),
    }));
    assert.equal(renderTraefikConfig(buildTraefikConfig(shuffled), "json"), expected);
    assert.equal(renderTraefikConfig(buildTraefikConfig(shuffled), "yaml"), expectedYaml);
  }
});

Deno.test("buildTraefikConfig routes an attached channel to the replica holding the client", () => {
  // B is issued on .5 (smaller URL) but attached on .7.
  for (
    const replicas of permutations<ReplicaChannels>([
      { server_url: "http://10.0.0.5:8080", ws_channels: [B], webhook_channels: [] },
      { server_url: "http://10.0.0.7:8080", ws_channels: [B], webhook_channels: [B] },
    ])
  ) {
    const config = buildTraefikConfig(replicas);
    assert.deepEqual(config.http!.services[`service-${B}`].loadBalancer.servers, [
      { url: "http://10.0.0.7:8080" },
    ]);
    assert.ok(config.http!.routers[`webhook-${B}`]);
  }
});

Deno.test("buildTraefikConfig picks the smallest URL among replicas that only issued a channel", () => {
  const config = buildTraefikConfig([
    { server_url: "http://10.0.0.9:8080", ws_channels: [A], webhook_channels: [] },
    { server_url: "http://10.0.0.10:8080", ws_channels: [A], webhook_channels: [] },
  ]);
  // String order: "http://10.0.0.10…" < "http://10.0.0.9…".
  assert.deepEqual(config.http!.services[`service-${A}`].loadBalancer.servers, [
    { url: "http://10.0.0.10:8080" },
  ]);
  assert.equal(config.http!.routers[`webhook-${A}`], undefined);
});

Deno.test("renderTraefikConfig YAML parses back to the same configuration", () => {
  const config = buildTraefikConfig(REPLICAS);
  assert.deepEqual(YAML.parse(renderTraefikConfig(config, "yaml")), config);
  assert.deepEqual(JSON.parse(renderTraefikConfig(config, "json")), config);
});

Deno.test("buildTraefikConfig output passes the Traefik v3 dynamic configuration schema", async () => {
  const config = buildTraefikConfig(REPLICAS);
  await assertValidTraefikDynamicConfig(JSON.parse(renderTraefikConfig(config, "json")), "json");
  await assertValidTraefikDynamicConfig(YAML.parse(renderTraefikConfig(config, "yaml")), "yaml");
  await assertValidTraefikDynamicConfig(buildTraefikConfig([]), "empty config");
});
