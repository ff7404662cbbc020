import assert from "node:assert/strict";
import { getTextFormatter, type LogLevel, type LogRecord } from "@logtape/logtape";
import { logFormatter, plainValue } from "./logging.ts";

Deno.test("logFormatter text writes what LogTape's text formatter writes, byte for byte", () => {
  const logtape = getTextFormatter({ timestamp: "date-time-tz", value: plainValue });
  const ours = logFormatter("text");
  const levels: LogLevel[] = ["trace", "debug", "info", "warning", "error", "fatal"];
  const messages: unknown[][] = [
    ["Listening"],
    ["", "POST", " ", "/webhook/x", " ", 200, " ", 1.5, "ms"],
    ["a ", { nested: [1, "x"] }, " b ", -0, " c ", undefined, ""],
    ["ünïcode ", "→", ""],
  ];
  // Whole seconds, tens and units of milliseconds, and the turn of a year.
  const times = [0, 1_765_075_813_000, 1_765_075_813_004, 1_765_075_813_040, 1_798_761_599_999];
  for (const level of levels) {
    for (const message of messages) {
      for (const timestamp of times) {
        const record = {
          category: ["wow", "server"],
          level,
          message,
          rawMessage: "",
          timestamp,
          properties: {},
        } as LogRecord;
        assert.equal(ours(record), logtape(record));
      }
    }
  }
});
