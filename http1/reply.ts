/**
 * The server side's response: {@linkcode Reply}, a status, raw header pairs and a body given
 * as bytes or as an async iterable of chunks, and how its head is written (RFC 9112 §6: the
 * server chooses the framing: `Content-Length` for bytes and for streams whose length the headers
 * name, chunked for other streams, none for HEAD, 1xx, 204 and 304).
 *
 * A `Reply` costs a plain object where a `Response` costs its `Headers` (sorted on every
 * iteration) and a `ReadableStream`: the webhook path answers with one.
 *
 * @module
 */
import { hasToken } from "./_bytes.ts";
import { parseContentLength } from "./head.ts";

/** A body of a {@linkcode Reply}: all of it, or its chunks as they come, or none. */
export type ReplyBody = Uint8Array | AsyncIterable<Uint8Array> | null;

/** A response for the server to write. */
export class Reply {
  /** The status code (101–599). */
  readonly status: number;
  /** Header pairs, written in order; framing headers are the server's to set. */
  readonly headers: [string, string][];
  /** The body. */
  readonly body: ReplyBody;

  /**
   * @param status The status code.
   * @param headers Header pairs (lower-case names), written as given but for the framing ones.
   * @param body The body; a stream is written chunked unless `headers` has its `content-length`.
   */
  constructor(status: number, headers: [string, string][] = [], body: ReplyBody = null) {
    this.status = status;
    this.headers = headers;
    this.body = body;
  }

  /**
   * A JSON reply.
   * @param status The status code.
   * @param value Any JSON-serialisable value.
   * @param headers More header pairs.
   * @returns The reply, `content-type: application/json; charset=utf-8`.
   */
  static json(status: number, value: unknown, headers: [string, string][] = []): Reply {
    return new Reply(
      status,
      [...headers, ["content-type", "application/json; charset=utf-8"]],
      utf8.encode(JSON.stringify(value)),
    );
  }
}

const utf8 = new TextEncoder();

/** How a written body is delimited. */
export type ReplyFraming = "none" | "length" | "chunked" | "close";

/** A response head and the framing the body must follow. */
export interface ReplyHead {
  /**
   * The head, blank line included, one character per byte (latin1: header values pass through
   * as the bytes they were); write it with `writeLatin1`.
   */
  text: string;
  /** How the body goes out. */
  framing: ReplyFraming;
  /** The body's length when `framing` is `length`. */
  length: number;
  /** The connection must close after this response. */
  close: boolean;
}

/** What a response head depends on besides the reply. */
export interface ReplyHeadContext {
  /** The request's method (a HEAD answer has no body). */
  method: string;
  /** The request's HTTP minor version (1.0 gets no chunked body). */
  minorVersion: 0 | 1;
  /** Whether the connection may stay open after this response. */
  keepAlive: boolean;
  /** The value of the `date` header added when the reply has none. */
  date: string;
}

/** Headers the server writes itself: the framing and the connection's fate. */
const FRAMING_HEADERS: ReadonlySet<string> = new Set([
  "content-length",
  "transfer-encoding",
  "connection",
  "keep-alive",
]);

/**
 * Writes a reply's head and chooses its body's framing.
 * @param reply The reply.
 * @param context Method, version, keep-alive and date.
 * @returns The head's bytes and the framing.
 */
export function replyHead(reply: Reply, context: ReplyHeadContext): ReplyHead {
  const { status, body } = reply;
  let head = `HTTP/1.1 ${status} ${REASONS[status] ?? "Unknown"}\r\n`;
  if (status < 200) {
    // An interim answer (101 for an upgrade): its headers (`upgrade`, `connection`…) are the
    // handler's, as given; no body, no framing, no date, and the connection stays.
    for (const [name, value] of reply.headers) head += `${name}: ${value}\r\n`;
    return { text: `${head}\r\n`, framing: "none", length: 0, close: false };
  }
  let close = !context.keepAlive;
  let declared = -1;
  let hasDate = false;
  for (const [name, value] of reply.headers) {
    if (FRAMING_HEADERS.has(name)) {
      if (name === "content-length") declared = parseContentLength(value);
      else if (name === "connection" && hasToken(value, "close")) close = true;
      continue;
    }
    if (name === "date") hasDate = true;
    head += `${name}: ${value}\r\n`;
  }
  if (!hasDate) head += `date: ${context.date}\r\n`;
  let framing: ReplyFraming;
  let length = 0;
  if (status === 204 || status === 304) {
    framing = "none";
  } else if (body instanceof Uint8Array) {
    length = body.length;
    framing = context.method === "HEAD" ? "none" : "length";
    head += `content-length: ${length}\r\n`;
  } else if (body === null) {
    // A HEAD answer keeps the length the GET would have had.
    framing = "none";
    if (context.method === "HEAD" && declared >= 0) head += `content-length: ${declared}\r\n`;
    else if (context.method !== "HEAD") head += "content-length: 0\r\n";
  } else if (context.method === "HEAD") {
    framing = "none";
    if (declared >= 0) head += `content-length: ${declared}\r\n`;
  } else if (declared >= 0) {
    framing = "length";
    length = declared;
    head += `content-length: ${declared}\r\n`;
  } else if (context.minorVersion === 1) {
    framing = "chunked";
    head += "transfer-encoding: chunked\r\n";
  } else {
    framing = "close";
    close = true;
  }
  if (close) head += "connection: close\r\n";
  else if (context.minorVersion === 0) head += "connection: keep-alive\r\n";
  head += "\r\n";
  return { text: head, framing, length, close };
}

/** Reason phrases of the statuses the server sends (RFC 9110 §15); others get "Unknown". */
const REASONS: Record<number, string> = {
  100: "Continue",
  101: "Switching Protocols",
  200: "OK",
  201: "Created",
  202: "Accepted",
  203: "Non-Authoritative Information",
  204: "No Content",
  205: "Reset Content",
  206: "Partial Content",
  207: "Multi-Status",
  300: "Multiple Choices",
  301: "Moved Permanently",
  302: "Found",
  303: "See Other",
  304: "Not Modified",
  307: "Temporary Redirect",
  308: "Permanent Redirect",
  400: "Bad Request",
  401: "Unauthorized",
  402: "Payment Required",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  406: "Not Acceptable",
  408: "Request Timeout",
  409: "Conflict",
  410: "Gone",
  411: "Length Required",
  412: "Precondition Failed",
  413: "Content Too Large",
  414: "URI Too Long",
  415: "Unsupported Media Type",
  416: "Range Not Satisfiable",
  417: "Expectation Failed",
  418: "I'm a teapot",
  421: "Misdirected Request",
  422: "Unprocessable Content",
  425: "Too Early",
  426: "Upgrade Required",
  428: "Precondition Required",
  429: "Too Many Requests",
  431: "Request Header Fields Too Large",
  451: "Unavailable For Legal Reasons",
  500: "Internal Server Error",
  501: "Not Implemented",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
  505: "HTTP Version Not Supported",
};
