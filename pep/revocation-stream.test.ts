import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { ManualClock } from "../common/clock.js";
import { SeededRandom } from "../common/random.js";
import type { RevocationStreamError } from "./errors.js";
import { RevocationSet } from "./revocation-set.js";
import { RevocationStream } from "./revocation-stream.js";
import { TestIssuer } from "./testdata/test-issuer.js";
import { TestRevocationServer } from "./testdata/revocation-server.js";
import { until } from "./testdata/stream-helpers.js";
import { selfSignedLocalhost } from "./testdata/tls.js";
import { refusalCode } from "./testdata/verify-helpers.js";
import { verifyDelegationToken, type VerifyDelegationOptions } from "./verify-delegation-token.js";

const ISSUER = "https://hallmark.test:8443";
const BACKEND = "https://orders.example.test";
const PLANNER = "spiffe://example.org/agent/planner";
const BOOKER = "spiffe://example.org/agent/booker";
const PAYER = "spiffe://example.org/agent/payer";
/** Past the client's longest backoff (5 s), so advancing by it always fires the pending retry. */
const PAST_BACKOFF_MS = 5_000;

let tls: { cert: string; key: string };
before(async () => {
  tls = await selfSignedLocalhost();
});

async function subscribed(t: { after: (fn: () => Promise<void> | void) => void }) {
  const clock = new ManualClock(Date.UTC(2026, 10, 30, 12));
  const server = await TestRevocationServer.start(tls);
  const set = new RevocationSet({ clock, graceMs: 15_000 });
  const errors: RevocationStreamError[] = [];
  const stream = new RevocationStream({
    url: server.url,
    set,
    ca: tls.cert,
    clock,
    random: new SeededRandom(7),
    onError: (err) => errors.push(err),
  });
  t.after(async () => {
    stream.close();
    await server.close();
  });
  const issuer = await TestIssuer.create(ISSUER, clock);
  const options: VerifyDelegationOptions = {
    audience: BACKEND,
    issuer: ISSUER,
    jwks: issuer.jwks,
    clock,
    revocations: set,
  };
  const verdict = (token: string) =>
    verifyDelegationToken(token, options).then(
      () => "accepted",
      (err: unknown) => refusalCode(Promise.reject(err as Error)),
    );
  const now = Math.floor(clock.nowMs() / 1000);
  return { clock, server, set, stream, errors, issuer, verdict, now };
}

describe("RevocationStream", () => {
  it("refuses until the stream has synced, then accepts (fail closed at start)", async (t) => {
    const { stream, issuer, verdict } = await subscribed(t);
    const token = await issuer.issue({ user: "alice", actor: PLANNER, scope: "s", audience: BACKEND });
    assert.equal(await verdict(token.token), "REVOCATIONS_STALE");
    stream.start();
    await until(stream, (s) => s.state === "live");
    assert.equal(await verdict(token.token), "accepted");
  });

  it("a revocation pushed on the stream is refused by the subscribed verifier", async (t) => {
    const { server, stream, issuer, verdict, now } = await subscribed(t);
    const token = await issuer.issue({ user: "alice", actor: PLANNER, scope: "s", audience: BACKEND });
    stream.start();
    await until(stream, (s) => s.state === "live");
    assert.equal(await verdict(token.token), "accepted");
    const id = server.revoke({ kind: "jti", value: token.claims.jti, revokedAt: now, expiresAt: now + 300 });
    await until(stream, (s) => s.lastEventId === id);
    assert.equal(await verdict(token.token), "REVOKED");
  });

  it("a pushed revocation of a three-hop chain's middle token refuses it and its descendant, not its ancestor", async (t) => {
    const { server, stream, issuer, verdict, now } = await subscribed(t);
    const hop = { user: "alice", scope: "s", audience: BACKEND };
    const first = await issuer.issue({ ...hop, actor: PLANNER });
    const second = await issuer.issue({ ...hop, actor: BOOKER, parent: first });
    const third = await issuer.issue({ ...hop, actor: PAYER, parent: second });
    stream.start();
    await until(stream, (s) => s.state === "live");
    const id = server.revoke({ kind: "jti", value: second.claims.jti, revokedAt: now, expiresAt: now + 300 });
    await until(stream, (s) => s.lastEventId === id);
    assert.deepEqual(await Promise.all([first, second, third].map((x) => verdict(x.token))), [
      "accepted",
      "REVOKED",
      "REVOKED",
    ]);
  });

  it("revocations made before the verifier subscribed arrive in the snapshot", async (t) => {
    const { server, stream, issuer, verdict, now } = await subscribed(t);
    const token = await issuer.issue({ user: "alice", actor: PLANNER, scope: "s", audience: BACKEND });
    server.revoke({ kind: "subject", value: "alice", revokedAt: now, expiresAt: now + 300 });
    stream.start();
    await until(stream, (s) => s.state === "live");
    assert.equal(await verdict(token.token), "REVOKED");
  });

  it("heartbeats keep the set fresh past the grace", async (t) => {
    const { clock, server, stream, issuer, verdict } = await subscribed(t);
    const token = await issuer.issue({ user: "alice", actor: PLANNER, scope: "s", audience: BACKEND });
    stream.start();
    const synced = await until(stream, (s) => s.state === "live");
    clock.advance(9_000);
    server.heartbeat(Math.floor(clock.nowMs() / 1000));
    await until(stream, (s) => s.applied > synced.applied);
    clock.advance(9_000);
    assert.equal(await verdict(token.token), "accepted");
  });

  it("a stream down longer than the grace refuses with REVOCATIONS_STALE; on reconnect it resumes from Last-Event-ID", async (t) => {
    const { clock, server, stream, issuer, verdict, now, errors } = await subscribed(t);
    const kept = await issuer.issue({ user: "alice", actor: PLANNER, scope: "s", audience: BACKEND });
    const doomed = await issuer.issue({ user: "bob", actor: PLANNER, scope: "s", audience: BACKEND });
    stream.start();
    await until(stream, (s) => s.state === "live");
    const first = server.revoke({
      kind: "jti",
      value: "an-earlier-token",
      revokedAt: now,
      expiresAt: now + 300,
    });
    await until(stream, (s) => s.lastEventId === first);

    server.refuseWith = 503;
    server.dropAll();
    await until(stream, (s) => s.state === "waiting");
    // Revoked while this verifier cannot hear it: it must not accept the token meanwhile.
    const missed = server.revoke({
      kind: "jti",
      value: doomed.claims.jti,
      revokedAt: now,
      expiresAt: now + 300,
    });
    clock.advance(PAST_BACKOFF_MS);
    await until(stream, (s) => s.connects === 2 && s.state === "waiting");
    clock.advance(15_000 - PAST_BACKOFF_MS + 1);
    assert.equal(await verdict(kept.token), "REVOCATIONS_STALE");
    assert.equal(await verdict(doomed.token), "REVOCATIONS_STALE");

    server.refuseWith = undefined;
    const connects = (await until(stream, () => true)).connects;
    clock.advance(PAST_BACKOFF_MS);
    await until(stream, (s) => s.connects > connects && s.state === "live" && s.lastEventId === missed);
    assert.equal(server.lastEventIds[0], undefined);
    assert.deepEqual(
      server.lastEventIds.slice(1),
      server.lastEventIds.slice(1).map(() => first),
    );
    assert.equal(await verdict(kept.token), "accepted");
    assert.equal(await verdict(doomed.token), "REVOKED");
    assert.ok(errors.some((e) => e.code === "REVOCATION_STREAM_HTTP_STATUS"));
  });

  it("a malformed event drops the connection without advancing Last-Event-ID", async (t) => {
    const { clock, server, stream, errors } = await subscribed(t);
    stream.start();
    await until(stream, (s) => s.state === "live");
    server.writeRaw("id: 9\nevent: revocation\ndata: {not json\n\n");
    await until(stream, (s) => s.state === "waiting");
    assert.equal(errors[0]?.code, "REVOCATION_EVENT_MALFORMED");
    clock.advance(PAST_BACKOFF_MS);
    await until(stream, (s) => s.connects === 2 && s.state === "live");
    assert.deepEqual(server.lastEventIds, [undefined, undefined]);
  });

  it("a connection silent past the idle timeout is dropped and redialled", async (t) => {
    const { clock, stream, errors } = await subscribed(t);
    stream.start();
    await until(stream, (s) => s.state === "live");
    clock.advance(10_000);
    await until(stream, (s) => s.state === "waiting");
    assert.match(errors[0]?.message ?? "", /nothing received/);
    clock.advance(PAST_BACKOFF_MS);
    await until(stream, (s) => s.connects === 2 && s.state === "live");
  });

  it("a Last-Event-ID the server no longer knows gets a reset: the set is rebuilt from the snapshot", async (t) => {
    const { clock, server, stream, set, verdict, issuer, now } = await subscribed(t);
    const forgotten = await issuer.issue({ user: "alice", actor: PLANNER, scope: "s", audience: BACKEND });
    const current = await issuer.issue({ user: "bob", actor: PLANNER, scope: "s", audience: BACKEND });
    stream.start();
    await until(stream, (s) => s.state === "live");
    const old = server.revoke({
      kind: "jti",
      value: forgotten.claims.jti,
      revokedAt: now,
      expiresAt: now + 300,
    });
    await until(stream, (s) => s.lastEventId === old);
    server.forgetLog();
    server.dropAll();
    const kept = server.revoke({
      kind: "jti",
      value: current.claims.jti,
      revokedAt: now,
      expiresAt: now + 300,
    });
    await until(stream, (s) => s.state === "waiting");
    clock.advance(PAST_BACKOFF_MS);
    await until(stream, (s) => s.connects === 2 && s.state === "live");
    assert.deepEqual(server.lastEventIds, [undefined, old]);
    assert.equal(set.size, 1);
    assert.equal(stream.status.current?.lastEventId, kept);
    assert.equal(await verdict(forgotten.token), "accepted");
    assert.equal(await verdict(current.token), "REVOKED");
  });

  it("never trusts an endpoint whose certificate does not chain to the given bundle", async (t) => {
    const { server, set, errors, issuer, verdict } = await subscribed(t);
    const other = await selfSignedLocalhost();
    const stream = new RevocationStream({
      url: server.url,
      set,
      ca: other.cert,
      onError: (err) => errors.push(err),
    });
    t.after(() => stream.close());
    const token = await issuer.issue({ user: "alice", actor: PLANNER, scope: "s", audience: BACKEND });
    stream.start();
    await until(stream, (s) => s.state === "waiting");
    assert.equal(errors[0]?.code, "REVOCATION_STREAM_LOST");
    assert.equal(server.lastEventIds.length, 0);
    assert.equal(await verdict(token.token), "REVOCATIONS_STALE");
  });
});
