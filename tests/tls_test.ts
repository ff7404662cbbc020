/**
 * End to end: the server serves HTTPS/WSS directly; the client follows https→wss and trusts a
 * private CA with --ca-file, or skips verification with --insecure.
 */
import assert from "node:assert/strict";
import { makeCertificates } from "../client/_test_certs.ts";
import { spawnMain, startApp, startClientProc, startServerProc } from "./_harness.ts";

Deno.test("TLS: https server, client with --ca-file or --insecure, refusal without either", async (t) => {
  const { ca, cert, key } = await makeCertificates();
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/ca.pem`, ca);
  await Deno.writeTextFile(`${dir}/cert.pem`, cert);
  await Deno.writeTextFile(`${dir}/key.pem`, key);
  const httpClient = Deno.createHttpClient({ caCerts: [ca] });
  await using app = startApp(async (request) => new Response(`secure:${await request.text()}`));
  await using server = await startServerProc(
    ["--tls-cert", `${dir}/cert.pem`, "--tls-key", `${dir}/key.pem`],
    { scheme: "https", httpClient },
  );
  assert.match(server.url, /^https:/);

  await t.step("--ca-file: the tunnel runs over wss and delivers", async () => {
    await using client = await startClientProc(server.url, app.url, ["--ca-file", `${dir}/ca.pem`]);
    assert.match(client.webhookUrl, /^https:\/\//);
    const response = await fetch(client.webhookUrl, {
      method: "POST",
      body: "x",
      client: httpClient,
    });
    assert.equal(await response.text(), "secure:x");
  });

  await t.step("--insecure: works without the CA", async () => {
    await using client = await startClientProc(server.url, app.url, ["--insecure"]);
    const response = await fetch(client.webhookUrl, {
      method: "POST",
      body: "y",
      client: httpClient,
    });
    assert.equal(await response.text(), "secure:y");
  });

  await t.step("neither: the client exits with a certificate error", async () => {
    const proc = spawnMain([
      "client",
      "--server-url",
      server.url,
      "--target-url",
      app.url,
      "--state-file",
      `${dir}/state.json`,
    ]);
    const status = await proc.status;
    assert.notEqual(status.code, 0);
    assert.match(proc.stderr.join("\n"), /Cannot reach the server.*(certificate|UnknownIssuer)/i);
  });

  await t.step("--tls-cert without --tls-key is a usage error (exit 2)", async () => {
    const proc = spawnMain(["server", "--tls-cert", `${dir}/cert.pem`]);
    assert.equal((await proc.status).code, 2);
    assert.match(proc.stderr.join("\n"), /--tls-cert and --tls-key must be given together/);
  });
  httpClient.close();
  await Deno.remove(dir, { recursive: true });
});
