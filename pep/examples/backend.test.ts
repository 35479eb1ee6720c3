import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import { describe, it } from "node:test";
import { ManualClock } from "../../common/clock.js";
import { RevocationSet } from "../revocation-set.js";
import { TestIssuer } from "../testdata/test-issuer.js";
import { createOrdersBackend } from "./backend.js";

const ISSUER = "https://hallmark.test:8443";
const BACKEND = "https://orders.example.test";
const PLANNER = "spiffe://example.org/agent/planner";

async function running(t: { after: (fn: () => Promise<void>) => void }) {
  const clock = new ManualClock(Date.UTC(2026, 10, 30, 12));
  const issuer = await TestIssuer.create(ISSUER, clock);
  const revocations = new RevocationSet({ clock });
  revocations.markSynced();
  const server = createOrdersBackend({
    audience: BACKEND,
    issuer: ISSUER,
    jwks: issuer.jwks,
    clock,
    revocations,
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/orders`;
  const get = async (token?: string) => {
    const res = await fetch(
      url,
      token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } },
    );
    return {
      status: res.status,
      body: (await res.json()) as Record<string, unknown>,
      challenge: res.headers.get("www-authenticate"),
    };
  };
  const issue = (scope: string) => issuer.issue({ user: "alice", actor: PLANNER, scope, audience: BACKEND });
  return { clock, issue, revocations, get };
}

describe("example backend", () => {
  it("answers 200 with the user and the actor chain for a token with orders:read", async (t) => {
    const { issue, get } = await running(t);
    const { token } = await issue("orders:read");
    const res = await get(token);
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { user: "alice", actors: [PLANNER], scopes: ["orders:read"], orders: [] });
  });

  it("answers 401 TOKEN_MISSING without a bearer token", async (t) => {
    const { get } = await running(t);
    const res = await get();
    assert.equal(res.status, 401);
    assert.equal(res.body["error"], "TOKEN_MISSING");
  });

  it("answers 401 with the reason code for a revoked token", async (t) => {
    const { issue, revocations, get } = await running(t);
    const { token, claims } = await issue("orders:read");
    revocations.add({ kind: "jti", value: claims.jti, revokedAt: claims.iat, expiresAt: claims.exp });
    const res = await get(token);
    assert.equal(res.status, 401);
    assert.equal(res.body["error"], "REVOKED");
    assert.match(res.challenge ?? "", /error="invalid_token"/);
  });

  it("answers 403 SCOPE_MISSING for a valid token without orders:read", async (t) => {
    const { issue, get } = await running(t);
    const { token } = await issue("orders:write");
    const res = await get(token);
    assert.equal(res.status, 403);
    assert.equal(res.body["error"], "SCOPE_MISSING");
    assert.match(res.challenge ?? "", /error="insufficient_scope"/);
  });

  it("answers 503 REVOCATIONS_STALE when it cannot know whether the token is revoked", async (t) => {
    const { clock, issue, get } = await running(t);
    const { token } = await issue("orders:read");
    clock.advance(16_000);
    const res = await get(token);
    assert.equal(res.status, 503);
    assert.equal(res.body["error"], "REVOCATIONS_STALE");
  });
});
