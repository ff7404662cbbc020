import assert from "node:assert/strict";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

/** Runs the real program (a child process, so WOW_* stays out of this one) and returns stderr. */
async function stderrOf(args: string[], env: Record<string, string> = {}) {
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    env,
    stdout: "null",
    stderr: "piped",
  }).output();
  return { code, text: new TextDecoder().decode(stderr) };
}

Deno.test("a bad secret flag value is never echoed, given as a flag or as WOW_* (quotes included)", async () => {
  const base = ["client", "--server-url", "http://127.0.0.1:9"];
  const cases: [string[], Record<string, string>, RegExp][] = [
    [[...base, "--verify", "hun'ter2xyz"], {}, /argument '\*\*\*' is invalid\. Cannot parse/],
    [base, { WOW_VERIFY: "bad'provider=hun'ter2xyz" }, /value '\*\*\*' from env 'WOW_VERIFY'/],
    [["server", "--gossip-key", "hun'ter2xyz"], {}, /argument '\*\*\*' is invalid/],
    [["server"], { WOW_GOSSIP_KEY: "hun'ter2xyz" }, /value '\*\*\*' from env 'WOW_GOSSIP_KEY'/],
  ];
  for (const [args, env, expected] of cases) {
    const { code, text } = await stderrOf(args, env);
    assert.equal(code, 2, text);
    assert.match(text, expected);
    assert.ok(!text.includes("ter2xyz"), text);
  }
});
