/**
 * The laptop side: obtains a channel (saved or new), keeps a tunnel to the server open with
 * reconnects, and replays every tunnelled request against the local app.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import {
  CLOSE_NORMAL,
  CLOSE_POLICY_VIOLATION,
  CLOSE_TAKEN_OVER,
  decodeNotice,
  encodeAck,
  encodeNack,
  FrameType,
  KEEPALIVE_INTERVAL,
  MAX_QUEUE_WINDOW,
  OFFLINE_HEADER,
  PROTOCOL_HEADER,
  PROTOCOL_VERSION,
  ProtocolError,
  QUEUE_WINDOW_HEADER,
  type RequestHead,
  StreamResetError,
  TunnelSession,
  type TunnelStream,
} from "../protocol/mod.ts";
import { AckedIds } from "./acked.ts";
import { QueuedTurns } from "./queued_turns.ts";
import { connectWebSocket, type WsClient, WsHandshakeError } from "./_ws_client.ts";
import { type ForwardOptions, type ForwardResult, forwardStream } from "./forward.ts";
import { Http1Client } from "../http1/mod.ts";
import { baseUrl, ClientError, issueChannel, obtainChannel } from "./channel.ts";
import { CLIENT_DEFAULTS, type ClientOptions } from "./options.ts";
import {
  checkInspectAddr,
  type InspectorHandle,
  openInspector,
  Recorder,
} from "./inspector/mod.ts";
import { formatVerdict, parseVerifyRule, Verifier } from "./verify/mod.ts";
import { createClientMetrics } from "./metrics.ts";
import { LogLines } from "../protocol/log_line.ts";

const log = getLogger(["wow", "client"]);
/** The line per replayed request (a LogLine: this is written once per request). */
const accessLines = new LogLines(
  log,
  "info",
  "{method} {path} {status} {durationMs}ms req={requestBytes}B resp={responseBytes}B",
  [
    " provider={provider} provider_delivery={provider_delivery}",
    " verify={verify}",
    " queued={deliveryId} attempt={attempt}",
    ": {failure}",
  ],
);

/** Handle of a running client. */
export interface ClientHandle {
  /** The channel in use. */
  readonly channelId: string;
  /** The URL to give the webhook sender. */
  readonly webhookUrl: string;
  /** Resolves when the client has stopped. */
  finished: Promise<void>;
  /** Stops: lets in-flight requests finish (≤ 10 s), closes the tunnel. */
  shutdown(): Promise<void>;
}

/**
 * Starts the client: prints the three start-up lines once the tunnel is up, then serves until
 * shut down, reconnecting with exponential backoff and jitter whenever the tunnel drops.
 *
 * @param options Server, target and behaviour.
 * @returns The running client's handle, once the first tunnel is established.
 * @throws {ClientError} When the server refuses in a way retrying cannot fix.
 */
export async function startClient(options: ClientOptions): Promise<ClientHandle> {
  const serverUrl = new URL(options.serverUrl);
  const targetUrl = new URL(options.targetUrl ?? CLIENT_DEFAULTS.targetUrl);
  const print = options.print ?? ((line: string) => console.log(line));
  const timeout = options.transferRequestTimeout ?? CLIENT_DEFAULTS.transferRequestTimeout;
  const localHttp = new Http1Client();
  const stop = new AbortController();
  /** Requests being forwarded; shutdown waits for them (counted: a set costs per request). */
  let inFlight = 0;
  let allDone: PromiseWithResolvers<void> | undefined;
  let socket: WsClient | undefined;
  let session: TunnelSession | undefined;
  const inspectAddr = options.inspectAddr === "off" ? undefined : options.inspectAddr;
  if (inspectAddr) checkInspectAddr(inspectAddr, options.inspectToken);
  // `--json` lines come from the recorder too, so it records even with the inspector off.
  const recorder = inspectAddr || options.json
    ? new Recorder({ history: options.inspectHistory, maxBytes: options.inspectMaxBytes })
    : undefined;
  let inspector: InspectorHandle | undefined;
  // Served on the inspector's port only: without it nobody could scrape them.
  const metrics = inspectAddr ? createClientMetrics() : undefined;
  const verifier = createVerifier(options);
  const verifyMode = options.verifyMode ?? CLIENT_DEFAULTS.verifyMode;

  let channel = await obtainChannel(options, serverUrl, targetUrl);
  const webhookUrlOf = (id: string) => new URL(`webhook/${id}`, baseUrl(serverUrl)).href;
  const announce = () => {
    print(`Issued Channel ID: ${channel.channel_id}`);
    print(`Please set the webhook destination as follows: ${webhookUrlOf(channel.channel_id)}`);
  };

  const offline = options.offline ?? CLIENT_DEFAULTS.offline;
  const ackedIdsFor = () =>
    AckedIds.open(options.stateFile, channel.channel_id, CLIENT_DEFAULTS.ackedIdsKept);
  let acked = await ackedIdsFor();
  /** The acked ids of the current channel (a stale channel is replaced by a new one). */
  const ackedNow = async () => {
    if (acked.channelId !== channel.channel_id) acked = await ackedIdsFor();
    return acked;
  };
  // Queued deliveries reach the app one after another, in the order the server sent them.
  const turns = new QueuedTurns();
  const skipQueued = async (head: RequestHead, stream: TunnelStream, tunnel: TunnelSession) => {
    const id = head.delivery!.id;
    const chainedOk = await turns.wait(stream, head.delivery!.chained === true);
    if (!chainedOk) {
      // The one before it failed: the server re-sends from that one, so this one must wait.
      tunnel.sendControl(FrameType.Nack, stream.id, encodeNack({ id, reason: "skipped" }));
      turns.done(stream, false);
      return true;
    }
    // A new channel has no acked ids yet: nothing to skip.
    if (acked.channelId !== channel.channel_id || !acked.has(id)) return false;
    log.info("Skipped queued webhook {deliveryId}: already delivered (a redelivery)", {
      deliveryId: id,
    });
    tunnel.sendControl(FrameType.Ack, stream.id, encodeAck({ id, status: 0 }));
    turns.done(stream, true);
    return true;
  };
  /** Tells the server how a queued delivery went: ACK once the app answered (and it is saved). */
  const settleQueued = async (
    result: ForwardResult,
    stream: TunnelStream,
    tunnel: TunnelSession,
  ) => {
    const id = result.head.delivery!.id;
    if (typeof result.status === "number") {
      const saving = (await ackedNow()).add(id);
      // The next one may go to the app while the id is saved; the ACK waits for the save (the
      // saves, and so the ACKs, keep their order).
      turns.done(stream, true);
      await saving.catch((error) =>
        log.warn("Cannot save acked delivery {deliveryId} to the state file: {error}", {
          deliveryId: id,
          error: String(error),
        })
      );
      tunnel.sendControl(FrameType.Ack, stream.id, encodeAck({ id, status: result.status }));
    } else {
      const reason = result.status === "target_unreachable"
        ? "unreachable"
        : result.status === "target_timeout"
        ? "timeout"
        : "error";
      tunnel.sendControl(FrameType.Nack, stream.id, encodeNack({ id, reason }));
      turns.done(stream, false);
    }
  };

  /** Forwards one stream and logs (and, for a queued delivery, settles) the result. */
  const serve = async (stream: TunnelStream, tunnel: TunnelSession, forward: ForwardOptions) => {
    try {
      // Only the access line reads the duration.
      const started = accessLines.enabled ? performance.now() : 0;
      const result = await forwardStream(stream, forward);
      if (result.skipped) return;
      if (result.head.delivery) await settleQueued(result, stream, tunnel);
      metrics?.forwarded(result);
      const verdict = result.verification;
      if (options.json) {
        // The JSON lines (stdout) come from the recorder; a failed check still shows on stderr.
        if (verdict?.result === "invalid") {
          log.warn("{method} {path} verify={verify}", {
            method: result.head.method,
            path: result.head.target || "/",
            verify: formatVerdict(verdict),
          });
        }
        return;
      }
      // Nothing is computed for a line no sink takes (`--log-level` above INFO).
      if (!accessLines.enabled) return;
      const delivery = result.delivery;
      const queued = result.head.delivery;
      accessLines.write(
        (delivery ? 1 : 0) | (verdict ? 2 : 0) | (queued ? 4 : 0) | (result.failure ? 8 : 0),
        {
          provider: delivery?.provider,
          provider_delivery: delivery?.id,
          deliveryId: queued?.id,
          attempt: queued?.attempt,
          failure: result.failure,
          verify: verdict && formatVerdict(verdict),
          method: result.head.method,
          path: result.head.target || "/",
          status: result.status,
          durationMs: Math.round((performance.now() - started) * 10) / 10,
          requestBytes: result.requestBytes,
          responseBytes: result.responseBytes,
        },
      );
    } catch (error) {
      if (!(error instanceof StreamResetError)) {
        log.warn("Request failed: {error}", { error: String(error) });
      }
    } finally {
      turns.done(stream, false);
      if (--inFlight === 0) allDone?.resolve();
    }
  };

  const onStream = (stream: TunnelStream, tunnel: TunnelSession, forward: ForwardOptions) => {
    if (stop.signal.aborted) {
      stream.reset("shutting_down", "The client is shutting down");
      return;
    }
    inFlight++;
    serve(stream, tunnel, forward);
  };

  const connect = async (): Promise<WsClient> => {
    const wsUrl = new URL(`ws/${channel.channel_id}`, baseUrl(serverUrl));
    wsUrl.protocol = wsUrl.protocol === "https:" ? "wss:" : "ws:";
    const headers: Record<string, string> = {
      [PROTOCOL_HEADER]: String(PROTOCOL_VERSION),
      "x-channel-secret": channel.channel_secret,
      [OFFLINE_HEADER]: offline,
      [QUEUE_WINDOW_HEADER]: String(MAX_QUEUE_WINDOW),
    };
    if (options.authToken) headers.authorization = `Bearer ${options.authToken}`;
    // No abort signal: aborting one closes an established socket, and shutdown must first let
    // in-flight requests finish. The connect timeout bounds a hanging attempt.
    const ws = await connectWebSocket(wsUrl, {
      headers,
      caCerts: options.caCerts,
      insecure: options.insecure,
      // Silence for this long → ping; as long again → the server is gone: ≤ 24 s < 30 s.
      idleTimeout: KEEPALIVE_INTERVAL,
    });
    // One options object per tunnel, not per request.
    const forward: ForwardOptions = {
      target: targetUrl,
      http: localHttp,
      timeout,
      recorder,
      verifier,
      verifyMode,
      skipQueued: (head, stream) => skipQueued(head, stream, tunnel),
    };
    const tunnel: TunnelSession = new TunnelSession(ws, {
      role: "client",
      onStream: (stream) => onStream(stream, tunnel, forward),
      onControl: (frame) => {
        if (frame.type !== FrameType.Notice) {
          throw new ProtocolError("Unexpected ACK/NACK from the server");
        }
        const { dropped, queued } = decodeNotice(frame.payload);
        if (dropped > 0) print(`Dropped ${dropped} queued webhooks (retention)`);
        if (queued > 0) log.info("{queued} queued webhooks to deliver", { queued });
      },
    });
    session = tunnel;
    ws.onMessage = (data) => {
      try {
        tunnel.receive(data);
      } catch (error) {
        const message = error instanceof ProtocolError ? error.message : String(error);
        log.error("The server broke the protocol: {message}", { message });
        ws.close(CLOSE_POLICY_VIOLATION, message.slice(0, 120));
      }
    };
    metrics?.tunnelUp(true);
    ws.closed.then(() => {
      metrics?.tunnelUp(false);
      tunnel.close();
    });
    return ws;
  };

  /**
   * Connects, handling refusals: a stale channel (server key changed, channel expired) is
   * replaced by a new one, which is announced again; a refused token or protocol is fatal; a
   * busy channel (a server of an older release refusing a second client while our previous socket
   * is not yet noticed dead; current servers let the new client take over) and network errors are retried
   * with backoff, during start-up for at most `startupRetryWindow`.
   */
  const connectHandlingRefusals = async (starting: boolean): Promise<WsClient | undefined> => {
    const giveUpAt = Date.now() + CLIENT_DEFAULTS.startupRetryWindow;
    let attempt = 0;
    while (!stop.signal.aborted) {
      try {
        const ws = await connect();
        channel.fresh = false;
        return ws;
      } catch (error) {
        const reason = refusalReason(error);
        if (reason === "fatal") {
          throw new ClientError(`The server refused the tunnel: ${describeConnectError(error)}`, {
            cause: error,
          });
        }
        if (reason === "stale_channel" && !channel.fresh) {
          log.warn(
            "The server no longer accepts channel {channelId} ({error}); getting a new one: update the webhook URL",
            { channelId: channel.channel_id, error: describeConnectError(error) },
          );
          try {
            channel = await issueChannel(options, serverUrl, targetUrl);
          } catch (issueError) {
            // At start-up this is fatal (nothing printed yet); later, keep trying forever.
            if (starting) throw issueError;
            log.warn("Getting a new channel failed: {error}; retrying", {
              error: (issueError as Error).message,
            });
            await sleep(backoff(attempt++), stop.signal);
            continue;
          }
          if (!starting) announce();
          continue;
        }
        if (starting && (reason === "stale_channel" || Date.now() > giveUpAt)) {
          throw new ClientError(`Cannot open the tunnel: ${describeConnectError(error)}`, {
            cause: error,
          });
        }
        log.warn("Connecting failed: {error}; retrying", { error: describeConnectError(error) });
        await sleep(backoff(attempt++), stop.signal);
      }
    }
    return undefined;
  };

  socket = await connectHandlingRefusals(true);
  announce();
  print("A tunnel to the server has been established.");
  if (options.json) {
    recorder!.subscribe((delivery) => {
      if (delivery && delivery.outcome !== "pending") print(JSON.stringify(delivery.summary()));
    });
  }
  if (inspectAddr) {
    inspector = openInspector({
      addr: inspectAddr,
      token: options.inspectToken,
      recorder: recorder!,
      http: localHttp,
      target: targetUrl,
      timeout,
      verifier,
      metrics: () => metrics!.response(),
      warn: (line) => log.warn("{line}", { line }),
    });
    if (inspector) print(`Inspector: ${inspector.url}`);
  }

  const finished = (async () => {
    while (!stop.signal.aborted) {
      const closed = await Promise.race([socket!.closed, aborted(stop.signal)]);
      if (stop.signal.aborted) break;
      if (closed?.code === CLOSE_TAKEN_OVER) {
        // Reconnecting would take the channel back from the newer client, which would do the
        // same: two clients sharing a channel would take it from each other forever.
        stop.abort();
        const stopping = inspector;
        inspector = undefined;
        await stopping?.shutdown();
        await localHttp.close();
        throw new ClientError(
          `Channel "${channel.channel_id}" was taken over (${
            closed.reason || "a newer client attached"
          }); this client stops instead of taking it back: stop the other client, or give this one its own --state-file to get a channel of its own`,
        );
      }
      log.warn("The tunnel closed (code {code}{reason}); reconnecting", {
        code: closed?.code,
        reason: closed?.reason ? `: ${closed.reason}` : "",
      });
      await sleep(backoff(0), stop.signal);
      const next = await connectHandlingRefusals(false);
      if (!next) break;
      if (stop.signal.aborted) {
        // Ctrl-C arrived while connecting: do not leave the new socket open.
        next.close(CLOSE_NORMAL, "Client shutting down");
        break;
      }
      socket = next;
      metrics?.reconnected();
      print("Reconnected: the tunnel to the server is re-established.");
    }
  })();
  finished.catch(() => {});

  let stopping: Promise<void> | undefined;
  const shutdown = () =>
    stopping ??= (async () => {
      stop.abort();
      const grace = AbortSignal.timeout(CLIENT_DEFAULTS.shutdownGrace);
      if (inFlight > 0) {
        allDone = Promise.withResolvers();
        await Promise.race([allDone.promise, aborted(grace)]);
      }
      session?.flush();
      await socket?.drained();
      socket?.close(CLOSE_NORMAL, "Client shutting down");
      await socket?.closed;
      await finished.catch(() => {});
      await inspector?.shutdown();
      await localHttp.close();
    })();
  options.signal?.addEventListener("abort", () => shutdown(), { once: true });
  return {
    get channelId() {
      return channel.channel_id;
    },
    get webhookUrl() {
      return webhookUrlOf(channel.channel_id);
    },
    finished,
    shutdown,
  };
}

/**
 * The signature verifier for `options.verify`, or `undefined` when no rule is configured.
 * @throws {ClientError} When a rule cannot be parsed (the message never contains a secret).
 */
function createVerifier(options: ClientOptions): Verifier | undefined {
  if (!options.verify?.length) return undefined;
  const rules = options.verify.map((text, i) => {
    try {
      return parseVerifyRule(text);
    } catch (error) {
      throw new ClientError(`Verify rule ${i + 1}: ${(error as Error).message}`, { cause: error });
    }
  });
  const verifier = new Verifier(rules, {
    tolerance: options.verifyTolerance ?? CLIENT_DEFAULTS.verifyTolerance,
    maxBody: options.verifyMaxBody ?? CLIENT_DEFAULTS.verifyMaxBody,
  });
  log.info("Signature checks for {providers} ({mode} mode)", {
    providers: verifier.providers.join(", "),
    mode: options.verifyMode ?? CLIENT_DEFAULTS.verifyMode,
  });
  return verifier;
}

/**
 * Classifies a failed connect: `stale_channel` (the server does not know the channel or its
 * secret: get a new one), `fatal` (token refused, protocol mismatch: retrying cannot help) or
 * `retry` (busy channel, network trouble, server restarting).
 */
function refusalReason(error: unknown): "stale_channel" | "fatal" | "retry" {
  if (!(error instanceof WsHandshakeError)) return "retry";
  let reason: unknown;
  try {
    reason = JSON.parse(error.body).reason;
  } catch {
    reason = undefined;
  }
  if (reason === "channel_secret" || reason === "unknown_channel") return "stale_channel";
  if (reason === "auth_token" || reason === "offline_mode" || error.status === 426) return "fatal";
  return "retry";
}

/** Reconnect delay for the n-th consecutive attempt: exponential with jitter, capped at 30 s. */
export function backoff(attempt: number): number {
  const base = Math.min(
    CLIENT_DEFAULTS.reconnectMaxDelay,
    CLIENT_DEFAULTS.reconnectInitialDelay * 2 ** attempt,
  );
  // "Equal jitter": between half the base and the base, so never above the cap.
  return base / 2 + Math.random() * base / 2;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}

function aborted(signal: AbortSignal): Promise<undefined> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve(undefined);
    signal.addEventListener("abort", () => resolve(undefined), { once: true });
  });
}

function describeConnectError(error: unknown): string {
  if (error instanceof WsHandshakeError) return `HTTP ${error.status} ${error.body.slice(0, 300)}`;
  return error instanceof Error ? error.message : String(error);
}
