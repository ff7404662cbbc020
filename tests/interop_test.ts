/**
 * Interop with the real HashiCorp memberlist (issue 3, item 8): a small Go program
 * (`tests/interop/memberlist_node.go`, built against Debian's
 * `golang-github-hashicorp-memberlist-dev` with `GO111MODULE=off`) and our in-process
 * `startCluster` nodes join each other, see each other's crashes, exchange metadata, and
 * interoperate with the same gossip key but not with different ones.
 *
 * Needs `go` and the memberlist source under `/usr/share/gocode` (`.ci/run` installs
 * `golang-go golang-github-hashicorp-memberlist-dev`); without them every test here reports
 * as ignored. Addresses 127.0.0.31–.59 are this file's; gossip ports are ephemeral, except
 * 17946 in the protocol-1 test (memberlist v1 assumes one port for the whole cluster).
 *
 * @module
 */

import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type ClusterHandle, startCluster, type SwimTimings } from "../cluster/mod.ts";

const GO_SOURCE = join(dirname(fileURLToPath(import.meta.url)), "interop", "memberlist_node.go");
const GOCODE = "/usr/share/gocode";
const MEMBERLIST_SOURCE = `${GOCODE}/src/github.com/hashicorp/memberlist`;

/** Fast timings on our side, close to the Go program's `-fast` (200 ms probes). */
const OUR_TIMINGS: Partial<SwimTimings> = {
  probeInterval: 100,
  probeTimeout: 50,
  gossipInterval: 20,
  pushPullInterval: 1000,
  gossipToTheDeadTime: 2000,
};

/** Generous bound of every wait: convergence takes well under a second in practice. */
const WAIT_MS = 10_000;

function findGo(): string | undefined {
  for (const dir of (Deno.env.get("PATH") ?? "/usr/bin").split(":")) {
    try {
      if (Deno.statSync(join(dir, "go")).isFile) return join(dir, "go");
    } catch { /* not here */ }
  }
  return undefined;
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

const GO = findGo();
const MISSING = !GO
  ? "`go` not found"
  : !exists(MEMBERLIST_SOURCE)
  ? `${MEMBERLIST_SOURCE} not found`
  : undefined;
if (MISSING) {
  console.warn(
    `interop tests ignored: ${MISSING} ` +
      "(apt-get install golang-go golang-github-hashicorp-memberlist-dev)",
  );
}

let binary: Promise<string> | undefined;

/** Builds the Go node once per run into a temporary directory. */
function goNodeBinary(): Promise<string> {
  binary ??= (async () => {
    const dir = await Deno.makeTempDir({ prefix: "wow-interop-" });
    addEventListener("unload", () => {
      try {
        Deno.removeSync(dir, { recursive: true });
      } catch { /* already gone */ }
    });
    const out = join(dir, "memberlist_node");
    const env: Record<string, string> = {
      GOPATH: `${dir}/gopath:${GOCODE}`,
      GO111MODULE: "off",
      GOFLAGS: "",
    };
    // The Go build cache needs a home; keep it per run when there is none.
    if (!Deno.env.get("HOME") && !Deno.env.get("GOCACHE")) env.GOCACHE = `${dir}/gocache`;
    const result = await new Deno.Command(GO!, {
      args: ["build", "-o", out, GO_SOURCE],
      env,
      cwd: dir,
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!result.success) {
      throw new Error(`go build failed:\n${new TextDecoder().decode(result.stderr)}`);
    }
    return out;
  })();
  return binary;
}

interface GoMember {
  name: string;
  addr: string;
  port: number;
  meta: string;
  state: string;
}

interface GoSnapshot {
  self: { name: string; addr: string; port: number };
  members: GoMember[];
}

/** One running Go memberlist node; `latest` is its most recent view of the cluster. */
class GoNode {
  latest: GoSnapshot | undefined;
  /** Every state each member has had in the Go node's printed views. */
  readonly history = new Map<string, Set<string>>();
  readonly #child: Deno.ChildProcess;
  readonly #readers: Promise<void>[];
  #stderr = "";
  #status: Promise<Deno.CommandStatus>;

  constructor(path: string, args: string[]) {
    this.#child = new Deno.Command(path, { args, stdout: "piped", stderr: "piped" }).spawn();
    this.#status = this.#child.status;
    this.#readers = [
      this.#readLines(this.#child.stdout, (line) => {
        this.latest = JSON.parse(line) as GoSnapshot;
        for (const m of this.latest.members) {
          this.history.set(m.name, (this.history.get(m.name) ?? new Set()).add(m.state));
        }
      }),
      this.#readLines(this.#child.stderr, (line) => {
        this.#stderr = (this.#stderr + line + "\n").slice(-4000);
      }),
    ];
  }

  static async start(options: {
    name: string;
    ip: string;
    meta: string;
    join?: string[];
    key?: Uint8Array;
    port?: number;
    suspicionMult?: number;
    protocol?: number;
  }): Promise<GoNode> {
    const args = [`-name=${options.name}`, `-bind=${options.ip}`, `-meta=${options.meta}`, "-fast"];
    if (options.port) args.push(`-port=${options.port}`);
    if (options.protocol !== undefined) args.push(`-protocol=${options.protocol}`);
    if (options.suspicionMult) args.push(`-suspicion-mult=${options.suspicionMult}`);
    if (options.join?.length) args.push(`-join=${options.join.join(",")}`);
    if (options.key) args.push(`-key=${btoa(String.fromCharCode(...options.key))}`);
    const node = new GoNode(await goNodeBinary(), args);
    await waitFor(`Go node ${options.name} to start`, () => node.latest !== undefined, node);
    return node;
  }

  async #readLines(stream: ReadableStream<Uint8Array>, onLine: (line: string) => void) {
    let buffered = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      buffered += chunk;
      let newline;
      while ((newline = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        if (line.trim()) onLine(line);
      }
    }
  }

  /** `ip:port` of the Go node's gossip listener. */
  get address(): string {
    return `${this.latest!.self.addr}:${this.latest!.self.port}`;
  }

  member(name: string): GoMember | undefined {
    return this.latest?.members.find((m) => m.name === name);
  }

  get diagnostics(): string {
    return `Go view: ${JSON.stringify(this.latest)}\nGo stderr tail:\n${this.#stderr}`;
  }

  /** Sends a signal (SIGSTOP/SIGCONT to freeze and thaw the node). */
  signal(signal: Deno.Signal): void {
    this.#child.kill(signal);
  }

  /** Kills the process with SIGKILL (a crash: no leave) and waits for it to exit. */
  async kill(): Promise<void> {
    try {
      this.#child.kill("SIGKILL");
    } catch { /* already exited */ }
    await this.#status;
    await Promise.all(this.#readers);
  }
}

async function waitFor(
  what: string,
  predicate: () => boolean,
  ...context: (GoNode | ClusterHandle)[]
): Promise<number> {
  const start = performance.now();
  while (!predicate()) {
    if (performance.now() - start > WAIT_MS) {
      const views = context.map((c) =>
        c instanceof GoNode ? c.diagnostics : `Our view (${c.localName}): ${
          JSON.stringify(
            c.members().map((m) => ({ ...m, meta: new TextDecoder().decode(m.meta) })),
          )
        }\nOur stats: ${JSON.stringify(c.stats())}`
      );
      throw new Error(`Timed out after ${WAIT_MS} ms waiting for ${what}\n${views.join("\n")}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return performance.now() - start;
}

function ourView(node: ClusterHandle, name: string): { state: string; meta: string } | undefined {
  const m = node.members().find((m) => m.name === name);
  return m && { state: m.state, meta: new TextDecoder().decode(m.meta) };
}

function startOurs(
  name: string,
  ip: string,
  options: { key?: Uint8Array; meta?: string; timings?: Partial<SwimTimings>; port?: number } = {},
): Promise<ClusterHandle> {
  return startCluster({
    nodeName: name,
    bindAddr: ip,
    advertiseAddr: ip,
    port: options.port ?? 0,
    timings: { ...OUR_TIMINGS, ...options.timings },
    gossipKey: options.key,
    meta: new TextEncoder().encode(options.meta ?? `http://${ip}:8080`),
  });
}

/**
 * Runs `body` with a cleanup list: Go processes are killed and our nodes shut down whatever
 * happens, so the sanitizers see no leaked process or socket.
 */
async function withNodes(
  body: (track: <T extends GoNode | ClusterHandle>(node: T) => T) => Promise<void>,
): Promise<void> {
  const nodes: (GoNode | ClusterHandle)[] = [];
  try {
    await body((node) => {
      nodes.push(node);
      return node;
    });
  } finally {
    await Promise.all(nodes.map((n) => n instanceof GoNode ? n.kill() : n.shutdown()));
  }
}

function interopTest(name: string, fn: () => Promise<void>) {
  Deno.test({ name: `interop: ${name}`, ignore: MISSING !== undefined, fn });
}

interopTest("Go builds against Debian's memberlist", async () => {
  // Built here once so the first real test's timings do not include the compile.
  assert.ok(exists(await goNodeBinary()));
});

interopTest("Go node joins ours (127.0.0.31/.32): both alive, metadata round-trips", async () => {
  await withNodes(async (track) => {
    const ours = track(await startOurs("ours-a", "127.0.0.31"));
    const go = track(
      await GoNode.start({
        name: "go-a",
        ip: "127.0.0.32",
        meta: "go-meta-a",
        join: [ours.address],
      }),
    );
    await waitFor(
      "both sides to list each other alive with metadata",
      () =>
        go.member("ours-a")?.state === "alive" &&
        go.member("ours-a")?.meta === "http://127.0.0.31:8080" &&
        ourView(ours, "go-a")?.state === "alive" && ourView(ours, "go-a")?.meta === "go-meta-a",
      go,
      ours,
    );
    assert.equal(go.member("ours-a")!.addr, "127.0.0.31");
    assert.equal(
      ours.members().find((m) => m.name === "go-a")!.address,
      go.address,
    );
    assert.ok(ours.synced);
  });
});

interopTest("ours joins a Go node (127.0.0.33/.34): both alive, metadata round-trips", async () => {
  await withNodes(async (track) => {
    const go = track(await GoNode.start({ name: "go-b", ip: "127.0.0.33", meta: "go-meta-b" }));
    const ours = track(await startOurs("ours-b", "127.0.0.34"));
    assert.equal(await ours.join([go.address]), 1);
    assert.equal(ourView(ours, "go-b")?.meta, "go-meta-b"); // from the push/pull reply
    await waitFor(
      "both sides to list each other alive with metadata",
      () =>
        go.member("ours-b")?.state === "alive" &&
        go.member("ours-b")?.meta === "http://127.0.0.34:8080" &&
        ourView(ours, "go-b")?.state === "alive",
      go,
      ours,
    );
    // A metadata update reaches Go (alive with a higher incarnation).
    ours.updateMeta(new TextEncoder().encode("http://127.0.0.34:9090"));
    await waitFor(
      "Go to see our new metadata",
      () => go.member("ours-b")?.meta === "http://127.0.0.34:9090",
      go,
      ours,
    );
  });
});

interopTest(
  "kill -9 of a Go node is seen dead; our shutdown is seen by Go (127.0.0.35-.37)",
  async () => {
    await withNodes(async (track) => {
      const ours = track(await startOurs("ours-c", "127.0.0.35"));
      const victim = track(
        await GoNode.start({ name: "go-c1", ip: "127.0.0.36", meta: "m1", join: [ours.address] }),
      );
      const witness = track(
        await GoNode.start({ name: "go-c2", ip: "127.0.0.37", meta: "m2", join: [ours.address] }),
      );
      const names = ["ours-c", "go-c1", "go-c2"];
      await waitFor(
        "three alive everywhere",
        () =>
          names.every((n) =>
            ourView(ours, n)?.state === "alive" && victim.member(n)?.state === "alive" &&
            witness.member(n)?.state === "alive"
          ),
        ours,
        victim,
        witness,
      );

      await victim.kill();
      const detected = await waitFor(
        "our node to see the killed Go node dead",
        () => ourView(ours, "go-c1")?.state === "dead",
        ours,
        witness,
      );
      console.log(`kill -9 of a Go node seen dead by ours in ${detected.toFixed(0)} ms`);
      await waitFor(
        "the other Go node to see it dead too",
        () => witness.member("go-c1")?.state === "dead",
        witness,
      );

      // It restarts on the same address and port and rejoins: its first alive carries an
      // incarnation the survivors already hold as dead, so it must refute that to come back.
      const port = Number(victim.address.split(":")[1]);
      const restarted = track(
        await GoNode.start({
          name: "go-c1",
          ip: "127.0.0.36",
          port,
          meta: "m1-again",
          join: [ours.address],
        }),
      );
      await waitFor(
        "the restarted Go node to be alive everywhere",
        () =>
          ourView(ours, "go-c1")?.state === "alive" &&
          ourView(ours, "go-c1")?.meta === "m1-again" &&
          witness.member("go-c1")?.state === "alive" &&
          restarted.member("ours-c")?.state === "alive",
        ours,
        restarted,
        witness,
      );

      await ours.shutdown(); // no leave message: Go must detect the failure itself
      const seen = await waitFor(
        "Go to see our node dead after shutdown",
        () => witness.member("ours-c")?.state === "dead",
        witness,
      );
      console.log(
        `our shutdown seen by Go as ${witness.member("ours-c")!.state} in ${seen.toFixed(0)} ms`,
      );
    });
  },
);

interopTest(
  "gossip key: same key interoperates, another key or none does not (127.0.0.38-.41, .54/.55)",
  async () => {
    const key = crypto.getRandomValues(new Uint8Array(32));
    const otherKey = crypto.getRandomValues(new Uint8Array(16));
    await withNodes(async (track) => {
      const ours = track(await startOurs("ours-k", "127.0.0.38", { key }));
      const go = track(
        await GoNode.start({
          name: "go-k",
          ip: "127.0.0.39",
          meta: "keyed",
          join: [ours.address],
          key,
        }),
      );
      await waitFor(
        "same-key nodes to list each other alive",
        () =>
          go.member("ours-k")?.state === "alive" && ourView(ours, "go-k")?.state === "alive" &&
          ourView(ours, "go-k")?.meta === "keyed" &&
          go.member("ours-k")?.meta === "http://127.0.0.38:8080",
        go,
        ours,
      );
      const before = ours.stats();
      const decryptErrors = (s: Record<string, number>) =>
        (s.udpDecryptErrors ?? 0) + (s.tcpDecryptErrors ?? 0);
      assert.equal(decryptErrors(before), 0);

      // A Go node with another key keeps trying to join ours; an ours with another key tries
      // to join the keyed Go node.
      const stranger = track(
        await GoNode.start({
          name: "go-stranger",
          ip: "127.0.0.40",
          meta: "x",
          join: [ours.address],
          key: otherKey,
        }),
      );
      const oursStranger = track(await startOurs("ours-stranger", "127.0.0.41", { key: otherKey }));
      assert.equal(await oursStranger.join([go.address]), 0);
      // Without any key: plaintext is refused both ways (memberlist's GossipVerifyIncoming).
      const plainGo = track(
        await GoNode.start({ name: "go-plain", ip: "127.0.0.54", meta: "p", join: [ours.address] }),
      );
      const plainOurs = track(await startOurs("ours-plain", "127.0.0.55"));
      assert.equal(await plainOurs.join([go.address]), 0);
      await waitFor(
        "our node to count decrypt failures from the wrong-key Go node",
        () => decryptErrors(ours.stats()) >= 2,
        ours,
      );
      // Bounded wait: a few Go join attempts and many probe/gossip rounds.
      const deadline = performance.now() + 1500;
      while (performance.now() < deadline) {
        assert.equal(ourView(ours, "go-stranger"), undefined);
        assert.equal(go.member("ours-stranger"), undefined);
        assert.equal(go.member("go-stranger"), undefined);
        assert.deepEqual(stranger.latest!.members.map((m) => m.name), ["go-stranger"]);
        assert.deepEqual(oursStranger.members().map((m) => m.name), ["ours-stranger"]);
        assert.equal(ourView(ours, "go-plain"), undefined);
        assert.equal(go.member("ours-plain"), undefined);
        assert.deepEqual(plainGo.latest!.members.map((m) => m.name), ["go-plain"]);
        assert.deepEqual(plainOurs.members().map((m) => m.name), ["ours-plain"]);
        await new Promise((r) => setTimeout(r, 100));
      }
      // The keyed pair is unharmed.
      assert.equal(go.member("ours-k")?.state, "alive");
      assert.equal(ourView(ours, "go-k")?.state, "alive");
    });
  },
);

interopTest(
  "mixed cluster of 1 Go + 2 ours converges; graceful leaves both ways (127.0.0.42-.44)",
  async () => {
    await withNodes(async (track) => {
      const go = track(await GoNode.start({ name: "go-e", ip: "127.0.0.42", meta: "go-meta-e" }));
      const first = track(await startOurs("ours-e1", "127.0.0.43"));
      const second = track(await startOurs("ours-e2", "127.0.0.44"));
      assert.equal(await first.join([go.address]), 1);
      assert.equal(await second.join([first.address]), 1); // learns of Go only through gossip
      const metas: Record<string, string> = {
        "go-e": "go-meta-e",
        "ours-e1": "http://127.0.0.43:8080",
        "ours-e2": "http://127.0.0.44:8080",
      };
      const converged = await waitFor(
        "all three to list all three alive with metadata",
        () =>
          Object.entries(metas).every(([name, meta]) =>
            go.member(name)?.state === "alive" && go.member(name)?.meta === meta &&
            [first, second].every((n) =>
              ourView(n, name)?.state === "alive" && ourView(n, name)?.meta === meta
            )
          ),
        go,
        first,
        second,
      );
      console.log(`1 Go + 2 ours converged ${converged.toFixed(0)} ms after the joins`);
      // A graceful leave of ours is seen as "left" (not "dead") by Go and by the other ours.
      const events: string[] = [];
      const unsubscribe = first.onEvent((e) => {
        if (e.member.name === "ours-e2") events.push(e.kind);
      });
      await second.leave(2000);
      await waitFor("Go to see the leave", () => go.member("ours-e2")?.state === "left", go);
      await waitFor("our other node to see the leave", () => events.length > 0, first);
      unsubscribe();
      assert.deepEqual(events, ["leave"]);

      // A graceful leave of the Go node (SIGTERM → Leave) is seen as "left" by ours.
      go.signal("SIGTERM");
      await waitFor(
        "our node to see Go leave",
        () => ourView(first, "go-e")?.state === "left",
        first,
      );
    });
  },
);

interopTest(
  "a frozen Go node is suspected by ours, refutes, stays alive (127.0.0.45/.46)",
  async () => {
    await withNodes(async (track) => {
      // A long suspicion on our side (8 × 100 ms) so the 400 ms freeze never reaches "dead".
      const ours = track(
        await startOurs("ours-f", "127.0.0.45", { timings: { suspicionMult: 8 } }),
      );
      const go = track(
        await GoNode.start({ name: "go-f", ip: "127.0.0.46", meta: "f", join: [ours.address] }),
      );
      await waitFor(
        "both alive",
        () => go.member("ours-f")?.state === "alive" && ourView(ours, "go-f")?.state === "alive",
        go,
        ours,
      );
      const states: string[] = [];
      const unsubscribe = ours.onEvent((e) => {
        if (e.member.name === "go-f") states.push(e.member.state);
      });
      const before = ours.members().find((m) => m.name === "go-f")!.incarnation;
      go.signal("SIGSTOP");
      try {
        await waitFor(
          "our node to suspect the frozen Go node",
          () => states.includes("suspect"),
          ours,
        );
      } finally {
        go.signal("SIGCONT");
      }
      await waitFor(
        "the Go node to refute",
        () => ourView(ours, "go-f")?.state === "alive",
        go,
        ours,
      );
      unsubscribe();
      assert.ok(!states.includes("dead"), `states seen: ${states}`);
      assert.ok(
        ours.members().find((m) => m.name === "go-f")!.incarnation > before,
      );
    });
  },
);

interopTest(
  "our stalled node is suspected by Go, refutes, stays alive (127.0.0.47/.48)",
  async () => {
    await withNodes(async (track) => {
      const ours = track(await startOurs("ours-g", "127.0.0.47"));
      // Go's suspicion lasts ≥ 6 × 200 ms, longer than our 500 ms stall.
      const go = track(
        await GoNode.start({
          name: "go-g",
          ip: "127.0.0.48",
          meta: "g",
          join: [ours.address],
          suspicionMult: 6,
        }),
      );
      await waitFor(
        "both alive",
        () => go.member("ours-g")?.state === "alive" && ourView(ours, "go-g")?.state === "alive",
        go,
        ours,
      );
      const refutations = () => ours.stats().refutations ?? 0;
      assert.equal(refutations(), 0);
      // Block our event loop: Go's probes (every 200 ms, 100 ms timeout) go unanswered.
      const until = performance.now() + 500;
      while (performance.now() < until) { /* stalled */ }
      await waitFor("our node to refute Go's suspicion", () => refutations() > 0, go, ours);
      await waitFor("Go to see us alive again", () => go.member("ours-g")?.state === "alive", go);
      assert.ok(
        go.history.get("ours-g")!.has("suspect"),
        `Go saw: ${[...go.history.get("ours-g")!]}`,
      );
      assert.ok(!go.history.get("ours-g")!.has("dead"));
      assert.equal(ourView(ours, "go-g")?.state, "alive");
    });
  },
);

interopTest(
  "2 Go + 3 ours with 512-byte metadata converge; a kill -9 is seen by all (127.0.0.49-.53)",
  async () => {
    // Full-size metadata makes every alive message ~600 bytes: gossip has to split across
    // packets and push/pull carries ~3 KB (LZW-compressed by Go).
    const bigMeta = (tag: string) => tag + "-" + "x".repeat(512 - tag.length - 1);
    await withNodes(async (track) => {
      const goA = track(
        await GoNode.start({ name: "go-h1", ip: "127.0.0.49", meta: bigMeta("go-h1") }),
      );
      const ours: ClusterHandle[] = [];
      for (let i = 0; i < 3; i++) {
        const name = `ours-h${i}`;
        ours.push(track(await startOurs(name, `127.0.0.${50 + i}`, { meta: bigMeta(name) })));
      }
      assert.equal(await ours[0].join([goA.address]), 1);
      for (const n of ours.slice(1)) assert.equal(await n.join([ours[0].address]), 1);
      const goB = track(
        await GoNode.start({
          name: "go-h2",
          ip: "127.0.0.53",
          meta: bigMeta("go-h2"),
          join: [ours[2].address],
        }),
      );
      const names = ["go-h1", "go-h2", "ours-h0", "ours-h1", "ours-h2"];
      const converged = await waitFor(
        "all five to list all five alive with full metadata",
        () =>
          names.every((name) =>
            [goA, goB].every((g) =>
              g.member(name)?.state === "alive" && g.member(name)?.meta === bigMeta(name)
            ) &&
            ours.every((n) =>
              ourView(n, name)?.state === "alive" && ourView(n, name)?.meta === bigMeta(name)
            )
          ),
        goA,
        goB,
        ...ours,
      );
      console.log(`2 Go + 3 ours converged in ${converged.toFixed(0)} ms`);
      await goA.kill();
      const detected = await waitFor(
        "every survivor to see the killed Go node dead",
        () =>
          goB.member("go-h1")?.state === "dead" &&
          ours.every((n) => ourView(n, "go-h1")?.state === "dead"),
        goB,
        ...ours,
      );
      console.log(`kill -9 of a Go node seen dead by all 4 survivors in ${detected.toFixed(0)} ms`);
      for (const n of ours) {
        const s = n.stats();
        assert.equal(
          (s.udpDecodeErrors ?? 0) + (s.tcpDecodeErrors ?? 0) + (s.messagesRejected ?? 0),
          0,
          JSON.stringify(s),
        );
      }
    });
  },
);

interopTest(
  "keyed Go nodes speaking protocol 1 (encryption v0) and 5 interoperate (127.0.0.56-.59)",
  async () => {
    // memberlist at ProtocolVersion 1 ignores the port in alive messages and assumes its own
    // bind port for everyone, so this test puts every node on one fixed port (outside the
    // ephemeral range), as a v1 cluster must be.
    const port = 17946;
    // A v1 node encrypts with memberlist's version-0 layout (PKCS#7 padded), the others v1.
    const key = crypto.getRandomValues(new Uint8Array(24));
    await withNodes(async (track) => {
      const ours = track(await startOurs("ours-v", "127.0.0.56", { port, key }));
      const v1 = track(
        await GoNode.start({
          name: "go-v1",
          ip: "127.0.0.57",
          meta: "v1",
          join: [ours.address],
          protocol: 1,
          port,
          key,
        }),
      );
      const v5 = track(
        await GoNode.start({
          name: "go-v5",
          ip: "127.0.0.58",
          meta: "v5",
          join: [ours.address],
          protocol: 5,
          port,
          key,
        }),
      );
      const later = track(await startOurs("ours-v2", "127.0.0.59", { port, key }));
      assert.equal(await later.join([v1.address]), 1);
      const names = ["ours-v", "ours-v2", "go-v1", "go-v5"];
      await waitFor(
        "all four alive everywhere",
        () =>
          names.every((n) =>
            [v1, v5].every((g) => g.member(n)?.state === "alive") &&
            [ours, later].every((o) => ourView(o, n)?.state === "alive")
          ),
        v1,
        v5,
        ours,
        later,
      );
      for (const o of [ours, later]) {
        const stats = o.stats();
        assert.equal((stats.udpDecryptErrors ?? 0) + (stats.tcpDecryptErrors ?? 0), 0);
      }
      await v5.kill();
      await waitFor(
        "the protocol-5 node to be seen dead",
        () =>
          v1.member("go-v5")?.state === "dead" &&
          [ours, later].every((o) => ourView(o, "go-v5")?.state === "dead"),
        v1,
        ours,
        later,
      );
      await v1.kill();
      await waitFor(
        "the protocol-1 node to be seen dead",
        () => [ours, later].every((o) => ourView(o, "go-v1")?.state === "dead"),
        ours,
        later,
      );
    });
  },
);

interopTest(
  "rolling upgrade: a Go original-style replica (memberlist, no metadata, /internal/channels) is routed by our /traefik-config",
  async () => {
    const { startServerProc, freePorts } = await import("./_harness.ts");
    const goIp = "127.0.0.58";
    const ourIp = "127.0.0.59";
    const [httpPort] = freePorts(1, goIp);
    const goChannel = crypto.randomUUID();
    // The Go original's HTTP side: /internal/channels in its shape, on the same HTTP port.
    const goHttp = Deno.serve(
      { hostname: goIp, port: httpPort, onListen: () => {} },
      async (request) => {
        const path = new URL(request.url).pathname;
        if (path.startsWith("/webhook/")) {
          return new Response(`go original got: ${await request.text()}`);
        }
        if (path !== "/internal/channels") return new Response("not found", { status: 404 });
        return Response.json({
          ws_channels: [goChannel],
          webhook_channels: [goChannel],
          server_url: `http://${goIp}:${httpPort}`,
        });
      },
    );
    const go = await GoNode.start({ name: "go-original", ip: goIp, meta: "" });
    const ours = await startServerProc(
      ["--join", go.address, "--node-name", "ours-new"],
      { host: ourIp, port: httpPort },
    );
    try {
      await waitFor("Go to see our replica", () => go.member("ours-new")?.state === "alive", go);
      let config: { http?: { services: Record<string, unknown> } } = {};
      const deadline = Date.now() + WAIT_MS;
      while (!config.http?.services[`service-${goChannel}`] && Date.now() < deadline) {
        const response = await fetch(`${ours.url}/traefik-config`);
        config = response.ok ? await response.json() : (await response.body?.cancel(), {});
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.deepEqual(config.http?.services[`service-${goChannel}`], {
        loadBalancer: { servers: [{ url: `http://${goIp}:${httpPort}` }] },
      });
      const members = (await (await fetch(`${ours.url}/internal/members`)).json()).members;
      const goMember = members.find((m: { name: string }) => m.name === "go-original");
      assert.equal(goMember.server_url, `http://${goIp}:${httpPort}`);
      assert.equal(goMember.state, "alive");
      // A webhook for the Go replica's channel landing on ours is relayed there.
      const relayed = await fetch(`${ours.url}/webhook/${goChannel}`, {
        method: "POST",
        body: "x",
      });
      assert.equal(await relayed.text(), "go original got: x");
    } finally {
      await ours.stop();
      await go.kill();
      await goHttp.shutdown();
    }
  },
);
