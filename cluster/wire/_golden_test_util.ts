/**
 * Test helpers: loading the golden memberlist captures from `testdata/golden/` and
 * comparing decoded messages with their JSON sidecars.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { Message, PushNodeState } from "./types.ts";

/** Directory of the golden vectors (shared/ sits beside the repository clone). */
export const GOLDEN_DIR = new URL("./testdata/golden/", import.meta.url);

/** One field as the sidecar describes it. */
export interface GoldenField {
  key: string;
  value: unknown;
  value_hex: string;
}

/** A sidecar message or layer node (loosely typed: the JSON is varied). */
// deno-lint-ignore no-explicit-any
export type GoldenNode = any;

/** A loaded vector: its lines (bytes) and its sidecar. */
export interface GoldenVector {
  name: string;
  lines: Uint8Array[];
  meta: GoldenNode;
}

/** Hex to bytes. */
export function hex(s: string): Uint8Array {
  if (s.length % 2 !== 0) throw new RangeError(`Odd hex length ${s.length}`);
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Bytes to hex. */
export function toHex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/** Loads every vector, sorted by name. */
export function loadGolden(): GoldenVector[] {
  const names = [...Deno.readDirSync(GOLDEN_DIR)].map((e) => e.name)
    .filter((n) => n.endsWith(".hex")).sort();
  return names.map((file) => {
    const name = file.slice(0, -".hex".length);
    const lines = Deno.readTextFileSync(new URL(file, GOLDEN_DIR)).trim().split("\n").map(hex);
    const meta = JSON.parse(Deno.readTextFileSync(new URL(`${name}.json`, GOLDEN_DIR)));
    return { name, lines, meta };
  });
}

/** Loads one vector by its number prefix, e.g. "04". */
export function golden(prefix: string): GoldenVector {
  const v = loadGolden().find((g) => g.name.startsWith(`${prefix}-`));
  if (!v) throw new Error(`No golden vector "${prefix}"`);
  return v;
}

const TYPE_NAMES: Record<string, Message["type"]> = {
  ping: "ping",
  indirectPing: "indirectPing",
  ackResp: "ack",
  nackResp: "nack",
  suspect: "suspect",
  alive: "alive",
  dead: "dead",
  user: "user",
  err: "err",
};

const STATES = ["alive", "suspect", "dead", "left"];

function camel(key: string): string {
  return key[0].toLowerCase() + key.slice(1);
}

/** Asserts that one decoded value equals the sidecar's description of it. */
function assertValue(actual: unknown, field: GoldenField, where: string): void {
  const v = field.value as GoldenNode;
  const label = `${where}.${field.key}`;
  if (v === null) {
    assert.ok(actual instanceof Uint8Array, label);
    assert.equal((actual as Uint8Array).length, 0, label);
  } else if (typeof v === "object" && "bytes_hex" in v) {
    assert.ok(actual instanceof Uint8Array, label);
    assert.equal(toHex(actual as Uint8Array), v.bytes_hex, label);
    if (v.uint8s) assert.deepEqual([...(actual as Uint8Array)], v.uint8s, label);
  } else {
    assert.deepEqual(actual, v, label);
  }
}

/** Asserts the fields of a decoded message (or node state) against the sidecar fields. */
export function assertFields(
  actual: Message | PushNodeState,
  fields: GoldenField[],
  where: string,
): void {
  const rec = actual as unknown as Record<string, unknown>;
  for (const f of fields) {
    const key = camel(f.key);
    if (f.key === "State") {
      assert.equal(rec.state, STATES[f.value as number], `${where}.State`);
      continue;
    }
    assert.ok(key in rec, `${where}: decoded message has no field "${key}"`);
    assertValue(rec[key], f, where);
  }
}

/** Flattens a UDP sidecar message through CRC, compress and compound into its leaf messages. */
export function flattenUdp(node: GoldenNode): GoldenNode[] {
  switch (node.type) {
    case 12:
    case 9:
      return flattenUdp(node.inner);
    case 7:
      return node.parts.flatMap(flattenUdp);
    default:
      return [node];
  }
}

/** Asserts a decoded leaf message against a sidecar leaf. */
export function assertLeaf(actual: Message, expected: GoldenNode, where: string): void {
  assert.equal(actual.type, TYPE_NAMES[expected.name], `${where}: type`);
  if (actual.type === "user") {
    assert.equal(toHex(actual.payload), expected.payload_hex, `${where}: payload`);
    return;
  }
  assertFields(actual, expected.fields, where);
}

/** Asserts a decoded stream message against a TCP sidecar item's `objects`. */
export function assertStreamObjects(actual: Message, item: GoldenNode, where: string): void {
  assert.equal(actual.type, TYPE_NAMES[item.name] ?? item.name, `${where}: type`);
  const objects: GoldenNode[] = item.objects;
  if (actual.type === "pushPull") {
    const [header, ...rest] = objects;
    const byKey = Object.fromEntries(header.fields.map((f: GoldenField) => [f.key, f.value]));
    assert.equal(actual.join, byKey.Join, `${where}.Join`);
    assert.equal(actual.nodes.length, byKey.Nodes, `${where}.Nodes`);
    assert.equal(actual.userState.length, byKey.UserStateLen, `${where}.UserStateLen`);
    const states = rest.filter((o) => o.object === "pushNodeState");
    assert.equal(states.length, actual.nodes.length, `${where}: node count`);
    states.forEach((s, i) => assertFields(actual.nodes[i], s.fields, `${where}.nodes[${i}]`));
    const user = rest.find((o) => o.object === "userState");
    assert.equal(toHex(actual.userState), user?.bytes_hex ?? "", `${where}: user state`);
  } else if (actual.type === "user") {
    const [header, body] = objects;
    assert.equal(actual.payload.length, header.fields[0].value, `${where}.UserMsgLen`);
    assert.equal(toHex(actual.payload), body.bytes_hex, `${where}: user bytes`);
  } else {
    assertFields(actual, objects[0].fields, where);
  }
}

/** Deterministic PRNG (mulberry32) for fuzzing. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
