/**
 * The strict (RFC 9112) request head parser of the server side: request line, then header lines
 * kept as `[lower-case name, value]` pairs in the order received, repeats apart. A malformed line
 * is refused, never skipped or repaired: what a proxy in front and we disagree on is how requests
 * get smuggled. The body's framing is decided here too (RFC 9112 §6.3 for requests).
 *
 * @module
 */
import { CR, decodeLatin1, hasToken, trimOws } from "./_bytes.ts";
import { headerField, parseContentLength } from "./head.ts";

/** A request the server refuses before any handler sees it; `status` is what the sender gets. */
export class RequestHeadError extends Error {
  /** The HTTP status to answer with (400, 431, 501, 505). */
  readonly status: number;
  /**
   * @param status The status to answer with.
   * @param message What is wrong with the request.
   */
  constructor(status: number, message: string) {
    super(message);
    this.name = "RequestHeadError";
    this.status = status;
  }
}

/** A parsed request head. */
export interface RequestHead {
  /** The method, as sent (methods are case-sensitive). */
  method: string;
  /** The request target as sent: a path and query (`/a?b`), or an absolute URL. */
  target: string;
  /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
  minorVersion: 0 | 1;
  /** Header pairs in the order received, names lower-case, values without surrounding spaces. */
  headers: [string, string][];
  /** The one `Host` value (`undefined` on an HTTP/1.0 request without one). */
  host: string | undefined;
  /** Whether the connection stays open after this exchange (version and `Connection`). */
  keepAlive: boolean;
  /** Body length: -1 for a chunked body, else the `Content-Length` (0 when absent). */
  bodyLength: number;
  /** `Expect: 100-continue` was sent. */
  expectContinue: boolean;
  /** The `Upgrade` header value, when the request asks for one (`Connection: upgrade`). */
  upgrade: string | undefined;
}

/** Request-line: method, one space, a target without spaces or controls, one space, version. */
// deno-lint-ignore no-control-regex -- rejecting control characters is the point
const REQUEST_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) ([^\x00-\x20\x7f]+) HTTP\/1\.([01])$/;

/**
 * A request target the server takes: origin form (`/path?query`), absolute form (an http or
 * https URL), or `*` for `OPTIONS` (RFC 9112 §3.2). Anything else is refused: `scheme://Host` and
 * the target make `ServerRequest.url`, and a target like `x/internal` would move the path into the
 * host (`http://hx/internal`).
 */
function isServedTarget(method: string, target: string): boolean {
  return target.charCodeAt(0) === SLASH || ABSOLUTE_TARGET.test(target) ||
    (target === "*" && method === "OPTIONS");
}

const SLASH = 0x2f;
const ABSOLUTE_TARGET = /^https?:\/\//i;
/**
 * A `Host` value: a host name or address and an optional port, in the characters RFC 3986 allows
 * there (the set Go's net/http accepts). Without this a `/`, `\`, `?`, `#` or `@` in it, or an
 * empty value, ends the URL's authority early: `http://h\internal#` + `/webhook/x%41` parses as
 * path `/internal`, another path than the request line's (and than a proxy in front routed on).
 */
const HOST = /^[A-Za-z0-9\-._~!$&'()*+,;=%:[\]]+$/;

/**
 * Parses a whole request head.
 * @param bytes The head, up to and including its blank line.
 * @returns Method, target, header pairs and the body's framing.
 * @throws {RequestHeadError} 400 for a malformed request line or target (not origin or absolute
 * form, nor `*` for OPTIONS), header line, `Host` (empty, or more than a host and port),
 * `Content-Length` or a `Transfer-Encoding` beside a `Content-Length`; 501 for a transfer coding
 * other than `chunked`; 505 for another HTTP version.
 */
export function parseRequestHead(bytes: Uint8Array): RequestHead {
  const text = decodeLatin1(bytes);
  let lineEnd = text.indexOf("\n");
  const requestLine = cutLine(text, 0, lineEnd);
  const m = REQUEST_LINE.exec(requestLine);
  if (!m) {
    if (/ HTTP\/\d+\.\d+$/.test(requestLine) && !/ HTTP\/1\.[01]$/.test(requestLine)) {
      throw new RequestHeadError(505, "Only HTTP/1.0 and HTTP/1.1 are served here");
    }
    throw new RequestHeadError(400, `Invalid request line "${printable(requestLine)}"`);
  }
  const minorVersion = m[3] === "1" ? 1 : 0;
  const head: RequestHead = {
    method: m[1],
    target: hasHighChars(m[2]) ? decodeTargetUtf8(m[2]) : m[2],
    minorVersion,
    headers: [],
    host: undefined,
    keepAlive: minorVersion === 1,
    bodyLength: 0,
    expectContinue: false,
    upgrade: undefined,
  };
  let hosts = 0;
  let contentLength: string | undefined;
  let transferEncoding: string | undefined;
  let connection: string | undefined;
  for (let start = lineEnd + 1; start < text.length; start = lineEnd + 1) {
    lineEnd = text.indexOf("\n", start);
    if (lineEnd < 0) lineEnd = text.length;
    // One CR before the LF belongs to the line ending; the line is read in place, by index.
    const end = lineEnd > start && text.charCodeAt(lineEnd - 1) === CR ? lineEnd - 1 : lineEnd;
    if (end === start) break;
    const field = headerField(text, start, end);
    if (typeof field === "string") {
      // A bare CR is what is wrong when the line has one.
      const cr = text.indexOf("\r", start);
      if (cr >= 0 && cr < end) throw new RequestHeadError(400, "Bare CR in the request head");
      throw new RequestHeadError(
        400,
        field === "line"
          ? `Invalid header line "${printable(text.slice(start, end))}"`
          : `Invalid value for header "${
            text.slice(start, text.indexOf(":", start)).toLowerCase()
          }"`,
      );
    }
    const name = field[0] = field[0].toLowerCase();
    const value = field[1];
    head.headers.push(field);
    switch (name) {
      case "host":
        hosts++;
        head.host = value;
        break;
      case "content-length":
        contentLength = contentLength === undefined ? value : `${contentLength}, ${value}`;
        break;
      case "transfer-encoding":
        transferEncoding = transferEncoding === undefined ? value : `${transferEncoding}, ${value}`;
        break;
      case "connection":
        connection = connection === undefined ? value : `${connection}, ${value}`;
        break;
      case "expect":
        // Ignored in an HTTP/1.0 request (RFC 9110 §10.1.1): its client knows no 100 answer.
        if (minorVersion === 1 && value.toLowerCase() === "100-continue") {
          head.expectContinue = true;
        }
        break;
      case "upgrade":
        head.upgrade = value;
        break;
    }
  }
  if (minorVersion === 1 && hosts !== 1) {
    throw new RequestHeadError(400, "An HTTP/1.1 request needs exactly one Host header");
  }
  if (hosts > 1) throw new RequestHeadError(400, "More than one Host header");
  if (head.host !== undefined && !HOST.test(head.host)) {
    throw new RequestHeadError(400, `Invalid Host "${printable(head.host)}"`);
  }
  if (!isServedTarget(head.method, head.target)) {
    throw new RequestHeadError(400, `Invalid request target "${printable(head.target)}"`);
  }
  if (connection !== undefined) {
    if (hasToken(connection, "close")) head.keepAlive = false;
    else if (minorVersion === 0 && hasToken(connection, "keep-alive")) head.keepAlive = true;
  }
  if (head.upgrade !== undefined && !(connection && hasToken(connection, "upgrade"))) {
    head.upgrade = undefined;
  }
  if (transferEncoding !== undefined) {
    if (contentLength !== undefined) {
      throw new RequestHeadError(
        400,
        "A request cannot have both Content-Length and Transfer-Encoding",
      );
    }
    if (minorVersion === 0) {
      throw new RequestHeadError(400, "Transfer-Encoding is not allowed in an HTTP/1.0 request");
    }
    if (trimOws(transferEncoding).toLowerCase() !== "chunked") {
      throw new RequestHeadError(
        501,
        `Transfer-Encoding "${
          printable(transferEncoding)
        }" is not supported: send the body with Content-Length or chunked`,
      );
    }
    head.bodyLength = -1;
  } else if (contentLength !== undefined) {
    const length = parseContentLength(contentLength);
    if (length < 0) {
      throw new RequestHeadError(400, `Invalid Content-Length "${printable(contentLength)}"`);
    }
    head.bodyLength = length;
  }
  return head;
}

/** The line `text[start, end)` without its CR; a CR anywhere else in it is refused. */
function cutLine(text: string, start: number, end: number): string {
  if (end < 0) end = text.length;
  const stop = end > start && text.charCodeAt(end - 1) === CR ? end - 1 : end;
  const line = text.slice(start, stop);
  if (line.indexOf("\r") >= 0) throw new RequestHeadError(400, "Bare CR in the request head");
  return line;
}

/** Whether any character is above 0x7f (a raw UTF-8 target, decoded one byte per character). */
function hasHighChars(latin1: string): boolean {
  for (let i = 0; i < latin1.length; i++) if (latin1.charCodeAt(i) > 0x7f) return true;
  return false;
}

const utf8 = new TextDecoder();

/** A target decoded one byte per character, re-read as the UTF-8 the sender meant. */
function decodeTargetUtf8(latin1: string): string {
  const bytes = new Uint8Array(latin1.length);
  for (let i = 0; i < latin1.length; i++) bytes[i] = latin1.charCodeAt(i);
  return utf8.decode(bytes);
}

/** Up to 64 characters of a peer's text, fit for a message (controls escaped). */
function printable(text: string): string {
  return JSON.stringify(text.slice(0, 64)).slice(1, -1);
}
