/**
 * The client's state file: the channel it used per (server URL, target URL), so that the next
 * start reuses the same channel and the webhook URL stays the same.
 *
 * Format (JSON, mode 0600, written atomically by rename):
 * `{"version":1,"channels":{"<server-url> <target-url>":{"channel_id":"…","channel_secret":"…"}}}`
 *
 * @module
 */

/** A saved channel. */
export interface SavedChannel {
  /** The channel id. */
  channel_id: string;
  /** Its secret, sent as `X-Channel-Secret`. */
  channel_secret: string;
}

interface StateFile {
  version: 1;
  channels: Record<string, SavedChannel>;
}

/** File mode of the state file: it holds secrets, so only the owner may read it. */
const STATE_FILE_MODE = 0o600;

/**
 * The default state file path: `$XDG_CONFIG_HOME` or `~/.config` on Linux,
 * `~/Library/Application Support` on macOS, `%APPDATA%` on Windows, then
 * `webhook-over-websocket/state.json`.
 *
 * @returns The path, or `undefined` when no home directory is known.
 */
export function defaultStateFile(): string | undefined {
  const env = (name: string) => Deno.env.get(name);
  const home = env("HOME") ?? env("USERPROFILE");
  let base: string | undefined;
  if (Deno.build.os === "windows") base = env("APPDATA");
  else if (Deno.build.os === "darwin") base = home && `${home}/Library/Application Support`;
  else base = env("XDG_CONFIG_HOME") ?? (home && `${home}/.config`);
  return base ? `${base}/webhook-over-websocket/state.json` : undefined;
}

function stateKey(serverUrl: string, targetUrl: string): string {
  return `${serverUrl} ${targetUrl}`;
}

async function readState(path: string): Promise<StateFile> {
  try {
    const parsed = JSON.parse(await Deno.readTextFile(path));
    const channels = parsed?.channels;
    if (
      parsed?.version === 1 && typeof channels === "object" && channels !== null &&
      !Array.isArray(channels)
    ) return parsed;
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound) && !(error instanceof SyntaxError)) throw error;
  }
  return { version: 1, channels: {} };
}

/**
 * Loads the channel saved for this server and target.
 * @param path State file path.
 * @param serverUrl The `--server-url`.
 * @param targetUrl The `--target-url`.
 * @returns The saved channel, if any and well-formed.
 */
export async function loadChannel(
  path: string,
  serverUrl: string,
  targetUrl: string,
): Promise<SavedChannel | undefined> {
  const saved = (await readState(path)).channels[stateKey(serverUrl, targetUrl)];
  if (typeof saved?.channel_id === "string" && typeof saved?.channel_secret === "string") {
    return saved;
  }
  return undefined;
}

/**
 * Saves the channel for this server and target, keeping other entries. Writes a temporary file
 * with mode 0600 beside the state file and renames it over, so a crash never leaves half a file.
 *
 * @param path State file path.
 * @param serverUrl The `--server-url`.
 * @param targetUrl The `--target-url`.
 * @param channel The channel to save.
 */
export async function saveChannel(
  path: string,
  serverUrl: string,
  targetUrl: string,
  channel: SavedChannel,
): Promise<void> {
  const state = await readState(path);
  state.channels[stateKey(serverUrl, targetUrl)] = channel;
  const dir = path.replace(/[/\\][^/\\]*$/, "");
  if (dir && dir !== path) await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  const temp = `${path}.${crypto.randomUUID()}.tmp`;
  try {
    await Deno.writeTextFile(temp, JSON.stringify(state, null, 2) + "\n", {
      mode: STATE_FILE_MODE,
    });
    if (Deno.build.os !== "windows") await Deno.chmod(temp, STATE_FILE_MODE);
    await Deno.rename(temp, path);
  } catch (error) {
    await Deno.remove(temp).catch(() => {});
    throw error;
  }
}
