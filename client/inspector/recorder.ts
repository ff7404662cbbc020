/**
 * The inspector's bounded in-memory history of deliveries: each request as the local app got it
 * (method, path+query, ordered header pairs, body bytes) and the app's answer (status, header
 * pairs, body bytes), timings and outcome.
 *
 * Recording runs alongside the delivery: the forwarding path hands each chunk to a
 * {@linkcode Recording} as it passes, which copies it (never holding the tunnel's buffers) and
 * never waits. Two bounds keep memory fixed: at most `history` records, and at most `maxBytes` of
 * body bytes over all records. The oldest records go first; a record whose own bodies exceed
 * `maxBytes` keeps the first bytes and is marked truncated, while the delivery itself goes on
 * whole.
 *
 * @module
 */
import { CLIENT_DEFAULTS } from "../options.ts";
import { detectProvider, headersFromPairs, type ProviderName } from "../../protocol/providers.ts";
import type { Verdict } from "../verify/mod.ts";

/** Defaults of {@linkcode RecorderOptions} (the values live in `CLIENT_DEFAULTS`). */
export const RECORDER_DEFAULTS = {
  history: CLIENT_DEFAULTS.inspectHistory,
  maxBytes: CLIENT_DEFAULTS.inspectMaxBytes,
} as const;

/** Size of the shared buffers small chunks are copied into. */
const SLAB_BYTES = 64 * 1024;
/** Chunks above this get their own copy (a slab holds at least eight). */
const SLAB_CHUNK_BYTES = SLAB_BYTES / 8;

/** Options for {@linkcode Recorder}. */
export interface RecorderOptions {
  /** Most deliveries kept; the oldest go first. @default 500 */
  history?: number;
  /** Most body bytes kept over all deliveries (request + response). @default 67108864 */
  maxBytes?: number;
  /** The clock, ms since the epoch (tests). @default Date.now */
  now?: () => number;
}

/** Header pairs in order, repeats kept. */
export type HeaderPairs = [string, string][];

/**
 * How a delivery ended: `pending` while in flight, `ok` when the app answered and its answer was
 * sent back whole, otherwise the tunnel's reset code (`target_unreachable`, `target_timeout`,
 * `target_error`, `cancelled`, `reset`, …).
 */
export type Outcome = string;

/** One delivery as the list API shows it. */
export interface DeliverySummary {
  /** Sortable, unique id. */
  id: string;
  /** When the request head arrived, ISO 8601. */
  received_at: string;
  /** The request method. */
  method: string;
  /** Path and query as the local app got them. */
  path: string;
  /** The app's status; null when it did not answer. */
  status: number | null;
  /** `pending`, `ok` or the reset code. */
  outcome: Outcome;
  /** Time to the whole answer, ms; null while pending. */
  duration_ms: number | null;
  /** Recognised provider, `""` when unknown. */
  provider: ProviderName;
  /** The provider's event name, `""` when unknown. */
  event: string;
  /** The id of the delivery this one replays, or null. */
  replay_of: string | null;
  /**
   * Set for a delivery from the server's queue (the client was away or the app unreachable when
   * it arrived): its stable id and which hand-out this was; null for a live one.
   */
  queued: { delivery_id: string; attempt: number } | null;
  /** Request body bytes sent to the app (whole, even when the record is truncated). */
  request_bytes: number;
  /** Response body bytes the app sent (whole, even when the record is truncated). */
  response_bytes: number;
  /**
   * The signature check's verdict (`{result, provider, code, reason}`); null when no verifier is
   * configured (or the check has not finished yet).
   */
  verification: Verdict | null;
}

/** One delivery whole, as `GET /api/deliveries/{id}` shows it. */
export interface DeliveryDetail extends DeliverySummary {
  /** Request header pairs. */
  request_headers: HeaderPairs;
  /** The recorded request body, base64. */
  request_body_b64: string;
  /** The request body kept is shorter than the body sent. */
  request_truncated: boolean;
  /** Response header pairs (empty when the app did not answer). */
  response_headers: HeaderPairs;
  /** The recorded response body, base64. */
  response_body_b64: string;
  /** The response body kept is shorter than the body sent. */
  response_truncated: boolean;
  /** Time to the response head, ms; null when none came. */
  ttfb_ms: number | null;
  /** Why it failed, when it did. */
  error: string;
}

/** A request as the local app got it, to start a recording. */
export interface RecordedRequest {
  /** The method. */
  method: string;
  /** Path and query. */
  path: string;
  /** Header pairs as sent to the app. */
  headers: readonly (readonly [string, string])[];
  /** The id this delivery replays. */
  replayOf?: string;
  /** The server's queue delivery id and attempt, for a queued delivery. */
  queued?: { id: string; attempt: number };
}

/** A growing body: chunks kept up to a bound, the full length counted. */
class BodyBuffer {
  chunks: Uint8Array[] = [];
  kept = 0;
  total = 0;
  truncated = false;

  bytes(): Uint8Array<ArrayBuffer> {
    if (this.chunks.length === 1 && this.chunks[0].length === this.kept) {
      return this.chunks[0] as Uint8Array<ArrayBuffer>;
    }
    const out = new Uint8Array(this.kept);
    let offset = 0;
    for (const chunk of this.chunks) {
      out.set(chunk, offset);
      offset += chunk.length;
    }
    if (this.chunks.length > 1) this.chunks = [out];
    return out;
  }
}

/** @internal What a delivery tells its recorder. */
interface DeliverySink {
  _store(delivery: Delivery, body: BodyBuffer, chunk: Uint8Array, owned: boolean): void;
  _finished(delivery: Delivery): void;
}

/**
 * A stored delivery, and the {@linkcode Recording} handle that feeds it (one object per
 * delivery: recording allocates as little as it can, since every object kept must be copied by
 * the garbage collector when it survives).
 */
export class Delivery implements Recording {
  /** Sortable unique id. */
  readonly id: string;
  /** ms since the epoch when it started. */
  readonly receivedAt: number;
  /** What was sent to the app (kept as given). */
  readonly request: RecordedRequest;
  readonly #started = performance.now();
  /** @internal */
  readonly requestBody = new BodyBuffer();
  /** @internal */
  readonly responseBody = new BodyBuffer();
  /** The app's status, once answered. */
  status: number | null = null;
  /** The app's header pairs, once answered (kept as given, not copied). */
  responseHeaders: readonly (readonly [string, string])[] = [];
  /** See {@linkcode Outcome}. */
  outcome: Outcome = "pending";
  /** Failure detail. */
  error = "";
  ttfb: number | null = null;
  duration: number | null = null;
  /** The signature check's verdict, once known; null without a verifier. */
  verification: Verdict | null = null;
  #provider?: { provider: ProviderName; event: string };
  #sink: DeliverySink;
  #open = true;

  /** @internal */
  constructor(id: string, receivedAt: number, request: RecordedRequest, sink: DeliverySink) {
    this.id = id;
    this.receivedAt = receivedAt;
    this.request = request;
    this.#sink = sink;
  }

  /** This record (the {@linkcode Recording} view of it). */
  get delivery(): Delivery {
    return this;
  }

  /** @inheritdoc */
  requestChunk(chunk: Uint8Array, owned = false): void {
    if (this.#open) this.#sink._store(this, this.requestBody, chunk, owned);
  }

  /** @inheritdoc */
  responseHead(status: number, headers: readonly (readonly [string, string])[]): void {
    if (!this.#open) return;
    this.status = status;
    this.responseHeaders = headers;
    this.ttfb = this.elapsed();
  }

  /** @inheritdoc */
  responseChunk(chunk: Uint8Array, owned = false): void {
    if (this.#open) this.#sink._store(this, this.responseBody, chunk, owned);
  }

  /** @inheritdoc */
  verified(verdict: Verdict): void {
    if (this.#open) this.verification = verdict;
  }

  /** @inheritdoc */
  finish(outcome: Outcome, error = ""): void {
    if (!this.#open) return;
    this.#open = false;
    this.outcome = outcome;
    this.error = error;
    // One array per body from here: a body in many chunks lets go of the slabs they share.
    if (this.requestBody.chunks.length > 1) this.requestBody.bytes();
    if (this.responseBody.chunks.length > 1) this.responseBody.bytes();
    this.duration = this.elapsed();
    this.#sink._finished(this);
  }

  /** @internal ms since the start. */
  elapsed(): number {
    return Math.round((performance.now() - this.#started) * 100) / 100;
  }

  /** Provider and event (from the headers, and the body once complete). */
  get provider(): { provider: ProviderName; event: string } {
    if (this.#provider) return this.#provider;
    const info = detectProvider(
      headersFromPairs(this.request.headers),
      this.requestBody.truncated ? undefined : this.requestBody.bytes(),
    );
    if (this.outcome !== "pending") this.#provider = info;
    return info;
  }

  /** The request body kept. */
  requestBytes(): Uint8Array<ArrayBuffer> {
    return this.requestBody.bytes();
  }

  /** The response body kept. */
  responseBytes(): Uint8Array<ArrayBuffer> {
    return this.responseBody.bytes();
  }

  /** The list API's view. */
  summary(): DeliverySummary {
    const { provider, event } = this.provider;
    return {
      id: this.id,
      received_at: new Date(this.receivedAt).toISOString(),
      method: this.request.method,
      path: this.request.path,
      status: this.status,
      outcome: this.outcome,
      duration_ms: this.duration,
      provider,
      event,
      replay_of: this.request.replayOf ?? null,
      queued: this.request.queued
        ? { delivery_id: this.request.queued.id, attempt: this.request.queued.attempt }
        : null,
      request_bytes: this.requestBody.total,
      response_bytes: this.responseBody.total,
      verification: this.verification,
    };
  }

  /** The whole record. */
  detail(): DeliveryDetail {
    return {
      ...this.summary(),
      request_headers: this.request.headers.map(([name, value]) => [name, value]),
      request_body_b64: toBase64(this.requestBytes()),
      request_truncated: this.requestBody.truncated,
      response_headers: this.responseHeaders.map(([name, value]) => [name, value]),
      response_body_b64: toBase64(this.responseBytes()),
      response_truncated: this.responseBody.truncated,
      ttfb_ms: this.ttfb,
      error: this.error,
    };
  }
}

/**
 * The handle the forwarding path feeds while one delivery is under way. Every method returns at
 * once; after {@linkcode Recording.finish} further calls are ignored.
 */
export interface Recording {
  /** The record's id. */
  readonly id: string;
  /** The record itself (still readable after the history dropped it). */
  readonly delivery: Delivery;
  /**
   * A request body chunk as it goes to the app: copied, unless `owned` says the caller hands it
   * over (a fresh array nobody changes later).
   */
  requestChunk(chunk: Uint8Array, owned?: boolean): void;
  /** The app's status and headers arrived. */
  responseHead(status: number, headers: readonly (readonly [string, string])[]): void;
  /** A response body chunk as it goes back: copied unless `owned`, as for requests. */
  responseChunk(chunk: Uint8Array, owned?: boolean): void;
  /** The signature check's verdict (call before {@linkcode Recording.finish}). */
  verified(verdict: Verdict): void;
  /**
   * The delivery ended.
   * @param outcome `ok` or the reset code.
   * @param error Detail of a failure.
   */
  finish(outcome: Outcome, error?: string): void;
}

/**
 * Called for every new record and every finished one (even when the history no longer holds it),
 * and with `undefined` when the history is cleared.
 */
export type RecorderListener = (delivery: Delivery | undefined) => void;

/**
 * The bounded history. One per client.
 *
 * @example
 * ```ts
 * import { Recorder } from "./recorder.ts";
 * const recorder = new Recorder({ history: 10 });
 * const rec = recorder.begin({ method: "POST", path: "/hook", headers: [["x-github-event", "push"]] });
 * rec.requestChunk(new TextEncoder().encode("{}"));
 * rec.responseHead(200, []);
 * rec.finish("ok");
 * recorder.list()[0].summary().event; // "push"
 * ```
 */
export class Recorder {
  /** Most records kept. */
  readonly history: number;
  /** Most body bytes kept. */
  readonly maxBytes: number;
  #now: () => number;
  /** Oldest first. */
  #records: Delivery[] = [];
  #byId = new Map<string, Delivery>();
  #bytes = 0;
  #lastMs = 0;
  #seq = 0;
  #listeners = new Set<RecorderListener>();
  #slab = new Uint8Array(0);
  #slabUsed = 0;

  /** @param options Bounds. */
  constructor(options: RecorderOptions = {}) {
    this.history = options.history ?? RECORDER_DEFAULTS.history;
    this.maxBytes = options.maxBytes ?? RECORDER_DEFAULTS.maxBytes;
    if (!Number.isInteger(this.history) || this.history < 1) {
      throw new RangeError(`Cannot keep a history of "${this.history}" deliveries: need ≥ 1`);
    }
    if (!Number.isInteger(this.maxBytes) || this.maxBytes < 0) {
      throw new RangeError(`Cannot keep "${this.maxBytes}" body bytes: need a whole number ≥ 0`);
    }
    this.#now = options.now ?? Date.now;
  }

  /** Body bytes held now. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Number of records held. */
  get size(): number {
    return this.#records.length;
  }

  /**
   * Subscribes to new and updated records.
   * @param listener Called synchronously; must not throw.
   * @returns Unsubscribes.
   */
  subscribe(listener: RecorderListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Starts recording one delivery (evicting the oldest when the history is full).
   * @param request What goes to the app.
   * @returns The handle to feed.
   */
  begin(request: RecordedRequest): Recording {
    // The request is kept as given (callers hand over fresh objects): no copies.
    const delivery = new Delivery(this.#nextId(), this.#now(), request, this.#sink);
    this.#records.push(delivery);
    this.#byId.set(delivery.id, delivery);
    while (this.#records.length > this.history) this.#evict(this.#records[0]);
    this.#emit(delivery);
    return delivery;
  }

  #sink: DeliverySink = {
    _store: (delivery, body, chunk, owned) => {
      body.total += chunk.length;
      if (body.truncated || this.#byId.get(delivery.id) !== delivery) return;
      const own = delivery.requestBody.kept + delivery.responseBody.kept;
      const take = Math.min(this.maxBytes - own, chunk.length);
      if (take < chunk.length) body.truncated = true;
      if (take <= 0) return;
      // A chunk handed over whole, owning its buffer, is kept as is: no copy at all.
      const keep = owned && take === chunk.length && chunk.byteOffset === 0 &&
        chunk.byteLength === chunk.buffer.byteLength;
      body.chunks.push(keep ? chunk : this.#copy(chunk, take));
      body.kept += take;
      this.#bytes += take;
      // The oldest others go first; this one fits on its own (own ≤ maxBytes).
      for (let i = 0; this.#bytes > this.maxBytes && i < this.#records.length;) {
        if (this.#records[i] === delivery) i++;
        else this.#evict(this.#records[i]);
      }
    },
    // Also when no longer stored: `--json` prints every delivery that finished.
    _finished: (delivery) => this.#emit(delivery),
  };

  /**
   * One record.
   * @param id Its id.
   * @returns It, or undefined when unknown or evicted.
   */
  get(id: string): Delivery | undefined {
    return this.#byId.get(id);
  }

  /**
   * Records newest first.
   * @param options `limit` (most returned) and `before` (only ids sorting before it).
   * @returns The records.
   */
  list(options: { limit?: number; before?: string } = {}): Delivery[] {
    const out: Delivery[] = [];
    const limit = options.limit ?? Infinity;
    for (let i = this.#records.length - 1; i >= 0 && out.length < limit; i--) {
      const delivery = this.#records[i];
      if (options.before !== undefined && delivery.id >= options.before) continue;
      out.push(delivery);
    }
    return out;
  }

  /** Forgets every record (in-flight ones keep running but are no longer stored). */
  clear(): void {
    this.#records = [];
    this.#byId.clear();
    this.#bytes = 0;
    this.#emit(undefined);
  }

  /**
   * Copies the first `length` bytes of a chunk. Small chunks go into a shared slab (one
   * allocation per {@linkcode SLAB_BYTES} instead of one per chunk, the largest cost of
   * recording); a slab is freed once every record holding a view of it is gone, and records go
   * oldest first, so little beyond the counted bytes stays held.
   */
  #copy(chunk: Uint8Array, length: number): Uint8Array {
    if (length > SLAB_CHUNK_BYTES) return chunk.slice(0, length);
    if (this.#slabUsed + length > this.#slab.length) {
      this.#slab = new Uint8Array(SLAB_BYTES);
      this.#slabUsed = 0;
    }
    const start = this.#slabUsed;
    this.#slab.set(length === chunk.length ? chunk : chunk.subarray(0, length), start);
    this.#slabUsed += length;
    return this.#slab.subarray(start, start + length);
  }

  #evict(delivery: Delivery): void {
    const index = this.#records[0] === delivery ? 0 : this.#records.indexOf(delivery);
    if (index === 0) this.#records.shift();
    else if (index > 0) this.#records.splice(index, 1);
    this.#byId.delete(delivery.id);
    this.#bytes -= delivery.requestBody.kept + delivery.responseBody.kept;
  }

  #emit(delivery: Delivery | undefined): void {
    for (const listener of this.#listeners) listener(delivery);
  }

  /** Time in ms (base 36, fixed width) then a sequence number: sorts by arrival, never repeats. */
  #nextId(): string {
    const ms = Math.max(this.#now(), this.#lastMs);
    if (ms !== this.#lastMs) this.#seq = 0;
    this.#lastMs = ms;
    const seq = this.#seq++;
    return `${ms.toString(36).padStart(9, "0")}${seq.toString(36).padStart(4, "0")}`;
  }
}

/**
 * Base64 of bytes.
 * @param bytes Any bytes.
 * @returns The base64 text.
 */
export function toBase64(bytes: Uint8Array): string {
  let text = "";
  const step = 0x8000;
  for (let i = 0; i < bytes.length; i += step) {
    text += String.fromCharCode(...bytes.subarray(i, i + step));
  }
  return btoa(text);
}

/**
 * Bytes of base64 text.
 * @param text Base64.
 * @returns The bytes.
 * @throws {SyntaxError} When the text is not base64.
 */
export function fromBase64(text: string): Uint8Array<ArrayBuffer> {
  let binary: string;
  try {
    binary = atob(text);
  } catch {
    throw new SyntaxError("Cannot decode base64: invalid characters");
  }
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}
