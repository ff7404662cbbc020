/**
 * {@linkcode ServerRequest}: a request as the server read it, with its header pairs as received
 * and its body as a pull reader. What costs (a `Headers` object, a `ReadableStream`, an
 * `AbortSignal`, the URL string) is made only when a handler asks for it, so the webhook path
 * pays for none of them.
 *
 * @module
 */
import { concat } from "./_bytes.ts";
import { headerValue, parseContentLength } from "./head.ts";
import type { ByteConn } from "./byte_conn.ts";
import type { Reply } from "./reply.ts";

/** A request body read as it is pulled: chunks are fresh arrays, safe to keep. */
export interface BodyReader {
  /**
   * Reads the next chunk.
   * @param into A buffer the caller reuses: the bytes may come as a view of it, valid until the
   * next read (else each chunk is a fresh array).
   * @returns Bytes, or `null` at the end of the body.
   */
  read(into?: Uint8Array): Promise<Uint8Array | null>;
  /**
   * The whole body when it is already in memory and nothing was read yet.
   * @returns The bytes, or `undefined` when it must be read with {@linkcode BodyReader.read}.
   */
  takeBuffered(): Uint8Array | undefined;
  /** Stops reading; the rest of the body is discarded (or the connection closed). */
  cancel(): void;
  /** Whether the whole body has been read. */
  readonly done: boolean;
}

/** Options of a WebSocket upgrade. */
export interface UpgradeOptions {
  /** Extra headers on the `101` answer. */
  headers?: [string, string][];
}

/**
 * Takes a request's connection over once its `101` answer is written.
 * @param request The upgrade request.
 * @param options Extra answer headers.
 * @returns The `101` reply to return from the handler, and what happens with the connection
 * after it is written (the caller's socket object is set up by then).
 */
export type Upgrader = (
  request: ServerRequest,
  options: UpgradeOptions,
) => { reply: Reply; onWritten: Promise<{ conn: ByteConn; initial: Uint8Array }> };

/** What a {@linkcode ServerRequest} is made of. */
export interface ServerRequestInit {
  /** The method. */
  method: string;
  /** The request target: a path and query, or an absolute URL. */
  target: string;
  /** Header pairs, names lower-case, in order, repeats apart. */
  headers: [string, string][];
  /** The `Host` value, when sent. */
  host: string | undefined;
  /** `http` or `https`: how the request reached us. */
  scheme: "http" | "https";
  /** The peer's address. */
  peer: string;
  /** The body, or `null` when there is none. */
  body: BodyReader | null;
  /** The body's declared length: 0 without a body, -1 when chunked (see `bodyLength`). */
  bodyLength: number;
  /** An existing signal (a `Request`'s), instead of one the connection aborts. */
  signal?: AbortSignal;
  /** Upgrades the connection (native connections only). */
  upgrade?: Upgrader;
}

/** A request read by the server; see the module doc. */
export class ServerRequest {
  /** The method, as sent. */
  readonly method: string;
  /** The request target as sent: a path and query (`/a?b=1`), or an absolute URL. */
  readonly target: string;
  /** Header pairs as received: names lower-case, in order, repeats apart. */
  readonly headerList: [string, string][];
  /** The `Host` value, when sent. */
  readonly host: string | undefined;
  /** `http` or `https`. */
  readonly scheme: "http" | "https";
  /** The TCP peer's address. */
  readonly peer: string;
  /** The body, or `null` when the request has none. */
  readonly body: BodyReader | null;
  /**
   * The body's length as declared (`Content-Length`, parsed once with the head; identical
   * repeats are one length): 0 without a body, -1 when it is chunked and its length unknown.
   */
  readonly bodyLength: number;
  #headers: Headers | undefined;
  #url: string | undefined;
  #controller: AbortController | undefined;
  #signal: AbortSignal | undefined;
  #abortReason: unknown;
  #aborted = false;
  #onAbort: ((reason: unknown) => void)[] | undefined;
  #upgrade: Upgrader | undefined;

  /** @param init What the request is made of. */
  constructor(init: ServerRequestInit) {
    this.method = init.method;
    this.target = init.target;
    this.headerList = init.headers;
    this.host = init.host;
    this.scheme = init.scheme;
    this.peer = init.peer;
    this.body = init.body;
    this.bodyLength = init.bodyLength;
    this.#signal = init.signal;
    this.#upgrade = init.upgrade;
  }

  /**
   * A request from a `Request` (in-process tests, adapters): its body is read through its stream.
   * @param request The request.
   * @param peer The peer's address to report.
   * @returns The server request.
   */
  static fromRequest(request: Request, peer: string): ServerRequest {
    const url = new URL(request.url);
    return new ServerRequest({
      method: request.method,
      target: url.pathname + url.search,
      headers: [...request.headers],
      host: request.headers.get("host") ?? url.host,
      scheme: url.protocol === "https:" ? "https" : "http",
      peer,
      body: request.body ? new StreamBodyReader(request.body) : null,
      bodyLength: request.body
        ? parseContentLength(request.headers.get("content-length") ?? "")
        : 0,
      signal: request.signal,
    });
  }

  /**
   * One header's value, repeats joined with `, `, as `Headers.get` answers (so a request can be
   * passed where a `{ get(name) }` header lookup is expected).
   * @param name The name, lower-case.
   * @returns The value, or `null` when absent.
   */
  get(name: string): string | null {
    return headerValue(this.headerList, name) ?? null;
  }

  /**
   * Whether a header is present.
   * @param name The name, lower-case.
   * @returns True when sent at least once.
   */
  has(name: string): boolean {
    const list = this.headerList;
    for (let i = 0; i < list.length; i++) if (list[i][0] === name) return true;
    return false;
  }

  /** The headers as a `Headers` object (made on first use). */
  get headers(): Headers {
    return this.#headers ??= new Headers(this.headerList);
  }

  /** The absolute URL: scheme, `Host` and target (made on first use). */
  get url(): string {
    return this.#url ??= /^https?:\/\//i.test(this.target)
      ? this.target
      : `${this.scheme}://${this.host ?? "localhost"}${this.target}`;
  }

  /** Aborted when the sender goes away before the answer is written (made on first use). */
  get signal(): AbortSignal {
    if (this.#signal) return this.#signal;
    this.#controller = new AbortController();
    if (this.#aborted) this.#controller.abort(this.#abortReason);
    return this.#signal = this.#controller.signal;
  }

  /** Whether the sender went away (without making the signal). */
  get aborted(): boolean {
    return this.#aborted || (this.#signal?.aborted ?? false);
  }

  /**
   * Calls `callback` once if the sender goes away before the answer is written: a cheaper
   * {@linkcode signal} for code on every request's path (no `AbortController` or event).
   * @param callback Gets the reason.
   * @returns Unsubscribes.
   */
  onAbort(callback: (reason: unknown) => void): () => void {
    const signal = this.#signal;
    if (signal) {
      // A `Request`'s own signal (fromRequest), or one a handler already made.
      const listener = () => callback(signal.reason);
      signal.addEventListener("abort", listener, { once: true });
      return () => signal.removeEventListener("abort", listener);
    }
    const callbacks = this.#onAbort ??= [];
    callbacks.push(callback);
    return () => {
      const i = callbacks.indexOf(callback);
      if (i >= 0) callbacks.splice(i, 1);
    };
  }

  /**
   * @internal The connection ended before the answer was written: aborts {@linkcode signal}.
   * @param reason Why.
   */
  _abort(reason: unknown): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#abortReason = reason;
    this.#controller?.abort(reason);
    const callbacks = this.#onAbort;
    this.#onAbort = undefined;
    if (callbacks) { for (const callback of callbacks) callback(reason); }
  }

  /**
   * Reads the whole body.
   * @returns The bytes (empty without a body).
   */
  async bytes(): Promise<Uint8Array> {
    const body = this.body;
    if (!body) return new Uint8Array(0);
    const whole = body.takeBuffered();
    if (whole) return whole;
    const chunks: Uint8Array[] = [];
    for (let chunk = await body.read(); chunk; chunk = await body.read()) chunks.push(chunk);
    return chunks.length === 0 ? new Uint8Array(0) : concat(chunks);
  }

  /**
   * Reads the whole body as UTF-8 text.
   * @returns The text.
   */
  async text(): Promise<string> {
    return new TextDecoder().decode(await this.bytes());
  }

  /**
   * Reads the whole body as JSON.
   * @returns The parsed value.
   * @throws {SyntaxError} When the body is not JSON.
   */
  async json(): Promise<unknown> {
    return JSON.parse(await this.text());
  }

  /**
   * The body as a `ReadableStream` (for consumers that take one), or `null` without a body.
   * @returns A stream reading from {@linkcode body}.
   */
  stream(): ReadableStream<Uint8Array> | null {
    const body = this.body;
    if (!body) return null;
    return new ReadableStream<Uint8Array>({
      async pull(controller) {
        const whole = body.takeBuffered();
        const chunk = whole ?? await body.read();
        if (chunk && chunk.length > 0) controller.enqueue(chunk);
        if (!chunk || whole) controller.close();
      },
      cancel: () => body.cancel(),
    }, { highWaterMark: 0 });
  }

  /**
   * Upgrades the connection to a WebSocket once the returned reply is written.
   * @param options Extra answer headers.
   * @returns The `101` reply to return, and the connection after it.
   * @throws {TypeError} When the request did not come from a server connection.
   */
  upgradeWebSocket(options: UpgradeOptions = {}): ReturnType<Upgrader> {
    if (!this.#upgrade) {
      throw new TypeError("This request cannot be upgraded: it came from no connection");
    }
    return this.#upgrade(this, options);
  }
}

/** A {@linkcode BodyReader} over a `ReadableStream` (a `Request`'s body). */
export class StreamBodyReader implements BodyReader {
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  #done = false;

  /** @param stream The body stream. */
  constructor(stream: ReadableStream<Uint8Array>) {
    this.#reader = stream.getReader();
  }

  /** Whether the whole body has been read. */
  get done(): boolean {
    return this.#done;
  }

  /**
   * Reads the next chunk.
   * @returns Bytes, or `null` at the end.
   */
  async read(): Promise<Uint8Array | null> {
    if (this.#done) return null;
    const { value, done } = await this.#reader.read();
    if (done) {
      this.#done = true;
      return null;
    }
    return value;
  }

  /**
   * Never: a stream's bytes are only known by reading them.
   * @returns `undefined`.
   */
  takeBuffered(): undefined {
    return undefined;
  }

  /** Cancels the stream. */
  cancel(): void {
    this.#done = true;
    this.#reader.cancel().catch(() => {});
  }
}
