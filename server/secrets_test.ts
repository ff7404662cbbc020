import assert from "node:assert/strict";
import { ChannelSecrets } from "./secrets.ts";

const ID = "0b7a2f6e-3c1d-4e5f-8a9b-0c1d2e3f4a5b";
const OTHER_ID = "1c8b3a7f-4d2e-4f60-9bac-1d2e3f4a5b6c";

Deno.test("ChannelSecrets.secretFor is the same for the same key and id", () => {
  const a = new ChannelSecrets("key-1");
  const b = new ChannelSecrets(new TextEncoder().encode("key-1"));
  assert.equal(a.secretFor(ID), b.secretFor(ID));
  assert.equal(a.secretFor(ID), a.secretFor(ID));
  assert.match(a.secretFor(ID), /^[A-Za-z0-9_-]{43}$/); // base64url SHA-256, no padding
});

Deno.test("ChannelSecrets.secretFor differs for another key or another id", () => {
  const a = new ChannelSecrets("key-1");
  assert.notEqual(a.secretFor(ID), new ChannelSecrets("key-2").secretFor(ID));
  assert.notEqual(a.secretFor(ID), a.secretFor(OTHER_ID));
});

Deno.test("ChannelSecrets uses a random key when none is given", () => {
  assert.notEqual(new ChannelSecrets().secretFor(ID), new ChannelSecrets().secretFor(ID));
});

Deno.test("ChannelSecrets.verify accepts the channel's secret", () => {
  const secrets = new ChannelSecrets("key");
  assert.equal(secrets.verify(ID, secrets.secretFor(ID)), true);
  assert.equal(new ChannelSecrets("key").verify(ID, secrets.secretFor(ID)), true);
});

Deno.test("ChannelSecrets.verify rejects missing, wrong and other channels' secrets", () => {
  const secrets = new ChannelSecrets("key");
  const good = secrets.secretFor(ID);
  for (
    const presented of [undefined, null, "", "x", good.slice(0, -1), good + "A", good.toUpperCase()]
  ) {
    assert.equal(secrets.verify(ID, presented), false, String(presented));
  }
  assert.equal(secrets.verify(ID, secrets.secretFor(OTHER_ID)), false);
  assert.equal(secrets.verify(ID, new ChannelSecrets("other-key").secretFor(ID)), false);
  // Same length in UTF-16 units but not in bytes must not throw in timingSafeEqual.
  assert.equal(secrets.verify(ID, "\u00e9".repeat(good.length)), false);
});

Deno.test("ChannelSecrets.issueId makes UUID v4 ids that only the same key recognises", () => {
  const a = new ChannelSecrets("key-a");
  const sameKey = new ChannelSecrets("key-a");
  const b = new ChannelSecrets("key-b");
  const ids = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const id = a.issueId();
    assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.ok(a.isIssued(id));
    assert.ok(sameKey.isIssued(id));
    assert.ok(!b.isIssued(id));
    ids.add(id);
  }
  assert.equal(ids.size, 200);
  assert.ok(!a.isIssued(crypto.randomUUID()));
  assert.ok(!a.isIssued("not-a-uuid"));
});
