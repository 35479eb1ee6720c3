import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { SeededRandom } from "../../../common/random.js";
import { RevocationSet } from "../../../pep/revocation-set.js";
import { RevocationStream } from "../../../pep/revocation-stream.js";
import { until } from "../../../pep/testdata/stream-helpers.js";
import { selfSignedLocalhost } from "../../../pep/testdata/tls.js";
import { verifyDelegationToken } from "../../../pep/verify-delegation-token.js";
import { BACKEND, EndpointFixture } from "./testdata/endpoint-fixture.js";
import { foreignSvid } from "./testdata/foreign-svid.js";
import { httpsCall } from "./testdata/https-call.js";
import { BOOKER, PAYER, PLANNER } from "./testdata/service-fixture.js";
import { SseClient, type ClientTls } from "./testdata/sse-client.js";

const admin = { uid: 0 };

describe("GET /revocations over mutual TLS", () => {
  let fixture: EndpointFixture;
  let backend: ClientTls;
  const streams: SseClient[] = [];

  before(async () => {
    fixture = await EndpointFixture.start();
    backend = await fixture.client("/backend/orders");
  });
  after(async () => {
    for (const stream of streams) stream.close();
    await fixture.stop();
  });

  const open = async (headers: Record<string, string> = {}): Promise<SseClient> => {
    const stream = await SseClient.open(`${fixture.base}/revocations`, backend, headers);
    streams.push(stream);
    return stream;
  };
  const revocationIds = (client: SseClient) =>
    client.events.filter((e) => e.type === "revocation").map((e) => Number(e.lastEventId));
  const types = (client: SseClient) => client.events.map((e) => e.type);

  it("pep's verifier, subscribed, refuses the revoked middle token of a three-hop chain and its child, not its parent", async (t) => {
    const set = new RevocationSet({ clock: fixture.clock });
    const stream = new RevocationStream({
      url: `${fixture.base}/revocations`,
      set,
      ca: backend.ca,
      cert: backend.cert!,
      key: backend.key!,
      clock: fixture.clock,
      random: new SeededRandom(17),
    });
    t.after(() => stream.close());
    stream.start();
    await until(stream, (s) => s.state === "live");

    const [root, middle, leaf] = await fixture.chain([PLANNER, BOOKER, PAYER]);
    const verdict = (token: string) =>
      verifyDelegationToken(token, {
        audience: BACKEND,
        issuer: fixture.endpoint.issuer,
        jwks: fixture.jwks(),
        clock: fixture.clock,
        revocations: set,
      }).then(
        () => "accepted",
        (err: { code?: string }) => err.code,
      );
    const verdicts = () => Promise.all([root!, middle!, leaf!].map((token) => verdict(token.token)));
    assert.deepEqual(await verdicts(), ["accepted", "accepted", "accepted"]);

    const revocation = await fixture.service.revoke({ kind: "jti", value: middle!.jti }, admin);
    await until(stream, (s) => s.lastEventId === String(revocation.id));
    assert.deepEqual(await verdicts(), ["accepted", "REVOKED", "REVOKED"]);
  });

  it("starts with retry, sends the snapshot then synced, not stored, then each revocation as committed", async () => {
    const before = await fixture.service.revoke({ kind: "subject", value: "snapshot-user" }, admin);
    const client = await open();
    assert.equal(client.status, 200);
    assert.equal(client.headers["content-type"], "text/event-stream");
    assert.equal(client.headers["cache-control"], "no-store");
    await client.until("synced");
    assert.ok(client.text.startsWith("retry: 1000\n\n"), JSON.stringify(client.text.slice(0, 40)));
    assert.ok(revocationIds(client).includes(before.id));
    assert.equal(types(client).at(-1), "synced");

    const live = await fixture.service.revoke({ kind: "subject", value: "live-user" }, admin);
    await client.until("revocation", revocationIds(client).length + 1);
    const event = client.events.at(-1)!;
    assert.equal(event.lastEventId, String(live.id));
    assert.deepEqual(JSON.parse(event.data), {
      kind: "subject",
      value: "live-user",
      revoked_at: live.revokedAtMs / 1000,
      expires_at: live.expiresAtMs / 1000,
    });
  });

  it("resumes after Last-Event-ID: only later revocations, then synced, no reset", async () => {
    const first = await fixture.service.revoke({ kind: "subject", value: "resume-1" }, admin);
    const second = await fixture.service.revoke({ kind: "subject", value: "resume-2" }, admin);
    const client = await open({ "last-event-id": String(first.id) });
    await client.until("synced");
    assert.deepEqual(revocationIds(client), [second.id]);
    assert.ok(!types(client).includes("reset"));
  });

  it("answers a Last-Event-ID it cannot resume from with reset and the full snapshot", async () => {
    const held = await fixture.service.revoke({ kind: "subject", value: "reset-user" }, admin);
    for (const lastEventId of ["not-a-number", "12abc", String(held.id + 1_000_000)]) {
      const client = await open({ "last-event-id": lastEventId });
      await client.until("synced");
      assert.equal(types(client)[0], "reset", lastEventId);
      assert.ok(revocationIds(client).includes(held.id), lastEventId);
      assert.equal(types(client).at(-1), "synced");
      client.close();
    }
  });

  it("sends a heartbeat every 5 seconds of the server's clock", async () => {
    const client = await open();
    await client.until("synced");
    fixture.clock.advance(5_000);
    const events = await client.until("heartbeat");
    const heartbeat = events.find((e) => e.type === "heartbeat")!;
    assert.deepEqual(JSON.parse(heartbeat.data), { time: Math.floor(fixture.clock.nowMs() / 1000) });
  });

  it("refuses a client without a certificate, with one that is no SVID, or with an SVID of another CA, with 401", async () => {
    const stranger = await selfSignedLocalhost();
    const impostor = await foreignSvid("spiffe://example.org/backend/orders");
    const callers: [string, ClientTls, string][] = [
      ["no certificate", { ca: fixture.bundlePem }, "CLIENT_SVID_REQUIRED"],
      ["a self-signed server certificate", { ca: fixture.bundlePem, ...stranger }, "CLIENT_SVID_UNTRUSTED"],
      [
        "an SVID-shaped certificate of another CA",
        { ca: fixture.bundlePem, ...impostor },
        "CLIENT_SVID_UNTRUSTED",
      ],
    ];
    for (const [who, tls, code] of callers) {
      for (const [method, path] of [
        ["GET", "/revocations"],
        ["POST", "/introspect"],
      ] as const) {
        const answer = await httpsCall(`${fixture.base}${path}`, tls, { method });
        assert.equal(answer.status, 401, `${who} ${path}`);
        assert.equal(answer.headers["content-type"], "application/json");
        const body = JSON.parse(answer.body) as Record<string, unknown>;
        assert.equal(body["error"], "invalid_client");
        assert.equal(body["hallmark_code"], code, `${who} ${path}`);
      }
    }
  });

  it("keeps /token and the published documents open to clients without a certificate", async () => {
    const anyone = { ca: fixture.bundlePem };
    assert.equal((await httpsCall(`${fixture.base}/.well-known/jwks.json`, anyone)).status, 200);
    assert.equal((await httpsCall(`${fixture.base}/.well-known/openid-configuration`, anyone)).status, 200);
    const calls = fixture.tokenCalls.length;
    const answer = await httpsCall(`${fixture.base}/token`, anyone, { method: "POST" });
    assert.equal(answer.status, 400, "the injected token handler answered");
    assert.equal(fixture.tokenCalls.length, calls + 1);
  });
});

describe("revocation streams: slow clients and stopping", () => {
  let fixture: EndpointFixture;
  let backend: ClientTls;

  before(async () => {
    fixture = await EndpointFixture.start({ maxBufferedBytes: 64 * 1024 });
    backend = await fixture.client("/backend/orders");
  });
  after(() => fixture.stop());

  it("closes a stream whose client stops reading once more than the bound waits, rather than buffering", async () => {
    const stalled = await SseClient.open(`${fixture.base}/revocations`, backend, {}, false);
    await waitFor(() => fixture.endpoint.openRevocationStreams === 1);
    const long = "u".repeat(1000);
    let revoked = 0;
    while (fixture.endpoint.openRevocationStreams === 1) {
      await fixture.service.revoke({ kind: "subject", value: `${long}${revoked++}` }, admin);
      assert.ok(revoked < 5_000, "the stalled stream was never closed (5 MB past a 64 KiB bound)");
    }
    await stalled.ended;
    // What a client holding the last id it applied gets when it reconnects: everything after it.
    const resumed = await SseClient.open(`${fixture.base}/revocations`, backend, { "last-event-id": "0" });
    await resumed.until("synced");
    assert.equal(resumed.events.filter((e) => e.type === "revocation").length, revoked);
    resumed.close();
  });

  it("ends every stream cleanly when the endpoint stops", async () => {
    const client = await SseClient.open(`${fixture.base}/revocations`, backend);
    await client.until("synced");
    await fixture.restartEndpoint();
    assert.deepEqual(await client.ended, { complete: true });
  });
});

/** Polls (on real time) until `predicate` holds; the test runner's timeout bounds it. */
async function waitFor(predicate: () => boolean): Promise<void> {
  while (!predicate()) await new Promise((resolve) => setTimeout(resolve, 5));
}
