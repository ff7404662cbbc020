/**
 * Test helpers: the server's app over a context with a fake cluster, fake peers and a fake
 * relay pool, and an in-memory tunnel client, so handler tests run without a socket.
 *
 * @module
 */
import type { ClusterHandle, Member } from "../cluster/mod.ts";
import {
  decodeRequestHead,
  encodeResponseHead,
  type FrameTransport,
  type RequestHead,
  TunnelSession,
  type TunnelStream,
} from "../protocol/mod.ts";
import {
  type Http1Client,
  type Http1RequestInit,
  type Http1Response,
  type ServerAnswer,
  ServerRequest,
} from "../http1/mod.ts";
import { createContext, type ServerContext } from "./context.ts";
import { clusterCredential, encodeMeta, Replicas } from "./replicas.ts";
import { createApp } from "./routes.ts";
import type { Router } from "./router.ts";
import type { ServerOptions } from "./options.ts";
import type { QueueStore } from "./queue/mod.ts";

/** This replica's URL in tests. */
export const SELF_URL = "http://10.0.0.1:8080";

/** A peer replica's URL in tests (its gossip address is 10.0.0.2). */
export const PEER_URL = "http://10.0.0.2:8080";

/** The gossip address of the peer at {@linkcode PEER_URL}. */
export const PEER_IP = "10.0.0.2";

/** A cluster node that knows itself and one alive peer at {@linkcode PEER_URL}. */
function fakeCluster(): ClusterHandle {
  const members: Member[] = [
    {
      name: "self",
      address: "10.0.0.1:7946",
      meta: encodeMeta(SELF_URL),
      state: "alive",
      incarnation: 1,
    },
    {
      name: "peer",
      address: `${PEER_IP}:7946`,
      meta: encodeMeta(PEER_URL),
      state: "alive",
      incarnation: 1,
    },
  ];
  return {
    localName: "self",
    finished: Promise.resolve(),
    address: "10.0.0.1:7946",
    members: () => members,
    updateMeta: () => {},
    join: () => Promise.resolve(0),
    synced: true,
    onEvent: () => () => {},
    stats: () => ({}),
    leave: () => Promise.resolve(),
    shutdown: () => Promise.resolve(),
  };
}

/** {@linkcode Replicas} whose peer calls are answered by a function instead of HTTP. */
class FakeReplicas extends Replicas {
  /** URLs asked, in order. */
  readonly asked: string[] = [];
  /** Answers a peer call; throw to fail it. */
  answer: (url: string) => unknown = () => {
    throw new Error("unreachable");
  };

  /** Claims posted to peers (`postJson`), in order. */
  readonly posted: { url: string; body: unknown }[] = [];
  /** Answers a POST to a peer; throw to fail it. */
  postAnswer: (url: string, body: unknown) => { status: number; body: unknown } = () => {
    throw new Error("unreachable");
  };

  override postJson(url: string, body: unknown): Promise<{ status: number; body: unknown }> {
    this.posted.push({ url, body });
    try {
      return Promise.resolve(this.postAnswer(url, body));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  override getJson<T>(url: string): Promise<T> {
    this.asked.push(url);
    try {
      return Promise.resolve(this.answer(url) as T);
    } catch (error) {
      return Promise.reject(error);
    }
  }
}

/** A relay call the fake pool received. */
export interface RelayCall {
  /** The owner's origin. */
  origin: URL;
  /** The request. */
  init: Http1RequestInit;
}

/** What {@linkcode testApp} returns. */
export interface TestApp {
  /** The context (set `ctx.draining`, attach channels…). */
  ctx: ServerContext;
  /** The app. */
  app: Router<ServerContext>;
  /** The fake cluster view: set `answer` to script the peers, read `asked`. */
  replicas: FakeReplicas;
  /** Relays the app sent. */
  relays: RelayCall[];
  /** Answers relays; throw to fail one. @default 200 `relayed` */
  relayAnswer: (call: RelayCall) => Http1Response;
  /** Calls the app as a request from `peer` would. */
  call(request: Request, peer?: string): Promise<Response>;
}

/**
 * A relay answer for the fake pool.
 * @param status HTTP status.
 * @param text Body.
 * @returns The answer.
 */
export function relayResponse(status: number, text = ""): Http1Response {
  const bytes = new TextEncoder().encode(text);
  return {
    status,
    statusText: "",
    headers: [["content-type", "text/plain"]],
    body: { takeBuffered: () => bytes, cancel: () => Promise.resolve() },
  } as unknown as Http1Response;
}

/**
 * The app over a test context; see the module doc.
 * @param options Server options (`gossipKey` makes the replicas authenticated).
 * @param queue The `--queue` store, if any.
 * @returns The app and its fakes.
 */
export function testApp(options: ServerOptions = {}, queue?: QueueStore): TestApp {
  const replicas = new FakeReplicas(fakeCluster(), {
    selfUrl: SELF_URL,
    httpPort: 8080,
    credential: options.gossipKey && clusterCredential(options.gossipKey),
    standalone: false,
  });
  const test: TestApp = {
    relays: [],
    relayAnswer: () => relayResponse(200, "relayed"),
    replicas,
  } as unknown as TestApp;
  const relayHttp = {
    request: (origin: URL, init: Http1RequestInit) => {
      const call = { origin, init };
      test.relays.push(call);
      try {
        return Promise.resolve(test.relayAnswer(call));
      } catch (error) {
        return Promise.reject(error);
      }
    },
    close: () => Promise.resolve(),
  } as unknown as Http1Client;
  test.ctx = createContext({ replicas, serverUrl: SELF_URL, options, relayHttp, queue });
  test.app = createApp(test.ctx);
  test.call = async (request, peer = "203.0.113.9") =>
    toResponse(await test.app.handle(ServerRequest.fromRequest(request, peer)));
  return test;
}

/**
 * The app's answer as a `Response`, for assertions.
 * @param answer A reply or a response.
 * @returns The response.
 */
export function toResponse(answer: ServerAnswer): Response {
  if (answer instanceof Response) return answer;
  const body = answer.body;
  return new Response(
    body === null
      ? null
      : body instanceof Uint8Array
      ? body as Uint8Array<ArrayBuffer>
      : ReadableStream.from(body),
    { status: answer.status, headers: answer.headers },
  );
}

/** An in-memory tunnel client attached to a channel. */
export interface TestTunnel {
  /** The server's end (attached to the channel). */
  server: TunnelSession;
  /** The client's end. */
  client: TunnelSession;
  /** Request heads the client received. */
  heads: RequestHead[];
  /** Closes both ends. */
  close(): void;
}

/**
 * Attaches an in-memory client to channel `id` that answers each request with `answer` (default
 * 200 `ok`, after reading the body).
 * @param ctx The context.
 * @param id The channel id.
 * @param answer Answers one stream.
 * @returns The tunnel.
 */
export function attachTestTunnel(
  ctx: ServerContext,
  id: string,
  answer?: (stream: TunnelStream, head: RequestHead) => Promise<void>,
): TestTunnel {
  const heads: RequestHead[] = [];
  const ends: { server?: TunnelSession; client?: TunnelSession } = {};
  const to = (peer: () => TunnelSession | undefined): FrameTransport => ({
    send: (message) => queueMicrotask(() => peer()?.receive(message)),
    bufferedAmount: 0,
  });
  const reply = answer ?? (async (stream: TunnelStream) => {
    await new Response(stream.body).arrayBuffer();
    stream.sendHead(encodeResponseHead({ status: 200, headers: [] }));
    await stream.sendBody([new TextEncoder().encode("ok")]);
  });
  ends.server = new TunnelSession(to(() => ends.client), { role: "server" });
  ends.client = new TunnelSession(to(() => ends.server), {
    role: "client",
    onStream: async (stream) => {
      const head = decodeRequestHead(await stream.head);
      heads.push(head);
      await reply(stream, head);
    },
  });
  const result = ctx.channels.attach(id, ends.server);
  if (result !== "attached") throw new Error(`Cannot attach: ${result}`);
  return {
    server: ends.server,
    client: ends.client,
    heads,
    close: () => {
      ends.server!.close();
      ends.client!.close();
      ctx.channels.detach(id, ends.server!);
    },
  };
}
