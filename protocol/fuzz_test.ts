/**
 * Fuzzes the decoders with a seeded PRNG: random, truncated and bit-flipped messages may only ever
 * raise {@linkcode ProtocolError} (or, from a session, {@linkcode StreamResetError}), never
 * anything else, and never hang.
 *
 * @module
 */
import assert from "node:assert/strict";
import { decodeFrames, encodeFrames, type Frame, FrameType } from "./frame.ts";
import { ProtocolError, RESET_CODES, StreamResetError } from "./errors.ts";
import {
  decodeRequestHead,
  decodeReset,
  decodeResponseHead,
  encodeRequestHead,
  encodeReset,
  encodeResponseHead,
} from "./head.ts";
import { TunnelSession, type TunnelStream } from "./session.ts";
import { MAX_CHUNK_SIZE, STREAM_WINDOW } from "./limits.ts";

const SEED = 0x5eed_2024;
const ITERATIONS = 20_000;
/** Generous bound: the whole run takes well under a second on a laptop. */
const TIME_LIMIT_MS = 20_000;

/** mulberry32: a tiny seeded PRNG returning floats in [0, 1). */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Fuzzer {
  #random: () => number;
  constructor(seed: number) {
    this.#random = mulberry32(seed);
  }
  int(max: number): number {
    return Math.floor(this.#random() * max);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }
  #pool: Uint8Array | undefined;
  bytes(length: number): Uint8Array {
    if (length <= 64) return Uint8Array.from({ length }, () => this.int(256));
    // Large payloads: a random window of a pool filled once, which keeps 20k iterations fast.
    this.#pool ??= Uint8Array.from({ length: 2 * MAX_CHUNK_SIZE }, () => this.int(256));
    const start = this.int(this.#pool.length - length + 1);
    return this.#pool.subarray(start, start + length);
  }
  /** A valid-looking frame of any type, sometimes on an unexpected stream. */
  frame(): Frame {
    const streamId = this.pick([1, 1, 1, 3, 3, 5, 2, 0xffffffff, 1 + 2 * this.int(50)]);
    const grant = new Uint8Array(4);
    new DataView(grant.buffer).setUint32(0, this.pick([0, 1, 65536, STREAM_WINDOW, 2 ** 31]));
    switch (this.int(6)) {
      case 0:
        return {
          type: FrameType.Head,
          streamId,
          payload: this.int(2)
            ? encodeRequestHead({
              method: this.pick(["GET", "POST", "X"]),
              target: this.pick(["", "/", "/a?b=c", "?q"]),
              headers: [["x-a", "1"], ["set-cookie", "a\xe9"]],
            })
            : encodeResponseHead({ status: this.pick([200, 404, 599]), headers: [] }),
        };
      case 1:
        return {
          type: FrameType.Data,
          streamId,
          payload: this.bytes(this.pick([0, 1, 100, 1000, MAX_CHUNK_SIZE])),
        };
      case 2:
        return { type: FrameType.End, streamId, payload: new Uint8Array() };
      case 3:
        return {
          type: FrameType.Reset,
          streamId,
          payload: encodeReset({ code: this.pick(RESET_CODES), message: "fuzz" }),
        };
      case 4:
        return { type: FrameType.Window, streamId, payload: grant };
      default:
        // Any type with a short random payload: wrong sizes for WINDOW, END, HEAD…
        return {
          type: this.pick([1, 2, 3, 4, 5] as const),
          streamId,
          payload: this.bytes(this.int(8)),
        };
    }
  }
  /** A valid message of one to four frames. */
  validMessage(): Uint8Array {
    return encodeFrames(Array.from({ length: 1 + this.int(4) }, () => this.frame()));
  }
  /** A random, truncated, bit-flipped, spliced or valid message. */
  message(): Uint8Array {
    const valid = this.validMessage();
    switch (this.int(6)) {
      case 0:
        return this.bytes(this.int(64));
      case 1:
        return valid.subarray(0, this.int(valid.length + 1));
      case 2: {
        const copy = valid.slice();
        for (let i = 1 + this.int(4); i > 0; i--) copy[this.int(copy.length)] ^= 1 << this.int(8);
        return copy;
      }
      case 3: {
        // Overwrite one header byte (type, flags, id or length) with a random value.
        const copy = valid.slice();
        copy[this.int(Math.min(10, copy.length))] = this.int(256);
        return copy;
      }
      case 4: {
        const tail = this.bytes(this.int(16));
        const out = new Uint8Array(valid.length + tail.length);
        out.set(valid);
        out.set(tail, valid.length);
        return out;
      }
      default:
        return valid;
    }
  }
}

function assertOnlyProtocolError(fn: () => unknown, input: Uint8Array): void {
  try {
    fn();
  } catch (error) {
    if (error instanceof ProtocolError) return;
    assert.fail(`Unexpected ${error} for input [${[...input.subarray(0, 40)]}]`);
  }
}

Deno.test("decodeFrames throws only ProtocolError on fuzzed messages", () => {
  const fuzz = new Fuzzer(SEED);
  const started = performance.now();
  let decoded = 0;
  for (let i = 0; i < ITERATIONS; i++) {
    const input = fuzz.message();
    assertOnlyProtocolError(() => {
      for (const frame of decodeFrames(input)) {
        decoded++;
        assert.ok(frame.streamId > 0);
        assert.ok(frame.payload.length <= input.length);
      }
    }, input);
  }
  assert.ok(decoded > ITERATIONS / 2, "the fuzzer should produce many decodable frames too");
  assert.ok(performance.now() - started < TIME_LIMIT_MS);
});

Deno.test("head and reset decoders throw only ProtocolError on fuzzed payloads", () => {
  const fuzz = new Fuzzer(SEED + 1);
  const seeds = [
    encodeRequestHead({ method: "POST", target: "/a?b", headers: [["a", "b"], ["a", "c"]] }),
    encodeResponseHead({ status: 200, headers: [["set-cookie", "x"]] }),
    encodeReset({ code: "cancelled", message: "gone" }),
  ];
  const started = performance.now();
  for (let i = 0; i < ITERATIONS; i++) {
    const seed = fuzz.pick(seeds).slice();
    const input = fuzz.int(4) === 0
      ? fuzz.bytes(fuzz.int(40))
      : fuzz.int(2)
      ? seed.subarray(0, fuzz.int(seed.length + 1))
      : (seed[fuzz.int(seed.length)] = fuzz.int(256), seed);
    assertOnlyProtocolError(() => decodeRequestHead(input), input);
    assertOnlyProtocolError(() => decodeResponseHead(input), input);
    assertOnlyProtocolError(() => decodeReset(input), input);
  }
  assert.ok(performance.now() - started < TIME_LIMIT_MS);
});

Deno.test("TunnelSession.receive throws only ProtocolError on fuzzed messages", async () => {
  const fuzz = new Fuzzer(SEED + 2);
  const transport = { bufferedAmount: 0, send: () => {} };
  // Each promise is settled into an outcome at once, so no rejection goes unhandled meanwhile.
  const outcomes: { done: boolean; error?: unknown }[] = [];
  const track = (promise: Promise<unknown>) => {
    const outcome: { done: boolean; error?: unknown } = { done: false };
    outcomes.push(outcome);
    promise.then(
      () => outcome.done = true,
      (error) => Object.assign(outcome, { done: true, error }),
    );
  };
  const onStream = (stream: TunnelStream) => {
    // Read heads and bodies like a real client would, so grants and cancels happen too.
    track(stream.head.then(decodeRequestHead));
    track(
      stream.body.pipeTo(
        new WritableStream({
          write: () => {
            if (fuzz.int(50) === 0) throw new Error("stop reading");
          },
        }),
      ),
    );
  };
  let session = new TunnelSession(transport, { role: "client", onStream });
  let protocolErrors = 0;
  const started = performance.now();
  for (let i = 0; i < ITERATIONS; i++) {
    const input = fuzz.message();
    try {
      session.receive(input);
    } catch (error) {
      if (!(error instanceof ProtocolError || error instanceof StreamResetError)) {
        assert.fail(`Unexpected ${error} for input [${[...input.subarray(0, 40)]}]`);
      }
      protocolErrors++;
      // What the server does: drop the socket, end the session, start afresh.
      session.close();
      session = new TunnelSession(transport, { role: "client", onStream });
    }
    if (i % 500 === 0) await new Promise((resolve) => setTimeout(resolve, 0));
  }
  session.close();
  assert.ok(performance.now() - started < TIME_LIMIT_MS);
  assert.ok(protocolErrors > 0 && protocolErrors < ITERATIONS);

  // Whatever the streams did, they ended with a typed error or normally, never hung.
  for (let i = 0; i < 10; i++) await new Promise((resolve) => setTimeout(resolve, 0));
  const hung = outcomes.filter((outcome) => !outcome.done).length;
  assert.equal(hung, 0, `${hung} of ${outcomes.length} heads or bodies never settled`);
  for (const { error: reason } of outcomes) {
    if (reason === undefined) continue;
    const typed = reason instanceof ProtocolError || reason instanceof StreamResetError ||
      (reason instanceof Error && reason.message === "stop reading");
    assert.ok(typed, `Unexpected ${reason}`);
  }
});
