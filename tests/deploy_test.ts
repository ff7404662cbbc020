/**
 * Offline checks of the packaging files: every YAML file under `deploy/` and
 * `.github/workflows/` parses, the names, ports and labels that tie the files together agree,
 * the Traefik dynamic configuration files pass the Traefik v3 schema, and the Dockerfile and
 * `.dockerignore` fit the compile task.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join, relative } from "node:path";
import { parse, parseAllDocuments } from "yaml";
import { binaryFileName, REPO_ROOT, TARGETS } from "../deploy/compile.ts";
import {
  assertValidTraefikDynamicConfig,
  validateTraefikDynamicConfig,
} from "./_traefik_schema.ts";
import { CidrSet, parseCidr } from "../server/mod.ts";
import { freePorts, startServerProc } from "./_harness.ts";

// deno-lint-ignore no-explicit-any
type Any = any;

const DEPLOY = join(REPO_ROOT, "deploy");
const K8S = join(DEPLOY, "kubernetes");
const WORKFLOWS = join(REPO_ROOT, ".github", "workflows");
const HTTP_PORT = 8080;
const GOSSIP_PORT = 7946;
const BINARY_PATH = "/webhook-over-websocket";
/** The compose files' readiness check: the image's binary asks the replica's /readyz. */
const READINESS_CHECK = [BINARY_PATH, "healthcheck", "--url", "http://127.0.0.1:8080/readyz"];

/** Environment variables the server reads (flag `--x-y` ↔ `WOW_X_Y`, plus `POD_IP`). */
const SERVER_ENV = new Set(
  [
    "port",
    "bind-addr",
    "advertise-addr",
    "peer-domain",
    "join",
    "memberlist-port",
    "memberlist-sync-duration",
    "gossip-key",
    "cleanup-duration",
    "channel-ttl",
    "channel-key",
    "auth-token",
    "admin-token",
    "max-body-size",
    "request-timeout",
    "trusted-proxy",
    "max-channels-per-ip",
    "tls-cert",
    "tls-key",
    "log-level",
    "log-format",
  ].map((flag) => `WOW_${flag.toUpperCase().replaceAll("-", "_")}`).concat(["POD_IP"]),
);

async function walk(dir: string, keep: (path: string) => boolean): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) out.push(...await walk(path, keep));
    else if (entry.isFile && keep(path)) out.push(path);
  }
  return out.sort();
}

const isYaml = (path: string) => /\.ya?ml$/.test(path);
const yamlFiles = [...await walk(DEPLOY, isYaml), ...await walk(WORKFLOWS, isYaml)];

/** Parses a YAML file strictly: any error or warning fails. */
async function loadYaml(path: string): Promise<Any[]> {
  const docs = parseAllDocuments(await Deno.readTextFile(path), { prettyErrors: true });
  const list = Array.isArray(docs) ? docs : [docs];
  for (const doc of list) {
    assert.deepEqual(doc.errors.map(String), [], `${relative(REPO_ROOT, path)}: errors`);
    assert.deepEqual(doc.warnings.map(String), [], `${relative(REPO_ROOT, path)}: warnings`);
  }
  return list.map((doc) => doc.toJS()).filter((value) => value !== null);
}

async function loadOne(path: string): Promise<Any> {
  const docs = await loadYaml(path);
  assert.equal(docs.length, 1, `${relative(REPO_ROOT, path)}: one document`);
  return docs[0];
}

const denoJson = JSON.parse(await Deno.readTextFile(join(REPO_ROOT, "deno.json")));

// --- all YAML -----------------------------------------------------------------------------------

Deno.test("every YAML file under deploy/ and .github/workflows/ parses without warnings", async () => {
  assert.ok(yamlFiles.length >= 15, `found only ${yamlFiles.length} YAML files`);
  for (const path of yamlFiles) {
    const docs = await loadYaml(path);
    assert.ok(docs.length > 0, `${relative(REPO_ROOT, path)} is empty`);
  }
});

// --- Kubernetes ---------------------------------------------------------------------------------

/** Files in deploy/kubernetes/ that are not resources of the kustomization. */
const K8S_NON_RESOURCES = new Set([
  "kustomization.yaml",
  "traefik-values.yaml",
  "gossip-secret.example.yaml",
]);

async function k8sResources(): Promise<Any[]> {
  const kustomization = await loadOne(join(K8S, "kustomization.yaml"));
  const resources: Any[] = [];
  for (const file of kustomization.resources as string[]) {
    resources.push(...await loadYaml(join(K8S, file)));
  }
  return resources;
}

function byKind(resources: Any[], kind: string): Any[] {
  return resources.filter((r) => r.kind === kind);
}

function only(resources: Any[], kind: string, predicate: (r: Any) => boolean = () => true): Any {
  const found = byKind(resources, kind).filter(predicate);
  assert.equal(found.length, 1, `exactly one ${kind}`);
  return found[0];
}

function matches(selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.keys(selector).length > 0 &&
    Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}

function flagValue(args: string[], flag: string): string | undefined {
  const i = args.indexOf(flag);
  if (i >= 0) return args[i + 1];
  return args.find((a) => a.startsWith(`${flag}=`))?.slice(flag.length + 1);
}

Deno.test("kustomization lists every manifest, and every manifest is a named resource in one namespace", async () => {
  const kustomization = await loadOne(join(K8S, "kustomization.yaml"));
  const listed = new Set(kustomization.resources as string[]);
  const files = (await walk(K8S, isYaml)).map((p) => relative(K8S, p));
  for (const file of files) {
    assert.ok(listed.has(file) || K8S_NON_RESOURCES.has(file), `${file} not in kustomization`);
  }
  for (const file of listed) assert.ok(files.includes(file), `${file} listed but missing`);

  const resources = await k8sResources();
  const namespace = only(resources, "Namespace").metadata.name;
  for (const r of resources) {
    assert.ok(r.apiVersion && r.kind && r.metadata?.name, JSON.stringify(r).slice(0, 80));
    if (r.kind !== "Namespace") {
      assert.equal(r.metadata.namespace, namespace, `${r.kind}/${r.metadata.name} namespace`);
    }
  }
  const secret = await loadOne(join(K8S, "gossip-secret.example.yaml"));
  assert.equal(secret.metadata.namespace, namespace);
});

Deno.test("Deployment runs 3 server replicas with POD_IP, readiness on /readyz, liveness on /healthz, http+gossip ports", async () => {
  const resources = await k8sResources();
  const deployment = only(resources, "Deployment");
  assert.equal(deployment.spec.replicas, 3);
  const pod = deployment.spec.template;
  assert.ok(matches(deployment.spec.selector.matchLabels, pod.metadata.labels));
  const [container] = pod.spec.containers;
  assert.equal(pod.spec.containers.length, 1);
  const args: string[] = container.args;
  assert.equal(args[0], "server");
  assert.equal(flagValue(args, "--port"), String(HTTP_PORT));
  assert.equal(flagValue(args, "--memberlist-port"), String(GOSSIP_PORT));
  // Traefik's pods name the client in X-Forwarded-For: a valid range is trusted.
  const trusted = flagValue(args, "--trusted-proxy");
  assert.ok(trusted && parseCidr(trusted), "--trusted-proxy <pod CIDR>");

  const ports = container.ports.map((p: Any) => `${p.name}:${p.containerPort}/${p.protocol}`);
  assert.deepEqual(ports.sort(), [
    `gossip-tcp:${GOSSIP_PORT}/TCP`,
    `gossip-udp:${GOSSIP_PORT}/UDP`,
    `http:${HTTP_PORT}/TCP`,
  ]);

  const env = new Map<string, Any>(container.env.map((e: Any) => [e.name, e]));
  for (const name of env.keys()) assert.ok(SERVER_ENV.has(name), `unknown env ${name}`);
  assert.equal(env.get("POD_IP").valueFrom.fieldRef.fieldPath, "status.podIP");

  const secret = await loadOne(join(K8S, "gossip-secret.example.yaml"));
  for (const name of ["WOW_GOSSIP_KEY", "WOW_CHANNEL_KEY"]) {
    const ref = env.get(name)?.valueFrom?.secretKeyRef;
    assert.ok(ref, `${name} from a Secret`);
    assert.equal(ref.optional, true, `${name} optional`);
    assert.equal(ref.name, secret.metadata.name);
    assert.ok(ref.key in secret.stringData, `${name} key "${ref.key}" in the example Secret`);
  }

  for (
    const [probe, path] of [[container.readinessProbe, "/readyz"], [
      container.livenessProbe,
      "/healthz",
    ]]
  ) {
    assert.equal(probe.httpGet.path, path);
    assert.ok(["http", HTTP_PORT].includes(probe.httpGet.port));
  }
  assert.equal(pod.spec.securityContext.runAsNonRoot, true);
});

Deno.test("--peer-domain is the headless Service's FQDN; Services and PDB select the pods", async () => {
  const resources = await k8sResources();
  const deployment = only(resources, "Deployment");
  const labels = deployment.spec.template.metadata.labels;
  const container = deployment.spec.template.spec.containers[0];
  const services = byKind(resources, "Service");
  assert.equal(services.length, 2);
  const headless = only(resources, "Service", (s) => s.spec.clusterIP === "None");
  assert.equal(headless.spec.publishNotReadyAddresses, true);
  assert.equal(
    flagValue(container.args, "--peer-domain"),
    `${headless.metadata.name}.${headless.metadata.namespace}.svc.cluster.local`,
  );
  const byName = new Map<string, Any>(container.ports.map((p: Any) => [p.name, p]));
  for (const service of services) {
    assert.ok(matches(service.spec.selector, labels), `${service.metadata.name} selector`);
    for (const port of service.spec.ports) {
      const target = typeof port.targetPort === "string"
        ? byName.get(port.targetPort)
        : container.ports.find((p: Any) => p.containerPort === (port.targetPort ?? port.port));
      assert.ok(target, `${service.metadata.name} port ${port.name}: no container port`);
      assert.equal(target.protocol ?? "TCP", port.protocol ?? "TCP", `${port.name} protocol`);
    }
  }
  const gossip = headless.spec.ports.map((p: Any) => `${p.port}/${p.protocol}`).sort();
  assert.deepEqual(gossip, [`${GOSSIP_PORT}/TCP`, `${GOSSIP_PORT}/UDP`]);
  assert.ok(matches(only(resources, "PodDisruptionBudget").spec.selector.matchLabels, labels));
});

Deno.test("Traefik in Kubernetes polls the HTTP Service's /traefik-config; the IngressRoute targets it", async () => {
  const resources = await k8sResources();
  const http = only(resources, "Service", (s) => s.spec.clusterIP !== "None");
  const httpPort = http.spec.ports.find((p: Any) => p.name === "http");
  assert.equal(httpPort.port, HTTP_PORT);
  const endpoint = `http://${http.metadata.name}.${http.metadata.namespace}.svc.cluster.local:` +
    `${httpPort.port}/traefik-config`;

  const configMap = only(resources, "ConfigMap");
  const staticConfig = parse(configMap.data["traefik.yml"]);
  assert.equal(staticConfig.providers.http.endpoint, endpoint);
  assert.ok("kubernetesCRD" in staticConfig.providers);

  const values = await loadOne(join(K8S, "traefik-values.yaml"));
  assert.ok(values.additionalArguments.includes(`--providers.http.endpoint=${endpoint}`));

  const route = only(resources, "IngressRoute");
  assert.match(route.apiVersion, /^traefik\.io\//);
  assert.equal(route.spec.routes.length, 1);
  const [rule] = route.spec.routes;
  assert.equal(rule.priority, 1, "catch-all must lose to the per-channel routers");
  assert.match(rule.match, /PathPrefix\(`\/`\)/);
  assert.match(rule.match, /!PathPrefix\(`\/internal\/`\)/);
  assert.match(rule.match, /!Path\(`\/traefik-config`\)/);
  assert.equal(rule.services[0].name, http.metadata.name);
  assert.ok([httpPort.name, httpPort.port].includes(rule.services[0].port));
});

Deno.test("kustomization's image is the Deployment's, tagged with deno.json's version", async () => {
  const kustomization = await loadOne(join(K8S, "kustomization.yaml"));
  const deployment = only(await k8sResources(), "Deployment");
  const [image] = kustomization.images;
  assert.equal(deployment.spec.template.spec.containers[0].image, image.name);
  assert.match(image.newName, /^ghcr\.io\/[^/]+\/webhook-over-websocket$/);
  assert.equal(image.newTag, denoJson.version);
});

async function commandWorks(cmd: string, args: string[]): Promise<boolean> {
  try {
    const out = await new Deno.Command(cmd, { args, stdout: "null", stderr: "null" }).output();
    return out.code === 0;
  } catch {
    return false;
  }
}

Deno.test({
  name: "kubectl kustomize renders deploy/kubernetes with the release image",
  ignore: !await commandWorks("kubectl", ["version", "--client"]),
  async fn() {
    const out = await new Deno.Command("kubectl", {
      args: ["kustomize", K8S],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    const rendered = parseAllDocuments(new TextDecoder().decode(out.stdout));
    const docs = (Array.isArray(rendered) ? rendered : [rendered]).map((d) => d.toJS());
    const kustomization = await loadOne(join(K8S, "kustomization.yaml"));
    const [image] = kustomization.images;
    const deployment = only(docs, "Deployment");
    assert.equal(
      deployment.spec.template.spec.containers[0].image,
      `${image.newName}:${image.newTag}`,
    );
    assert.equal(docs.length, (await k8sResources()).length);
  },
});

// --- compose + Traefik --------------------------------------------------------------------------

interface Compose {
  path: string;
  doc: Any;
}

async function loadCompose(file: string): Promise<Compose> {
  return { path: join(DEPLOY, file), doc: await loadOne(join(DEPLOY, file)) };
}

/** Resolves `${VAR:-default}` the way compose does when VAR is unset. */
function withDefaults(value: string): string {
  return value.replace(/\$\{[A-Z_]+:-([^}]*)\}/g, "$1");
}

function publishedTarget(service: Any): number {
  assert.equal(service.ports.length, 1);
  return Number(withDefaults(String(service.ports[0])).split(":").at(-1));
}

async function checkReplicaService(compose: Compose): Promise<Any> {
  const wow = compose.doc.services.wow;
  assert.ok(wow, `${compose.path}: service "wow"`);
  assert.equal(wow.deploy.replicas, 3);
  assert.deepEqual(wow.command, ["server"]);
  assert.equal(wow.environment.WOW_PEER_DOMAIN, "wow", "peer domain = the service's DNS name");
  assert.equal(Number(wow.environment.WOW_PORT), HTTP_PORT);
  assert.equal(Number(wow.environment.WOW_MEMBERLIST_PORT), GOSSIP_PORT);
  for (const name of Object.keys(wow.environment)) assert.ok(SERVER_ENV.has(name), name);
  assert.deepEqual(
    new Set(wow.expose.map(String)),
    new Set([`${HTTP_PORT}`, `${GOSSIP_PORT}`, `${GOSSIP_PORT}/udp`]),
  );
  assert.equal(wow.ports, undefined, "replicas publish no host ports (they would clash)");
  // Healthy means ready (depends_on waits for it; Traefik's catch-all checks /readyz too).
  assert.deepEqual(wow.healthcheck.test, ["CMD", ...READINESS_CHECK]);
  const context = join(DEPLOY, wow.build.context);
  await Deno.stat(join(context, "Dockerfile"));
  for (const envFile of wow.env_file ?? []) {
    assert.equal(envFile.required, false);
    await Deno.stat(join(DEPLOY, `${envFile.path}.example`));
  }
  return wow;
}

/**
 * The replicas trust exactly the compose file's proxy for X-Forwarded-For: `WOW_TRUSTED_PROXY`
 * is the proxy's fixed address, inside the network's subnet, and no replica's address range.
 */
function checkTrustedProxy(compose: Compose, proxy: Any): void {
  const trusted = compose.doc.services.wow.environment.WOW_TRUSTED_PROXY;
  assert.ok(trusted, `${compose.path}: WOW_TRUSTED_PROXY set (behind a proxy)`);
  const address = proxy.networks?.default?.ipv4_address;
  assert.ok(address, `${compose.path}: the proxy has a fixed address`);
  assert.equal(parseCidr(trusted).prefix, 32, "exactly one address is trusted");
  assert.ok(new CidrSet([trusted]).has(address), `${trusted} is the proxy's ${address}`);
  const subnet = compose.doc.networks.default.ipam.config[0].subnet;
  assert.ok(new CidrSet([subnet]).has(address), `${address} in ${subnet}`);
}

function volumeSource(service: Any, target: string): string {
  for (const volume of service.volumes as string[]) {
    const [source, mount] = volume.split(":");
    if (mount === target) return join(DEPLOY, source);
  }
  throw new Error(`No volume mounted at "${target}"`);
}

Deno.test("compose.yaml: 3 replicas and Traefik polling a replica's /traefik-config", async () => {
  const compose = await loadCompose("compose.yaml");
  await checkReplicaService(compose);
  const traefik = compose.doc.services.traefik;
  assert.match(traefik.image, /^traefik:v3\.\d+/);
  checkTrustedProxy(compose, traefik);
  assert.equal(traefik.depends_on.wow.condition, "service_healthy");

  const configFile = traefik.command.find((c: string) => c.startsWith("--configFile="))
    .slice("--configFile=".length);
  assert.ok(configFile.startsWith("/etc/traefik/"));
  const hostDir = volumeSource(traefik, "/etc/traefik");
  const staticConfig = await loadOne(join(hostDir, relative("/etc/traefik", configFile)));

  const endpoint = new URL(staticConfig.providers.http.endpoint);
  assert.ok(endpoint.hostname in compose.doc.services, `endpoint host ${endpoint.hostname}`);
  assert.equal(Number(endpoint.port), HTTP_PORT);
  assert.equal(endpoint.pathname, "/traefik-config");

  const entryPoints = staticConfig.entryPoints;
  const webPort = Number(entryPoints.web.address.replace(/^:/, ""));
  assert.equal(publishedTarget(traefik), webPort);

  const dynamicDir = staticConfig.providers.file.directory;
  const dynamicFiles = await walk(
    join(hostDir, relative("/etc/traefik", dynamicDir)),
    isYaml,
  );
  assert.ok(dynamicFiles.length > 0);
  for (const file of dynamicFiles) {
    const dynamic = await loadOne(file);
    for (const [name, router] of Object.entries<Any>(dynamic.http?.routers ?? {})) {
      assert.ok(router.service in dynamic.http.services, `router ${name} → ${router.service}`);
      for (const ep of router.entryPoints ?? []) assert.ok(ep in entryPoints, ep);
    }
    for (const service of Object.values<Any>(dynamic.http?.services ?? {})) {
      for (const server of service.loadBalancer.servers) {
        const url = new URL(server.url);
        assert.ok(url.hostname in compose.doc.services, `server ${server.url}`);
        assert.equal(Number(url.port), HTTP_PORT);
      }
    }
  }
});

Deno.test("compose catch-all route has the lowest priority and hides the internal endpoints", async () => {
  const dynamic = await loadOne(join(DEPLOY, "traefik", "dynamic", "catch-all.yml"));
  const routers = Object.values<Any>(dynamic.http.routers);
  assert.equal(routers.length, 1);
  assert.equal(routers[0].priority, 1);
  assert.match(routers[0].rule, /^PathPrefix\(`\/`\)/);
  assert.match(routers[0].rule, /!PathPrefix\(`\/internal\/`\)/);
  assert.match(routers[0].rule, /!Path\(`\/traefik-config`\)/);
  const service = Object.values<Any>(dynamic.http.services)[0];
  assert.equal(service.loadBalancer.healthCheck.path, "/readyz");
});

Deno.test("every Traefik dynamic config file passes the Traefik v3 schema", async () => {
  const files = await walk(join(DEPLOY, "traefik", "dynamic"), isYaml);
  assert.ok(files.length > 0);
  for (const file of files) {
    await assertValidTraefikDynamicConfig(await loadOne(file), relative(REPO_ROOT, file));
  }
});

Deno.test("validateTraefikDynamicConfig accepts the /traefik-config shape and rejects bad configs", async () => {
  const id = "0b5e0f7c-8a3e-4f55-9d3a-2c1b7e9f6a41";
  const service = `service-${id}`;
  const good = {
    http: {
      routers: {
        [`webhook-${id}`]: { rule: `PathPrefix(\`/webhook/${id}\`)`, service },
        [`ws-${id}`]: { rule: `PathPrefix(\`/ws/${id}\`)`, service },
      },
      services: { [service]: { loadBalancer: { servers: [{ url: "http://10.0.0.7:8080" }] } } },
    },
  };
  assert.deepEqual(await validateTraefikDynamicConfig(good), []);
  assert.deepEqual(await validateTraefikDynamicConfig({}), []);
  const noServers = structuredClone(good);
  noServers.http.services[service].loadBalancer.servers = [];
  assert.notDeepEqual(await validateTraefikDynamicConfig(noServers), []);
  assert.notDeepEqual(await validateTraefikDynamicConfig({ routers: {} }), []);
  await assert.rejects(assertValidTraefikDynamicConfig({ http: { routers: { r: { rule: 1 } } } }));
});

Deno.test("compose.no-traefik.yaml: 3 replicas behind nginx that streams, upgrades and hides internals", async () => {
  const compose = await loadCompose("compose.no-traefik.yaml");
  await checkReplicaService(compose);
  assert.equal(compose.doc.services.traefik, undefined);
  const lb = compose.doc.services.lb;
  checkTrustedProxy(compose, lb);
  assert.match(lb.image, /^nginx:1\.(2[89]|[3-9]\d)/, "nginx >= 1.27.3 for upstream resolve");
  const conf = await Deno.readTextFile(volumeSource(lb, "/etc/nginx/conf.d/default.conf"));
  const upstream = conf.match(/server\s+([\w.-]+):(\d+)\s+resolve;/);
  assert.ok(upstream, "upstream server with resolve");
  assert.ok(upstream[1] in compose.doc.services);
  assert.equal(Number(upstream[2]), HTTP_PORT);
  const listen = Number(conf.match(/listen\s+(\d+);/)?.[1]);
  assert.equal(publishedTarget(lb), listen);
  assert.match(conf, /client_max_body_size\s+32m;/, "same limit as --max-body-size");
  assert.match(conf, /proxy_set_header\s+Upgrade\s+\$http_upgrade;/);
  assert.match(conf, /proxy_request_buffering\s+off;/);
  assert.match(conf, /location \/internal\/ \{\s*return 404;/);
  assert.match(conf, /location = \/traefik-config \{\s*return 404;/);
});

// --- Dockerfile and .dockerignore ---------------------------------------------------------------

interface Instruction {
  op: string;
  args: string;
}

async function dockerfile(): Promise<Instruction[]> {
  const text = await Deno.readTextFile(join(REPO_ROOT, "Dockerfile"));
  const logical = text.replace(/\\\n/g, " ").split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"));
  return logical.map((line) => {
    const [op, ...rest] = line.split(/\s+/);
    return { op: op.toUpperCase(), args: rest.join(" ") };
  });
}

Deno.test("Dockerfile: build on the pinned Deno image with the compile task, run on distroless nonroot", async () => {
  const ins = await dockerfile();
  const froms = ins.filter((i) => i.op === "FROM").map((i) => i.args);
  assert.equal(froms.length, 2);
  const denoVersion = ins.find((i) => i.op === "ARG" && i.args.startsWith("DENO_VERSION="));
  assert.equal(denoVersion?.args, `DENO_VERSION=${Deno.version.deno}`);
  assert.match(froms[0], /denoland\/deno:\$\{DENO_VERSION\} AS build$/);
  assert.equal(froms[1], "gcr.io/distroless/cc-debian12:nonroot");

  const run = ins.filter((i) => i.op === "RUN").map((i) => i.args).join("\n");
  assert.match(run, /deno task compile --target "\$triple"/);
  for (const target of TARGETS.filter((t) => t.os === "linux")) {
    assert.match(run, new RegExp(`${target.arch}\\) triple=${target.triple} ;;`));
  }
  const linux = TARGETS.find((t) => t.os === "linux")!;
  const built = binaryFileName(linux).replace(linux.arch, "${TARGETARCH:-amd64}");
  assert.ok(run.includes(`dist/${built}`), `copies ${built}`);

  const copy = ins.find((i) => i.op === "COPY" && i.args.startsWith("--from=build"));
  assert.equal(copy?.args, `--from=build ${BINARY_PATH} ${BINARY_PATH}`);
  const last = (op: string) => ins.filter((i) => i.op === op).at(-1)?.args;
  assert.deepEqual(JSON.parse(last("ENTRYPOINT")!), [BINARY_PATH]);
  assert.deepEqual(JSON.parse(last("CMD")!), ["server"]);
  assert.equal(last("USER"), "nonroot");
  const healthcheck = last("HEALTHCHECK")!;
  assert.deepEqual(JSON.parse(healthcheck.slice(healthcheck.indexOf("CMD ") + 4)), [
    BINARY_PATH,
    "healthcheck",
  ]);
});

Deno.test("Dockerfile EXPOSE matches the Kubernetes container ports and compose expose", async () => {
  const exposed = new Set(
    (await dockerfile()).filter((i) => i.op === "EXPOSE").flatMap((i) => i.args.split(/\s+/))
      .map((p) => p.includes("/") ? p.toUpperCase() : `${p}/TCP`),
  );
  const container = only(await k8sResources(), "Deployment").spec.template.spec.containers[0];
  const k8s = new Set(container.ports.map((p: Any) => `${p.containerPort}/${p.protocol}`));
  assert.deepEqual(exposed, k8s);
  for (const file of ["compose.yaml", "compose.no-traefik.yaml"]) {
    const expose = (await loadCompose(file)).doc.services.wow.expose.map((p: string) =>
      String(p).includes("/") ? String(p).toUpperCase() : `${p}/TCP`
    );
    assert.deepEqual(new Set(expose), exposed, file);
  }
});

/** A `.dockerignore` rule. */
interface IgnoreRule {
  negate: boolean;
  regex: RegExp;
}

/** Parses `.dockerignore` (Go `filepath.Match` syntax plus `**`, `!` exceptions, last match wins). */
function parseDockerignore(text: string): IgnoreRule[] {
  return text.split("\n").map((l) => l.trim()).filter((l) => l !== "" && !l.startsWith("#"))
    .map((line) => {
      const negate = line.startsWith("!");
      const pattern = (negate ? line.slice(1) : line).replace(/^\/+/, "").replace(/\/+$/, "");
      let source = "";
      for (let i = 0; i < pattern.length; i++) {
        const c = pattern[i];
        if (c === "*" && pattern[i + 1] === "*") {
          source += pattern[i + 2] === "/" ? "(?:.*/)?" : ".*";
          i += pattern[i + 2] === "/" ? 2 : 1;
        } else if (c === "*") source += "[^/]*";
        else if (c === "?") source += "[^/]";
        else source += c.replace(/[.+^${}()|[\]\\]/g, "\\$&");
      }
      return { negate, regex: new RegExp(`^${source}$`) };
    });
}

/** Whether the build context keeps `path` (a file path relative to the context root). */
function keptInContext(rules: IgnoreRule[], path: string): boolean {
  const parts = path.split("/");
  // A rule matching a parent directory excludes (or re-includes) everything below it.
  const candidates = parts.map((_, i) => parts.slice(0, i + 1).join("/"));
  let excluded = false;
  for (const rule of rules) {
    if (candidates.some((c) => rule.regex.test(c))) excluded = !rule.negate;
  }
  return !excluded;
}

Deno.test(".dockerignore keeps what deno task compile needs and drops the rest", async () => {
  const rules = parseDockerignore(await Deno.readTextFile(join(REPO_ROOT, ".dockerignore")));
  const kept = [
    "deno.json",
    "deno.lock",
    "main.ts",
    "deploy/compile.ts",
    "server/mod.ts",
    "client/mod.ts",
    "protocol/mod.ts",
    "cluster/mod.ts",
    "cli/mod.ts",
  ];
  for (const path of kept) assert.ok(keptInContext(rules, path), `${path} must stay in context`);
  const dropped = [
    ".git/HEAD",
    "dist/webhook-over-websocket-linux-amd64",
    "node_modules/.deno/x/index.js",
    "tests/deploy_test.ts",
    "server/routes_test.ts",
    "bench/main.ts",
    "deploy/compose.yaml",
    "deploy/wow.env",
    "deploy/kubernetes/deployment.yaml",
    ".github/workflows/ci.yml",
    "server.log",
  ];
  for (const path of dropped) assert.ok(!keptInContext(rules, path), `${path} must be ignored`);

  // Every local module main.ts loads (when it exists and its graph resolves) reaches the build.
  const info = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", "main.ts"],
    cwd: REPO_ROOT,
    stdout: "piped",
    stderr: "null",
  }).output().catch(() => undefined);
  if (info?.code === 0) {
    const graph = JSON.parse(new TextDecoder().decode(info.stdout));
    for (const module of graph.modules as Any[]) {
      if (!String(module.specifier).startsWith("file://")) continue;
      const path = relative(REPO_ROOT, new URL(module.specifier).pathname);
      assert.ok(keptInContext(rules, path), `${path} (imported by main.ts) is in .dockerignore`);
    }
  }
});

// --- GitHub Actions -----------------------------------------------------------------------------

function steps(job: Any): Any[] {
  return job.steps ?? [];
}

function allUses(workflow: Any): string[] {
  return Object.values<Any>(workflow.jobs).flatMap((job) =>
    job.uses ? [job.uses] : steps(job).filter((s) => s.uses).map((s) => s.uses)
  );
}

Deno.test("workflows pin every action to an exact version and Deno to the version in use", async () => {
  for (const path of await walk(WORKFLOWS, isYaml)) {
    const workflow = await loadOne(path);
    for (const uses of allUses(workflow)) {
      if (uses.startsWith("./")) continue;
      assert.match(
        uses,
        /@(v\d+\.\d+\.\d+|[0-9a-f]{40})$/,
        `${relative(REPO_ROOT, path)}: ${uses}`,
      );
    }
    assert.equal(workflow.env.DENO_VERSION, `v${Deno.version.deno}`);
    for (const job of Object.values<Any>(workflow.jobs)) {
      for (const step of steps(job)) {
        if (String(step.uses).startsWith("denoland/setup-deno@")) {
          assert.equal(step.with["deno-version"], "${{ env.DENO_VERSION }}");
        }
      }
    }
  }
});

Deno.test("ci.yml runs fmt, lint, check and the tests on Linux and macOS with Go + memberlist", async () => {
  const ci = await loadOne(join(WORKFLOWS, "ci.yml"));
  assert.ok("workflow_call" in ci.on, "release.yml reuses it");
  const runs = Object.values<Any>(ci.jobs).flatMap((job) => steps(job).map((s) => s.run ?? ""));
  // fmt, lint and check run either as separate steps or through `deno task check`.
  const checkTask: string = JSON.parse(await Deno.readTextFile(join(REPO_ROOT, "deno.json")))
    .tasks.check;
  const ran = (command: string) =>
    runs.some((r) => r.trim().startsWith(command)) ||
    (runs.some((r) => r.trim() === "deno task check") && checkTask.includes(command));
  for (const command of ["deno fmt --check", "deno lint", "deno check", "deno task test"]) {
    assert.ok(ran(command), command);
  }
  const test = Object.values<Any>(ci.jobs).find((job) =>
    steps(job).some((s) => s.run === "deno task test")
  );
  assert.deepEqual(test.strategy.matrix.os, ["ubuntu-latest", "macos-latest"]);
  const install = steps(test).find((s) => /apt-get install/.test(s.run ?? ""));
  assert.equal(install.if, "runner.os == 'Linux'");
  for (const pkg of ["golang-go", "golang-github-hashicorp-memberlist-dev", "wrk"]) {
    assert.match(install.run, new RegExp(`\\b${pkg}\\b`));
  }
  // The multi-replica tests bind 127.0.0.2–.110, which macOS does not have until aliased.
  const aliases = steps(test).find((s) => /ifconfig lo0 alias/.test(s.run ?? ""));
  assert.equal(aliases.if, "runner.os == 'macOS'");
  assert.match(aliases.run, /seq 2 110/);
});

Deno.test("release.yml: tests, the five-target compile matrix, SHA256SUMS and a multi-arch image", async () => {
  const release = await loadOne(join(WORKFLOWS, "release.yml"));
  assert.deepEqual(release.on.push.tags, ["v*"]);
  assert.equal(release.jobs.ci.uses, "./.github/workflows/ci.yml");

  const binaries = release.jobs.binaries;
  assert.ok(binaries.needs.includes("ci"));
  assert.deepEqual(
    binaries.strategy.matrix.include.map((m: Any) => [m.target, m.file]),
    TARGETS.map((t) => [t.triple, binaryFileName(t)]),
  );
  assert.ok(
    steps(binaries).some((s) => s.run === "deno task compile --target ${{ matrix.target }}"),
  );

  const publish = release.jobs.publish;
  assert.equal(publish.needs, "binaries");
  assert.equal(publish.permissions.contents, "write");
  const publishRuns = steps(publish).map((s) => s.run ?? "").join("\n");
  assert.match(publishRuns, /deno task compile --checksums-only/);
  assert.match(publishRuns, /gh release (create|upload)/);

  const image = release.jobs.image;
  assert.ok(image.needs.includes("ci"));
  assert.equal(image.permissions.packages, "write");
  const uses = steps(image).map((s) => String(s.uses).split("@")[0]);
  for (const action of ["docker/setup-qemu-action", "docker/setup-buildx-action"]) {
    assert.ok(uses.includes(action), action);
  }
  const build = steps(image).find((s) => String(s.uses).startsWith("docker/build-push-action@"));
  assert.equal(build.with.push, true);
  assert.deepEqual(build.with.platforms.split(","), ["linux/amd64", "linux/arm64"]);
  const login = steps(image).find((s) => String(s.uses).startsWith("docker/login-action@"));
  assert.equal(login.with.registry, "ghcr.io");
});

Deno.test("the compose readiness check passes on a synced replica and fails before the first sync", async () => {
  const run = async (url: string) => {
    const args = READINESS_CHECK.slice(1).map((arg) =>
      arg.startsWith("http://127.0.0.1:8080") ? url : arg
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", join(REPO_ROOT, "main.ts"), ...args],
      stdout: "null",
      stderr: "null",
    }).output();
    return out.code;
  };
  await using ready = await startServerProc(["--log-level", "WARN"], { host: "127.0.0.178" });
  assert.equal(await run(`${ready.url}/readyz`), 0);
  // Told to join a peer that is not there: never synced, so not ready (but alive).
  const [deadGossip] = freePorts(1, "127.0.0.179");
  await using joining = await startServerProc([
    "--join",
    `127.0.0.179:${deadGossip}`,
    "--log-level",
    "ERROR",
  ], { host: "127.0.0.179" });
  assert.notEqual(await run(`${joining.url}/readyz`), 0);
  assert.equal(await run(`${joining.url}/healthz`), 0);
});
