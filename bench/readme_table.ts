/**
 * Writes the README's performance table from the last `deno task bench` run: reads
 * `.bench-out/results.json` and replaces what stands between `<!-- bench:table -->` and
 * `<!-- /bench:table -->` in README.md with one row per matrix cell (body, senders, req/s direct
 * and through the tunnel, ratio, p50/p99, added p50, and CPU µs per webhook of the server, the
 * client and the app, plus webhooks per second per server core).
 *
 * Usage: `deno task bench:readme` after `deno task bench`; `--print` prints the table instead.
 *
 * @module
 */

/** One matrix cell as bench/main.ts writes it to results.json. */
interface ResultCell {
  size: number;
  concurrency: number;
  direct: { rps: number; p50_us: number; p99_us: number };
  tunnel: { rps: number; p50_us: number; p99_us: number };
  ratio: number;
  addedP50Ms: number;
  cpu?: { direct: { app: number }; tunnel: { server?: number; client?: number; app: number } };
}

const START = "<!-- bench:table -->";
const END = "<!-- /bench:table -->";

/**
 * Renders the cells as a Markdown table.
 * @param cells The matrix cells, in the bench's order.
 * @returns The table, without surrounding blank lines.
 */
export function renderTable(cells: ResultCell[]): string {
  const size = (n: number) => n >= 1 << 20 ? `${n / (1 << 20)} MiB` : `${n / 1024} KiB`;
  const us = (n: number | undefined) => n === undefined ? "–" : n.toFixed(0);
  const ms = (n: number) => (n / 1000).toFixed(2);
  const header = [
    "body",
    "senders",
    "direct req/s",
    "tunnel req/s",
    "ratio",
    "tunnel p50 / p99 ms",
    "added p50 ms",
    "server CPU µs/webhook",
    "client CPU µs/webhook",
    "app CPU µs/request",
    "webhooks/s per server core",
  ];
  const rows = cells.map((c) => [
    size(c.size),
    String(c.concurrency),
    c.direct.rps.toFixed(0),
    c.tunnel.rps.toFixed(0),
    c.ratio.toFixed(2),
    `${ms(c.tunnel.p50_us)} / ${ms(c.tunnel.p99_us)}`,
    c.addedP50Ms.toFixed(2),
    us(c.cpu?.tunnel.server),
    us(c.cpu?.tunnel.client),
    us(c.cpu?.direct.app),
    c.cpu?.tunnel.server ? (1e6 / c.cpu.tunnel.server).toFixed(0) : "–",
  ]);
  const line = (cols: string[]) => `| ${cols.join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}

/**
 * Replaces the marked table in `readme`.
 * @param readme README text with both markers.
 * @param table The new table.
 * @returns The new README text.
 */
export function replaceTable(readme: string, table: string): string {
  const start = readme.indexOf(START);
  const end = readme.indexOf(END);
  if (start < 0 || end < start) {
    throw new Error(`README.md has no "${START}" … "${END}" section to replace`);
  }
  return `${readme.slice(0, start + START.length)}\n\n${table}\n\n${readme.slice(end)}`;
}

if (import.meta.main) {
  const root = new URL("..", import.meta.url).pathname;
  const results = JSON.parse(await Deno.readTextFile(`${root}.bench-out/results.json`));
  const table = renderTable(results.cells as ResultCell[]);
  if (Deno.args.includes("--print")) {
    console.log(table);
  } else {
    const readme = await Deno.readTextFile(`${root}README.md`);
    await Deno.writeTextFile(`${root}README.md`, replaceTable(readme, table));
    console.log(`README.md: table of ${results.cells.length} cells from ${results.date}`);
  }
}
