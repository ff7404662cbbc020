import assert from "node:assert/strict";
import YAML from "yaml";
import { buildTraefikConfig, renderTraefikConfig, type ReplicaChannels } from "./traefik.ts";
import { assertValidTraefikDynamicConfig } from "../tests/_traefik_schema.ts";

const A = "11111111-1111-4111-8111-111111111111";
const B = "22222222-2222-4222-8222-222222222222";
const C = "33333333-3333-4333-8333-333333333333";

const REPLICAS: ReplicaChannels[] = [
  { server_url: "http://10.0.0.6:8080", ws_channels: [C, B], webhook_channels: [C] },
  {
    server_url: "http://10.0.0.5:8080",
    ws_channels: [A, B],
    webhook_channels: [A],
    // B's client was attached on .5 once: it routes there.
    attached_at: { [A]: 2_000, [B]: 1_000 },
  },
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
      ...r,
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

Deno.test("buildTraefikConfig gives no route to a channel several replicas only issued, whatever their URLs", () => {
  for (
    const replicas of permutations<ReplicaChannels>([
      { server_url: "http://10.0.0.9:8080", ws_channels: [A], webhook_channels: [] },
      { server_url: "http://10.0.0.10:8080", ws_channels: [A], webhook_channels: [] },
    ])
  ) {
    // Traefik's catch-all sends the attach to any replica, which verifies the secret.
    assert.deepEqual(buildTraefikConfig(replicas), {});
  }
});

Deno.test("buildTraefikConfig routes a channel claimed twice to the latest attach, or nowhere on a tie", () => {
  const claims = (atFive: number, atNine: number): ReplicaChannels[] => [
    {
      server_url: "http://10.0.0.9:8080",
      ws_channels: [A],
      webhook_channels: [A],
      attached_at: { [A]: atNine },
    },
    {
      server_url: "http://10.0.0.5:8080",
      ws_channels: [A],
      webhook_channels: [A],
      attached_at: { [A]: atFive },
    },
  ];
  const conflicts: unknown[] = [];
  const onConflict = (...args: unknown[]) => conflicts.push(args);
  for (
    const [atFive, atNine, winner] of [[1, 2, "http://10.0.0.9:8080"], [
      2,
      1,
      "http://10.0.0.5:8080",
    ]] as const
  ) {
    for (const replicas of permutations(claims(atFive, atNine))) {
      const config = buildTraefikConfig(replicas, { onConflict });
      assert.deepEqual(config.http!.services[`service-${A}`].loadBalancer.servers, [{
        url: winner,
      }]);
    }
  }
  assert.deepEqual(conflicts[0], [
    A,
    ["http://10.0.0.5:8080", "http://10.0.0.9:8080"],
    "http://10.0.0.9:8080",
  ]);
  // A tie (or two Go original replicas, which send no times): neither.
  assert.deepEqual(buildTraefikConfig(claims(3, 3), { onConflict }), {});
  assert.equal(conflicts.at(-1)![2 as never], undefined);
  // A claim stamped far in the future counts as no time at all.
  const future = claims(5, Date.now() + 3_600_000);
  assert.deepEqual(
    buildTraefikConfig(future).http!.services[`service-${A}`].loadBalancer.servers,
    [{ url: "http://10.0.0.5:8080" }],
  );
});

Deno.test("buildTraefikConfig leaves out ids that are no channel ids (no rule injection) and reports them", () => {
  const evil = "x`) || PathPrefix(`/";
  const dropped: string[][] = [];
  const config = buildTraefikConfig([
    {
      server_url: "http://10.0.0.9:8080",
      ws_channels: [evil, A, "../x"],
      webhook_channels: [evil, A],
    },
  ], { onDropped: (url, id) => dropped.push([url, id]) });
  assert.deepEqual(Object.keys(config.http!.routers), [`webhook-${A}`, `ws-${A}`]);
  assert.ok(!JSON.stringify(config).includes("PathPrefix(`/`)"));
  assert.deepEqual(dropped, [["http://10.0.0.9:8080", evil], ["http://10.0.0.9:8080", "../x"]]);
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
