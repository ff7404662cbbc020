import assert from "node:assert/strict";
import { hex, loadGolden, prng, toHex } from "./_golden_test_util.ts";
import {
  decodeCompound,
  decodeCompress,
  decodeCrc,
  decodeMessage,
  decodeUdpPacket,
  decryptPayload,
  encodeMessage,
  encodeStreamMessage,
  encodeUdpPacket,
  lzwCompress,
  lzwDecompress,
  type Message,
  META_MAX_SIZE,
  readStreamMessage,
  stripLabelHeader,
  WireDecodeError,
} from "./mod.ts";

/** Inputs per decoder: bounded so the suite stays fast. */
const ROUNDS = 3000;
const SEED = 0x5eed;

const vectors = loadGolden();
const udpLines = vectors.filter((v) => v.meta.items[0].transport === "udp").flatMap((v) => v.lines);
const tcpLines = vectors.filter((v) => v.meta.items[0].transport === "tcp").flatMap((v) => v.lines);
const goldenKeys = [...new Set(vectors.map((v) => v.meta.key_hex).filter(Boolean))].map(hex);

/** Every hex blob in the sidecars that is a message, a decompressed body or a plaintext. */
function sidecarMessages(): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const v of vectors) {
    const text = JSON.stringify(v.meta);
    for (const m of text.matchAll(/"(hex|decompressed_hex|plaintext_hex)":"([0-9a-f]+)"/g)) {
      out.push(hex(m[2]));
    }
  }
  return out;
}
const messageSeeds = sidecarMessages();

type Mutator = (b: Uint8Array, r: () => number) => Uint8Array;

const mutators: Mutator[] = [
  (b, r) => { // flip 1–3 bits
    const c = b.slice();
    for (let i = 0, n = 1 + Math.floor(r() * 3); i < n && c.length; i++) {
      c[Math.floor(r() * c.length)] ^= 1 << Math.floor(r() * 8);
    }
    return c;
  },
  (b, r) => b.slice(0, Math.floor(r() * b.length)), // truncate
  (b, r) => { // overwrite a byte with an interesting value
    const c = b.slice();
    const vals = [
      0,
      1,
      0x7f,
      0x80,
      0xc0,
      0xc1,
      0xcc,
      0xcf,
      0xd9,
      0xda,
      0xdb,
      0xdc,
      0xde,
      0xdf,
      0xff,
    ];
    if (c.length) c[Math.floor(r() * c.length)] = vals[Math.floor(r() * vals.length)];
    return c;
  },
  (b, r) => { // insert random bytes
    const at = Math.floor(r() * (b.length + 1));
    const ins = Uint8Array.from({ length: 1 + Math.floor(r() * 8) }, () => Math.floor(r() * 256));
    return new Uint8Array([...b.subarray(0, at), ...ins, ...b.subarray(at)]);
  },
  (_b, r) => Uint8Array.from({ length: Math.floor(r() * 64) }, () => Math.floor(r() * 256)),
  (b, r) => { // duplicate a slice (stresses lengths and counts)
    const s = Math.floor(r() * b.length);
    const e = s + Math.floor(r() * (b.length - s));
    return new Uint8Array([...b.subarray(0, e), ...b.subarray(s)]);
  },
];

function* inputs(seeds: Uint8Array[], seed: number): Generator<Uint8Array> {
  const r = prng(seed);
  for (let i = 0; i < ROUNDS; i++) {
    let b = seeds[Math.floor(r() * seeds.length)];
    for (let k = 0, n = 1 + Math.floor(r() * 2); k < n; k++) {
      b = mutators[Math.floor(r() * mutators.length)](b, r);
    }
    yield b;
  }
}

function expectTyped(err: unknown, input: Uint8Array, fn: string): void {
  if (err instanceof WireDecodeError) return;
  assert.fail(`${fn} threw ${err} on ${toHex(input)}`);
}

/**
 * The fields of a decoded message that the encoder refuses, by design: the decoder accepts what
 * memberlist may send, the encoder writes only what memberlist can read back. An empty `Vsn`
 * (sent by old memberlist versions) decodes but is written only as a full 6-byte one; `Meta` is
 * not capped when read but is capped at `META_MAX_SIZE` when written.
 */
function unencodableFields(m: Message): Set<string> {
  const fields = new Set<string>();
  const node = (n: { vsn: Uint8Array; meta?: Uint8Array }) => {
    if (n.vsn.length !== 6) fields.add("vsn");
    if ((n.meta?.length ?? 0) > META_MAX_SIZE) fields.add("meta");
  };
  if (m.type === "alive") node(m);
  if (m.type === "pushPull") m.nodes.forEach(node);
  if (m.type === "compound") {
    for (const part of m.parts) for (const field of unencodableFields(part)) fields.add(field);
  }
  return fields;
}

/** Rejections seen by {@linkcode checkRoundTrip}, by field, so a test can see both paths ran. */
const rejected = new Map<string, number>();

/**
 * A decoded message must re-encode and decode to itself; the only message the encoder may
 * refuse is one with a field it refuses by design, and then with a RangeError naming that field.
 */
function checkRoundTrip(m: Message): void {
  const expected = unencodableFields(m);
  let again: Uint8Array;
  try {
    again = encodeMessage(m);
  } catch (err) {
    const field = /^Cannot encode field "(\w+)"/.exec((err as Error).message)?.[1];
    if (!(err instanceof RangeError) || field === undefined || !expected.has(field)) {
      assert.fail(
        `encodeMessage threw ${err} on a decoded ${m.type} (refusable: ${[...expected]})`,
      );
    }
    rejected.set(field, (rejected.get(field) ?? 0) + 1);
    return;
  }
  assert.equal(expected.size, 0, `encodeMessage accepted a ${m.type} with bad ${[...expected]}`);
  assert.deepEqual(decodeMessage(again), m);
}

Deno.test("decodeMessage fuzz: mutated msgpack bodies, compounds and compress give typed errors or valid messages", () => {
  let ok = 0;
  for (const input of inputs(messageSeeds, SEED)) {
    let m: Message;
    try {
      m = decodeMessage(input);
    } catch (err) {
      expectTyped(err, input, "decodeMessage");
      continue;
    }
    // Outside the try: a re-encoding that fails to decode is a failure, not a typed error.
    assert.equal(typeof m.type, "string");
    checkRoundTrip(m);
    ok++;
  }
  assert.ok(ok > 0);
  assert.ok((rejected.get("vsn") ?? 0) > 0, "some mutated message had an empty Vsn");
});

Deno.test("decodeCompound, decodeCrc, decodeCompress and stripLabelHeader fuzz: typed errors only", () => {
  const compounds = messageSeeds.filter((b) => b[0] === 7);
  const crcs = udpLines.filter((b) => b[0] === 12);
  const compressed = [...messageSeeds, ...tcpLines].filter((b) => b[0] === 9);
  const labelled = udpLines.filter((b) => b[0] === 0xf4);
  const cases: [string, Uint8Array[], (b: Uint8Array) => unknown][] = [
    ["decodeCompound", compounds, decodeCompound],
    ["decodeCrc", crcs, decodeCrc],
    ["decodeCompress", compressed, (b) => decodeCompress(b, { maxBytes: 1 << 20 })],
    ["stripLabelHeader", labelled, stripLabelHeader],
  ];
  for (const [i, [name, seeds, fn]] of cases.entries()) {
    assert.ok(seeds.length > 0, name);
    for (const input of inputs(seeds, SEED + 1 + i)) {
      try {
        fn(input);
      } catch (err) {
        expectTyped(err, input, name);
      }
    }
  }
});

Deno.test("lzwDecompress fuzz: mutated Go LZW streams give typed errors or bounded output", () => {
  const r = prng(SEED + 9);
  const seeds = [
    ...messageSeeds.map((m) => lzwCompress(m)),
    lzwCompress(Uint8Array.from({ length: 9000 }, () => Math.floor(r() * 4))),
  ];
  for (const input of inputs(seeds, SEED + 10)) {
    try {
      assert.ok(lzwDecompress(input, { maxBytes: 1 << 16 }).length <= 1 << 16);
    } catch (err) {
      expectTyped(err, input, "lzwDecompress");
    }
  }
});

Deno.test("decodeUdpPacket fuzz: mutated packets (plain, CRC, compressed, labelled, encrypted) never crash", async () => {
  const key = new Uint8Array(16).fill(3);
  const extra = [
    await encodeUdpPacket(messageSeeds.filter((b) => b[0] === 4).slice(0, 4), {
      compress: true,
      crc: true,
    }),
    await encodeUdpPacket([messageSeeds[0]], { keys: [key], label: "lab1", crc: true }),
  ];
  const seeds = [...udpLines, ...extra];
  let ok = 0;
  for (const [i, input] of [...inputs(seeds, SEED + 20)].entries()) {
    const options = i % 3 === 0
      ? { keys: [key, ...goldenKeys], label: i % 2 ? "lab1" : "" }
      : { label: i % 2 ? "lab1" : "", onWarning: () => {} };
    let msgs: Message[];
    try {
      msgs = await decodeUdpPacket(input, options);
    } catch (err) {
      expectTyped(err, input, "decodeUdpPacket");
      continue;
    }
    for (const m of msgs) checkRoundTrip(m);
    ok++;
  }
  assert.ok(ok > 0);
});

Deno.test("decryptPayload fuzz: mutated ciphertexts, versions and lengths give typed errors", async () => {
  const seeds = vectors.filter((v) => v.meta.key_hex && v.meta.items[0].transport === "udp")
    .flatMap((v) => v.lines);
  for (const input of inputs(seeds, SEED + 30)) {
    try {
      await decryptPayload(input, goldenKeys);
    } catch (err) {
      expectTyped(err, input, "decryptPayload");
    }
  }
});

Deno.test("readStreamMessage fuzz: mutated TCP streams, whole and chunked, never crash", async () => {
  const key = new Uint8Array(32).fill(5);
  const seeds = [
    ...tcpLines,
    await encodeStreamMessage({ type: "user", payload: new Uint8Array(40) }, { compress: false }),
    await encodeStreamMessage(
      {
        type: "ping",
        seqNo: 1,
        node: "a",
        sourceAddr: new Uint8Array(4),
        sourcePort: 1,
        sourceNode: "b",
      },
      { keys: [key], label: "lab1" },
    ),
  ];
  const r = prng(SEED + 41);
  for (const [i, input] of [...inputs(seeds, SEED + 40)].entries()) {
    const options = {
      keys: i % 4 === 0 ? [key, ...goldenKeys] : undefined,
      label: i % 5 === 0 ? "lab1" : "",
      reply: i % 2 === 0,
      maxBytes: 1 << 20,
    };
    let source: Uint8Array | ReadableStream<Uint8Array> = input;
    if (i % 3 === 0) {
      let at = 0;
      source = new ReadableStream<Uint8Array>({
        pull(c) {
          if (at >= input.length) return c.close();
          const n = 1 + Math.floor(r() * 16);
          c.enqueue(input.slice(at, at + n));
          at += n;
        },
      });
    }
    try {
      const { message } = await readStreamMessage(source, options);
      assert.equal(typeof message.type, "string");
    } catch (err) {
      expectTyped(err, input, "readStreamMessage");
    }
  }
});
