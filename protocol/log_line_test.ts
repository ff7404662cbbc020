import assert from "node:assert/strict";
import { configure, getLogger, getTextFormatter, type LogRecord, reset } from "@logtape/logtape";
import { LogLine, LogLines } from "./log_line.ts";

const TEMPLATE =
  "{method} {path} {status} {durationMs}ms req={requestBytes}B resp={responseBytes}B";

async function capture(level: "info" | "error"): Promise<LogRecord[]> {
  const records: LogRecord[] = [];
  await configure({
    reset: true,
    sinks: { capture: (record) => records.push(record) },
    loggers: [
      { category: ["t"], lowestLevel: level, sinks: ["capture"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: [] },
    ],
  });
  return records;
}

Deno.test("LogLine builds the record logger.info builds, so formatters write the same bytes", async () => {
  const records = await capture("info");
  const logger = getLogger(["t", "x"]);
  const properties = {
    provider: undefined,
    method: "POST",
    path: "/webhook/a/b",
    status: 200,
    durationMs: 1.5,
    requestBytes: 1024,
    responseBytes: 2,
    channelId: "a",
  };
  logger.info(TEMPLATE, properties);
  new LogLine(logger, "info", TEMPLATE).write(properties);
  await reset();
  assert.equal(records.length, 2);
  const [viaInfo, viaLine] = records;
  for (const key of ["category", "level", "message", "rawMessage", "properties"] as const) {
    assert.deepEqual(viaLine[key], viaInfo[key], key);
  }
  assert.deepEqual(Object.keys(viaLine.properties), Object.keys(viaInfo.properties));
  const format = getTextFormatter({ timestamp: "disabled" });
  assert.equal(format(viaLine), format(viaInfo));
});

Deno.test("LogLine skips a filtered level and notices a new configuration", async () => {
  const records = await capture("error");
  const line = new LogLine(getLogger(["t"]), "info", "{a} and {b}");
  assert.equal(line.enabled, false);
  line.write({ a: 1, b: 2 });
  assert.equal(records.length, 0);
  const after = await capture("info");
  assert.equal(line.enabled, true);
  line.write({ a: 1, b: 2 });
  await reset();
  assert.deepEqual(after.map((r) => r.message), [["", 1, " and ", 2, ""]]);
});

Deno.test("LogLines appends the optional parts whose bits are set", async () => {
  const records = await capture("info");
  const lines = new LogLines(getLogger(["t"]), "info", "{a}", [" x={x}", " y={y}"]);
  lines.write(0, { a: 1 });
  lines.write(2, { a: 1, y: 3 });
  lines.write(3, { a: 1, x: 2, y: 3 });
  await reset();
  assert.deepEqual(records.map((r) => r.rawMessage), ["{a}", "{a} y={y}", "{a} x={x} y={y}"]);
});

Deno.test("LogLine refuses templates it would render differently from LogTape", () => {
  for (const template of ["{a.b}", "{*}", "{{a}}", "a } b", "{ a }"]) {
    assert.throws(() => new LogLine(getLogger(["t"]), "info", template), TypeError, template);
  }
});

Deno.test("LogLine honours configured filters (through logger.emit)", async () => {
  const records: LogRecord[] = [];
  await configure({
    reset: true,
    sinks: { capture: (record) => records.push(record) },
    filters: { odd: (record) => (record.properties.n as number) % 2 === 1 },
    loggers: [
      { category: ["t"], lowestLevel: "info", sinks: ["capture"], filters: ["odd"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: [] },
    ],
  });
  const line = new LogLine(getLogger(["t", "y"]), "info", "n={n}");
  for (let n = 0; n < 4; n++) line.write({ n });
  await reset();
  assert.deepEqual(records.map((r) => r.properties.n), [1, 3]);
});

Deno.test("LogLine reports a failing sink on LogTape's meta logger and still feeds the others", async () => {
  const records: LogRecord[] = [];
  const meta: LogRecord[] = [];
  await configure({
    reset: true,
    sinks: {
      broken: () => {
        throw new Error("disk full");
      },
      capture: (record) => records.push(record),
      meta: (record) => meta.push(record),
    },
    loggers: [
      { category: ["t"], lowestLevel: "info", sinks: ["broken", "capture"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["meta"] },
    ],
  });
  new LogLine(getLogger(["t"]), "info", "x={x}").write({ x: 1 });
  await reset();
  assert.equal(records.length, 1);
  assert.match(String(meta[0]?.properties.error), /disk full/);
});
