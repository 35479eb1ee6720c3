import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ManualClock } from "../common/clock.js";
import { RevocationSet } from "./revocation-set.js";
import { TestIssuer } from "./testdata/test-issuer.js";
import { refusalCode } from "./testdata/verify-helpers.js";
import { verifyDelegationToken, type VerifyDelegationOptions } from "./verify-delegation-token.js";

const ISSUER = "https://hallmark.test:8443";
const BACKEND = "https://orders.example.test";
const PLANNER = "spiffe://example.org/agent/planner";
const BOOKER = "spiffe://example.org/agent/booker";
const PAYER = "spiffe://example.org/agent/payer";

async function chain() {
  const clock = new ManualClock(Date.UTC(2026, 10, 30, 12));
  const issuer = await TestIssuer.create(ISSUER, clock);
  const revocations = new RevocationSet({ clock, graceMs: 15_000 });
  revocations.markSynced();
  const options: VerifyDelegationOptions = {
    audience: BACKEND,
    issuer: ISSUER,
    jwks: issuer.jwks,
    clock,
    revocations,
  };
  const hop = { user: "alice", scope: "orders:read", audience: BACKEND };
  const first = await issuer.issue({ ...hop, actor: PLANNER });
  const second = await issuer.issue({ ...hop, actor: BOOKER, parent: first });
  const third = await issuer.issue({ ...hop, actor: PAYER, parent: second });
  const verdicts = async () =>
    Promise.all(
      [first, second, third].map((t) =>
        verifyDelegationToken(t.token, options).then(
          () => "accepted",
          async (err: unknown) => refusalCode(Promise.reject(err as Error)),
        ),
      ),
    );
  const now = Math.floor(clock.nowMs() / 1000);
  return { clock, issuer, revocations, first, second, third, verdicts, now };
}

describe("RevocationSet", () => {
  it("revoking the middle token of a three-hop chain refuses it and its descendant, not its ancestor", async () => {
    const { revocations, second, verdicts, now } = await chain();
    assert.deepEqual(await verdicts(), ["accepted", "accepted", "accepted"]);
    revocations.add({ kind: "jti", value: second.claims.jti, revokedAt: now, expiresAt: now + 300 });
    assert.deepEqual(await verdicts(), ["accepted", "REVOKED", "REVOKED"]);
  });

  it("a chain revocation refuses every token of the chain", async () => {
    const { revocations, first, verdicts, now } = await chain();
    revocations.add({
      kind: "chain",
      value: first.claims.hallmark_chain,
      revokedAt: now,
      expiresAt: now + 300,
    });
    assert.deepEqual(await verdicts(), ["REVOKED", "REVOKED", "REVOKED"]);
  });

  it("an agent revocation refuses every token naming that agent anywhere in act", async () => {
    const { revocations, verdicts, now } = await chain();
    revocations.add({ kind: "agent", value: BOOKER, revokedAt: now, expiresAt: now + 300 });
    assert.deepEqual(await verdicts(), ["accepted", "REVOKED", "REVOKED"]);
  });

  it("an agent revocation does not reach tokens issued after it (the kill switch was lifted)", async () => {
    const { clock, issuer, revocations, now } = await chain();
    revocations.add({ kind: "agent", value: PLANNER, revokedAt: now, expiresAt: now + 300 });
    clock.advance(60_000);
    revocations.heard();
    const later = await issuer.issue({ user: "alice", actor: PLANNER, scope: "s", audience: BACKEND });
    const options = { audience: BACKEND, issuer: ISSUER, jwks: issuer.jwks, clock, revocations };
    assert.equal((await verifyDelegationToken(later.token, options)).user, "alice");
  });

  it("a subject revocation refuses every token for that user", async () => {
    const { revocations, verdicts, now } = await chain();
    revocations.add({ kind: "subject", value: "alice", revokedAt: now, expiresAt: now + 300 });
    assert.deepEqual(await verdicts(), ["REVOKED", "REVOKED", "REVOKED"]);
  });

  it("is stale past the grace with nothing heard, and fresh again on the next heartbeat", async () => {
    const { clock, revocations, verdicts } = await chain();
    clock.advance(15_000);
    assert.deepEqual(await verdicts(), ["accepted", "accepted", "accepted"]);
    clock.advance(1);
    assert.deepEqual(await verdicts(), ["REVOCATIONS_STALE", "REVOCATIONS_STALE", "REVOCATIONS_STALE"]);
    revocations.heard();
    assert.deepEqual(await verdicts(), ["accepted", "accepted", "accepted"]);
  });

  it("a reset empties the set and leaves it stale until the snapshot is synced", async () => {
    const { revocations, second, verdicts, now } = await chain();
    revocations.add({ kind: "jti", value: second.claims.jti, revokedAt: now, expiresAt: now + 300 });
    revocations.reset();
    assert.equal(revocations.size, 0);
    assert.deepEqual(await verdicts(), ["REVOCATIONS_STALE", "REVOCATIONS_STALE", "REVOCATIONS_STALE"]);
    revocations.markSynced();
    assert.deepEqual(await verdicts(), ["accepted", "accepted", "accepted"]);
  });

  it("forgets revocations once every token they cover has expired", async () => {
    const { clock, revocations, now } = await chain();
    revocations.add({ kind: "jti", value: "old", revokedAt: now, expiresAt: now + 10 });
    revocations.add({ kind: "jti", value: "young", revokedAt: now, expiresAt: now + 300 });
    clock.advance(41_000);
    revocations.pruneExpired(30);
    assert.equal(revocations.size, 1);
  });
});
