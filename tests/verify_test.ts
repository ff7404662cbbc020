/**
 * End to end: signature checks on a real server + client + app. Deliveries signed by the
 * providers' own libraries go through the server's public URL like a sender's; in `reject` mode
 * the forgeries never reach the app and the sender gets 401, in `flag` mode everything is
 * forwarded and the verdict is in the client's log line.
 */
import assert from "node:assert/strict";
import Stripe from "stripe";
import { sign as githubSign } from "@octokit/webhooks-methods";
import { Webhook } from "standardwebhooks";
import { createHmac } from "node:crypto";
import {
  type Proc,
  pseudoRandomBytes,
  startApp,
  startClientProc,
  startServerProc,
  waitUntil,
} from "./_harness.ts";

const GITHUB = "gh-e2e-secret";
const STRIPE = "whsec_e2e_stripe_secret";
const STANDARD = "whsec_" + btoa("standard webhooks e2e key");
const SLACK = "slack-e2e-signing-secret";
const stripe = new Stripe("sk_test_unused");
const encoder = new TextEncoder();

interface Delivery {
  name: string;
  headers: Record<string, string>;
  body: string | Uint8Array<ArrayBuffer>;
  /** The verdict the client must reach. */
  verdict: RegExp;
}

/** Deliveries signed by the libraries: valid ones and almost-valid ones. */
async function deliveries(): Promise<Delivery[]> {
  const body = JSON.stringify({ action: "opened", number: 7 });
  const now = Math.floor(Date.now() / 1000);
  const big = pseudoRandomBytes(300 * 1024, 7);
  const bigSignature = "sha256=" + createHmac("sha256", GITHUB).update(big).digest("hex");
  const standardAt = new Date();
  const standardHeaders = (secret: string) => ({
    "webhook-id": "msg_e2e",
    "webhook-timestamp": String(Math.floor(standardAt.getTime() / 1000)),
    "webhook-signature": new Webhook(secret).sign("msg_e2e", standardAt, body),
  });
  const slackTs = String(now);
  const slackSig = "v0=" +
    createHmac("sha256", SLACK).update(`v0:${slackTs}:${body}`).digest("hex");
  const tampered = body.replace("7", "8");
  return [
    {
      name: "github valid",
      headers: { "x-github-event": "push", "x-hub-signature-256": await githubSign(GITHUB, body) },
      body,
      verdict: /^valid \(github\)$/,
    },
    {
      name: "github one byte changed",
      headers: { "x-github-event": "push", "x-hub-signature-256": await githubSign(GITHUB, body) },
      body: tampered,
      verdict: /^invalid \(github: bad signature: X-Hub-Signature-256 matches none of the 2/,
    },
    {
      name: "github missing header",
      headers: { "x-github-event": "push" },
      body,
      verdict: /^invalid \(github: missing header X-Hub-Signature-256\)$/,
    },
    {
      name: "github streamed 300 KiB valid",
      headers: { "x-github-event": "push", "x-hub-signature-256": bigSignature },
      body: big,
      verdict: /^valid \(github\)$/,
    },
    {
      name: "github streamed 300 KiB, last byte changed",
      headers: { "x-github-event": "push", "x-hub-signature-256": bigSignature },
      body: big.with(big.length - 1, big[big.length - 1] ^ 1),
      verdict: /^invalid \(github: bad signature/,
    },
    {
      name: "stripe valid",
      headers: {
        "stripe-signature": await stripe.webhooks.generateTestHeaderStringAsync({
          payload: body,
          secret: STRIPE,
        }),
      },
      body,
      verdict: /^valid \(stripe\)$/,
    },
    {
      name: "stripe expired",
      headers: {
        "stripe-signature": await stripe.webhooks.generateTestHeaderStringAsync({
          payload: body,
          secret: STRIPE,
          timestamp: now - 600,
        }),
      },
      body,
      verdict: /^invalid \(stripe: expired: the timestamp is 6\d\d s old \(tolerance 300 s\)\)$/,
    },
    {
      name: "standard valid",
      headers: standardHeaders(STANDARD),
      body,
      verdict: /^valid \(standard\)$/,
    },
    {
      name: "standard wrong secret",
      headers: standardHeaders("whsec_" + btoa("some other key")),
      body,
      verdict: /^invalid \(standard: bad signature/,
    },
    {
      name: "slack valid",
      headers: { "x-slack-request-timestamp": slackTs, "x-slack-signature": slackSig },
      body,
      verdict: /^valid \(slack\)$/,
    },
    {
      name: "slack stale",
      headers: {
        "x-slack-request-timestamp": String(now - 3600),
        "x-slack-signature": "v0=" +
          createHmac("sha256", SLACK).update(`v0:${now - 3600}:${body}`).digest("hex"),
      },
      body,
      verdict: /^invalid \(slack: expired/,
    },
    {
      name: "unsigned",
      headers: { "content-type": "text/plain" },
      body: "no signature at all",
      verdict: /^unchecked \(unsigned: /,
    },
  ];
}

Deno.test("client --verify: reject mode keeps forgeries from the app (401), flag mode forwards all with the verdict logged", async () => {
  const seen: string[] = [];
  await using app = startApp(async (request) => {
    seen.push(`${request.headers.get("x-case")} ${(await request.arrayBuffer()).byteLength}`);
    return new Response("app ok");
  });
  await using server = await startServerProc();
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/secrets`;
    await Deno.writeTextFile(
      file,
      `# kept out of shell history\nstandard=${STANDARD}\nslack=${SLACK}\n`,
    );
    // Flags for one client, the same rules through WOW_* for the other (commas split rules).
    const flags = [
      "--verify",
      "github=an-old-secret",
      "--verify",
      `github=${GITHUB}`,
      "--verify",
      `stripe=${STRIPE}`,
      "--verify-file",
      file,
    ];
    const env = {
      WOW_VERIFY: `github=an-old-secret,github=${GITHUB},stripe=${STRIPE}`,
      WOW_VERIFY_FILE: file,
    };
    await using reject = await startClientProc(
      server.url,
      app.url,
      [...flags, "--verify-mode", "reject"],
    );
    await using flag = await startClientProc(server.url, app.url, [], env);
    for (const [mode, client] of [["reject", reject], ["flag", flag]] as const) {
      for (const delivery of await deliveries()) {
        const label = `${mode}: ${delivery.name}`;
        const before = seen.length;
        const logged = verdictsOf(client).length;
        const response = await fetch(`${client.webhookUrl}/hook`, {
          method: "POST",
          headers: { ...delivery.headers, "x-case": label },
          body: delivery.body,
        });
        const text = await response.text();
        const invalid = delivery.verdict.source.startsWith("^invalid");
        if (mode === "reject" && invalid) {
          assert.equal(response.status, 401, `${label}: ${text}`);
          const answer = JSON.parse(text);
          assert.match(answer.error, /^Signature check failed \(\w+\): /, label);
          assert.equal(answer.verification.result, "invalid", label);
          assert.equal(seen.length, before, `${label}: the app saw nothing`);
        } else {
          assert.equal(response.status, 200, `${label}: ${text}`);
          assert.equal(text, "app ok");
          const size = typeof delivery.body === "string"
            ? encoder.encode(delivery.body).length
            : delivery.body.length;
          assert.deepEqual(seen.slice(before), [`${label} ${size}`]);
        }
        assert.match(await nextVerdict(client, logged, label), delivery.verdict, label);
      }
    }
    assert.ok(
      [...reject.stderr, ...reject.stdout].some((line) =>
        line.includes("Signature checks for github, stripe, standard, slack (reject mode)")
      ),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** The verdicts in the client's delivery log lines so far, in order. */
function verdictsOf(client: Proc): string[] {
  return [...client.stderr, ...client.stdout]
    .filter((line) => / POST \/hook \d+ .* verify=/.test(line))
    .map((line) => line.slice(line.indexOf(" verify=") + " verify=".length));
}

/** Waits for the client's log line of the next delivery and returns its verdict. */
async function nextVerdict(client: Proc, before: number, label: string): Promise<string> {
  const verdicts = await waitUntil(() => {
    const all = verdictsOf(client);
    return all.length > before ? all : undefined;
  }, `${label}: the client's log line`);
  return verdicts![before];
}
