/**
 * Helpers for the metrics tests: scrape a `/metrics` endpoint, sum samples of a series in the
 * Prometheus text format, and run `promtool check metrics` on a scrape.
 *
 * @module
 */

/** Debian's promtool (the `prometheus` package). */
export const PROMTOOL = "/usr/bin/promtool";

/**
 * Sums every sample of `name` (any labels) whose label text includes `match`.
 * @param text A scrape in the Prometheus text format.
 * @param name The series name (with `_bucket`/`_sum`/`_count` for histogram parts).
 * @param match A substring the labels must contain, e.g. `code="200"`.
 * @returns The sum (0 when there is no such sample).
 */
export function sumOf(text: string, name: string, match = ""): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    if (line.startsWith("#") || line === "") continue;
    const series = line.slice(0, line.lastIndexOf(" "));
    const bare = series.split("{")[0];
    if (bare !== name || !series.includes(match)) continue;
    sum += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return sum;
}

/**
 * `GET <url>/metrics`, with a bearer token when given.
 * @param url The base URL.
 * @param token The bearer token.
 * @returns The response.
 */
export async function scrape(url: string, token?: string): Promise<Response> {
  return await fetch(`${url}/metrics`, {
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
}

/**
 * Runs `promtool check metrics` on `text` (stdin).
 * @param text A scrape.
 * @returns promtool's exit code and its output.
 */
export async function promtoolCheckMetrics(
  text: string,
): Promise<{ code: number; output: string }> {
  const child = new Deno.Command(PROMTOOL, {
    args: ["check", "metrics"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(text));
  await writer.close();
  const { code, stdout, stderr } = await child.output();
  const decoder = new TextDecoder();
  return { code, output: decoder.decode(stdout) + decoder.decode(stderr) };
}
