/**
 * Test helper: a headless Chromium (Debian's `chromium`, which `.ci/run` installs when missing)
 * driven through `puppeteer-core`, with a fresh profile in a temp dir, closed on dispose.
 *
 * @module
 */
import puppeteer, { type Browser } from "puppeteer-core";

/** Where Debian's package puts the browser. */
export const CHROMIUM_PATH = "/usr/bin/chromium";

/** A launched browser and its profile dir, disposed together. */
export interface LaunchedChromium extends AsyncDisposable {
  /** The puppeteer browser. */
  browser: Browser;
  /** Closes the browser and removes its profile. */
  close(): Promise<void>;
}

/**
 * Launches headless Chromium (`--no-sandbox`: tests run as root in containers).
 * @returns The browser.
 * @throws {Error} When Chromium is not installed at {@linkcode CHROMIUM_PATH}.
 */
export async function launchChromium(): Promise<LaunchedChromium> {
  try {
    await Deno.stat(CHROMIUM_PATH);
  } catch {
    throw new Error(`Chromium is not installed at ${CHROMIUM_PATH} (apt-get install chromium)`);
  }
  const profile = await Deno.makeTempDir({ prefix: "wow-chromium-" });
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    userDataDir: profile,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"],
  });
  let closing: Promise<void> | undefined;
  const close = () =>
    closing ??= (async () => {
      await browser.close().catch(() => {});
      await Deno.remove(profile, { recursive: true }).catch(() => {});
    })();
  return { browser, close, [Symbol.asyncDispose]: close };
}
