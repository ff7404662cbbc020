import assert from "node:assert/strict";
import { parseSeed, resolveSeed } from "./_discovery.ts";
import { defaultNodeName } from "./_node_name.ts";
import { type ClusterHandle, startCluster } from "./mod.ts";
import { dnsServer } from "../tests/_dns.ts";

Deno.test("parseSeed accepts host, host:port, [v6]:port and bare IPv6", () => {
  assert.deepEqual(parseSeed("10.0.0.1", 7946), { host: "10.0.0.1", port: 7946 });
  assert.deepEqual(parseSeed("peer.local:8000", 7946), { host: "peer.local", port: 8000 });
  assert.deepEqual(parseSeed("[::1]:9000", 7946), { host: "::1", port: 9000 });
  assert.deepEqual(parseSeed("fe80::1", 7946), { host: "fe80::1", port: 7946 });
  assert.throws(() => parseSeed("host:x", 1), SyntaxError);
  assert.throws(() => parseSeed("host:70000", 1), SyntaxError);
  assert.throws(() => parseSeed(":80", 1), SyntaxError);
});

Deno.test("resolveSeed resolves names through /etc/hosts", async () => {
  const addrs = await resolveSeed("localhost:1234", 7946);
  assert.ok(addrs.some((a) => a.ip === "127.0.0.1" || a.ip === "::1"));
  assert.ok(addrs.every((a) => a.port === 1234));
});

Deno.test("defaultNodeName uses HOSTNAME, else node-<8 hex>", () => {
  assert.equal(defaultNodeName(() => "pod-7"), "pod-7");
  assert.match(defaultNodeName(() => undefined), /^node-[0-9a-f]{8}$/);
});

Deno.test("startCluster discovers peers through peerDomain, retrying while DNS is empty", async () => {
  let published: string[] = [];
  const dns = dnsServer("peers.wow.test", () => published);
  const nodes: ClusterHandle[] = [];
  try {
    let port = 0;
    for (let i = 0; i < 3; i++) {
      const ip = `127.0.0.${21 + i}`;
      const node = await startCluster({
        nodeName: `dns-${i}`,
        bindAddr: ip,
        advertiseAddr: ip,
        port,
        peerDomain: "peers.wow.test",
        dnsServer: dns.address,
        syncInterval: 100,
        timings: { probeInterval: 100, probeTimeout: 50, gossipInterval: 20 },
      });
      port = Number(node.address.split(":")[1]);
      nodes.push(node);
    }
    await new Promise((r) => setTimeout(r, 250)); // a few empty rounds
    assert.ok(nodes.every((n) => !n.synced), "not synced before any peer answered");
    published = ["127.0.0.21", "127.0.0.22", "127.0.0.23"];
    const start = performance.now();
    while (!nodes.every((n) => n.members().filter((m) => m.state === "alive").length === 3)) {
      if (performance.now() - start > 5000) throw new Error("Timed out waiting for DNS joins");
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.ok(nodes.every((n) => n.synced));
  } finally {
    await Promise.all(nodes.map((n) => n.shutdown()));
    await dns.close();
  }
});

Deno.test("startCluster without seeds is synced after one sync interval", async () => {
  const node = await startCluster({ advertiseAddr: "127.0.0.1", port: 0, syncInterval: 50 });
  try {
    assert.equal(node.synced, false);
    await new Promise((r) => setTimeout(r, 80));
    assert.equal(node.synced, true);
  } finally {
    await node.shutdown();
  }
});

Deno.test("startCluster leaves when its signal is aborted", async () => {
  const controller = new AbortController();
  const a = await startCluster({
    nodeName: "a",
    advertiseAddr: "127.0.0.1",
    bindAddr: "127.0.0.1",
    port: 0,
    signal: controller.signal,
    timings: { probeInterval: 100, probeTimeout: 50, gossipInterval: 20 },
  });
  const b = await startCluster({
    nodeName: "b",
    advertiseAddr: "127.0.0.1",
    bindAddr: "127.0.0.1",
    port: 0,
    join: [a.address],
    timings: { probeInterval: 100, probeTimeout: 50, gossipInterval: 20 },
  });
  try {
    const start = performance.now();
    while (a.members().length < 2 && performance.now() - start < 5000) {
      await new Promise((r) => setTimeout(r, 10));
    }
    controller.abort();
    await a.finished;
    while (b.members().find((m) => m.name === "a")?.state !== "left") {
      if (performance.now() - start > 5000) throw new Error("Timed out waiting for left");
      await new Promise((r) => setTimeout(r, 10));
    }
  } finally {
    await a.shutdown();
    await b.shutdown();
  }
});
