/**
 * {@linkcode Http1Abort}: aborting one request without an `AbortController`.
 *
 * @module
 */

/** What an {@linkcode Http1Abort} aborts: the exchange (or connect) in progress. */
export interface Http1AbortTarget {
  /** Ends the exchange: the connection is destroyed, the request or its body fails. */
  abortWith(reason: unknown): void;
}

/**
 * Aborts one request as an `AbortController`'s signal would, at a fraction of the cost: a signal
 * is an EventTarget, and listening to it means a listener added and removed per request (about
 * a microsecond, a measurable share of a forwarded webhook). Pass it as `abort` in
 * `Http1Client.request`'s init; {@linkcode Http1Abort.abort} then fails the request, or its
 * body while it is read, with an `aborted` (or, for a `TimeoutError` reason, `timeout`)
 * `Http1Error`, the connection destroyed. Like a signal, it aborts once and for good.
 *
 * @example
 * ```ts
 * import { Http1Abort } from "./abort.ts";
 * const abort = new Http1Abort();
 * const timer = setTimeout(() => abort.abort(new DOMException("Too slow", "TimeoutError")), 5000);
 * // await client.request(url, { method: "GET", path: "/", headers: [], abort });
 * clearTimeout(timer);
 * ```
 */
export class Http1Abort {
  /** Set once aborted (never `undefined` then: a missing reason gets a default). */
  #reason: unknown = undefined;
  #target: Http1AbortTarget | undefined;

  /** Whether {@linkcode Http1Abort.abort} was called. */
  get aborted(): boolean {
    return this.#reason !== undefined;
  }

  /** The reason given to {@linkcode Http1Abort.abort} (or its default), once aborted. */
  get reason(): unknown {
    return this.#reason;
  }

  /**
   * Aborts the request (nothing happens when it is already over, or on a second call).
   * @param reason Why; defaults to an `AbortError` `DOMException`, as `AbortController` does.
   */
  abort(reason?: unknown): void {
    if (this.aborted) return;
    this.#reason = reason ?? new DOMException("The request was aborted", "AbortError");
    const target = this.#target;
    this.#target = undefined;
    target?.abortWith(this.#reason);
  }

  /**
   * @internal The exchange (or connect) now in progress; aborted at once if already aborted.
   * @param target What to abort.
   */
  _attach(target: Http1AbortTarget): void {
    if (this.aborted) target.abortWith(this.#reason);
    else this.#target = target;
  }

  /**
   * @internal `target` is over: aborting no longer reaches it.
   * @param target What was attached.
   */
  _detach(target: Http1AbortTarget): void {
    if (this.#target === target) this.#target = undefined;
  }
}
