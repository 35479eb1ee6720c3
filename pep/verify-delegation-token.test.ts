import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createLocalJWKSet, jwtVerify, SignJWT } from "jose";
import { ManualClock } from "../common/clock.js";
import { DelegationVerifyError } from "./errors.js";
import { RevocationSet } from "./revocation-set.js";
import { TestIssuer } from "./testdata/test-issuer.js";
import { refusalCode } from "./testdata/verify-helpers.js";
import { verifyDelegationToken, type VerifyDelegationOptions } from "./verify-delegation-token.js";

const ISSUER = "https://hallmark.test:8443";
const BACKEND = "https://orders.example.test";
const PLANNER = "spiffe://example.org/agent/planner";
const BOOKER = "spiffe://example.org/agent/booker";
const PAYER = "spiffe://example.org/agent/payer";

async function setup(alg: "ES256" | "ES384" = "ES256") {
  const clock = new ManualClock(Date.UTC(2026, 10, 30, 12));
  const issuer = await TestIssuer.create(ISSUER, clock, { alg });
  const options: VerifyDelegationOptions = { audience: BACKEND, issuer: ISSUER, jwks: issuer.jwks, clock };
  const first = await issuer.issue({
    user: "alice",
    actor: PLANNER,
    scope: "orders:read orders:write",
    audience: BACKEND,
  });
  /** The refusal of a depth-1 token whose claims `override` changes. */
  const refuse = async (override: Record<string, unknown>) => {
    const t = await issuer.issue({ user: "alice", actor: PLANNER, scope: "s", audience: BACKEND, override });
    return refusalCode(verifyDelegationToken(t.token, options));
  };
  /** A depth-2 token exchanged from `first`, with `override` applied to its claims. */
  const child = (override: Record<string, unknown> = {}) =>
    issuer.issue({ user: "alice", actor: BOOKER, scope: "s", audience: BACKEND, parent: first, override });
  return { clock, issuer, options, first, refuse, child };
}

describe("verifyDelegationToken", () => {
  it("accepts a token made per the contract and returns the user, the actor, the scopes and the ids", async () => {
    const { options, first } = await setup();
    const result = await verifyDelegationToken(first.token, { ...options, requiredScope: "orders:read" });
    assert.equal(result.user, "alice");
    assert.deepEqual(result.actors, [PLANNER]);
    assert.deepEqual(result.scopes, ["orders:read", "orders:write"]);
    assert.equal(result.jti, first.claims.jti);
    assert.equal(result.chainId, first.claims.hallmark_chain);
    assert.equal(result.depth, 1);
    assert.deepEqual(result.ancestors, []);
    assert.equal(result.expiresAt.getTime(), first.claims.exp * 1000);
  });

  it("returns a three-hop chain outermost actor first, with the ancestors root first", async () => {
    const { issuer, options, first } = await setup();
    const second = await issuer.issue({
      user: "alice",
      actor: BOOKER,
      scope: "orders:read",
      audience: BACKEND,
      parent: first,
    });
    const third = await issuer.issue({
      user: "alice",
      actor: PAYER,
      scope: "orders:read",
      audience: BACKEND,
      parent: second,
    });
    const result = await verifyDelegationToken(third.token, options);
    assert.deepEqual(result.actors, [PAYER, BOOKER, PLANNER]);
    assert.equal(result.depth, 3);
    assert.deepEqual(result.ancestors, [first.claims.jti, second.claims.jti]);
    assert.equal(result.chainId, first.claims.hallmark_chain);
  });

  it("accepts typ application/at+jwt in any case (RFC 7515 4.1.9)", async () => {
    const { issuer, options, first } = await setup();
    const token = await issuer.sign({ ...first.claims, aud: BACKEND }, { typ: "Application/AT+JWT" });
    assert.equal((await verifyDelegationToken(token, options)).user, "alice");
  });

  it("takes a space-separated requiredScope as several scopes, all needed", async () => {
    const { options, first } = await setup();
    const both = await verifyDelegationToken(first.token, {
      ...options,
      requiredScope: "orders:write orders:read",
    });
    assert.equal(both.user, "alice");
    const code = await refusalCode(
      verifyDelegationToken(first.token, { ...options, requiredScope: "orders:read admin" }),
    );
    assert.equal(code, "SCOPE_MISSING");
  });

  it("accepts ES384 tokens (a P-384 HSM key)", async () => {
    const { options, first } = await setup("ES384");
    assert.equal((await verifyDelegationToken(first.token, options)).user, "alice");
  });

  it("is plain JWT: jose alone verifies the test issuer's token against its JWKS", async () => {
    const { issuer, clock, first } = await setup();
    const { payload, protectedHeader } = await jwtVerify(first.token, createLocalJWKSet(issuer.jwks), {
      issuer: ISSUER,
      audience: BACKEND,
      typ: "at+jwt",
      algorithms: ["ES256"],
      currentDate: clock.now(),
    });
    assert.equal(protectedHeader.kid, "test-es256");
    assert.deepEqual(payload["act"], { sub: PLANNER });
  });

  it("refuses with a typed DelegationVerifyError whose category maps to HTTP", async () => {
    const { options, first } = await setup();
    const err = await verifyDelegationToken(first.token, { ...options, requiredScope: "admin" }).catch(
      (e: unknown) => e,
    );
    assert.ok(err instanceof DelegationVerifyError);
    assert.equal(err.code, "SCOPE_MISSING");
    assert.equal(err.category, "permission_denied");
    assert.doesNotMatch(err.message, new RegExp(first.token.slice(0, 20)));
  });

  describe("refusals, one reason each", () => {
    it("TOKEN_MALFORMED: not a compact JWS", async () => {
      const { options } = await setup();
      assert.equal(await refusalCode(verifyDelegationToken("not.a-token", options)), "TOKEN_MALFORMED");
    });

    it("TOKEN_MALFORMED: a signed payload that is not JSON", async () => {
      const { issuer, options } = await setup();
      const token = await issuer.signBytes(new TextEncoder().encode("hello"));
      assert.equal(await refusalCode(verifyDelegationToken(token, options)), "TOKEN_MALFORMED");
    });

    it("TOKEN_MALFORMED: typ is not at+jwt (a JWT-SVID signed by the same key is not a delegation)", async () => {
      const { issuer, options, first } = await setup();
      const token = await issuer.sign({ ...first.claims }, { typ: "JWT" });
      assert.equal(await refusalCode(verifyDelegationToken(token, options)), "TOKEN_MALFORMED");
    });

    it("TOKEN_MALFORMED: no jti", async () => {
      const { refuse } = await setup();
      assert.equal(await refuse({ jti: undefined }), "TOKEN_MALFORMED");
    });

    it("SIGNATURE_INVALID: signed by another key under the same kid", async () => {
      const { clock, options } = await setup();
      const impostor = await TestIssuer.create(ISSUER, clock);
      const t = await impostor.issue({ user: "alice", actor: PLANNER, scope: "s", audience: BACKEND });
      assert.equal(await refusalCode(verifyDelegationToken(t.token, options)), "SIGNATURE_INVALID");
    });

    it("SIGNATURE_INVALID: a payload changed after signing", async () => {
      const { options, first } = await setup();
      const [header, , signature] = first.token.split(".");
      const forged = Buffer.from(JSON.stringify({ ...first.claims, scope: "admin" })).toString("base64url");
      assert.equal(
        await refusalCode(verifyDelegationToken(`${header}.${forged}.${signature}`, options)),
        "SIGNATURE_INVALID",
      );
    });

    it("SIGNATURE_INVALID: an algorithm other than ES256/ES384 (HS256 with a shared secret)", async () => {
      const { options, first } = await setup();
      const token = await new SignJWT({ ...first.claims, aud: BACKEND })
        .setProtectedHeader({ alg: "HS256", typ: "at+jwt", kid: "test-es256" })
        .sign(new TextEncoder().encode("a-shared-secret-of-32-bytes-long!"));
      assert.equal(await refusalCode(verifyDelegationToken(token, options)), "SIGNATURE_INVALID");
    });

    it("JWKS_UNAVAILABLE: the key source fails", async () => {
      const { options, first } = await setup();
      const jwks = () => Promise.reject(new Error("connect ECONNREFUSED"));
      assert.equal(
        await refusalCode(verifyDelegationToken(first.token, { ...options, jwks })),
        "JWKS_UNAVAILABLE",
      );
    });

    it("ISSUER_MISMATCH", async () => {
      const { options, first } = await setup();
      const code = await refusalCode(
        verifyDelegationToken(first.token, { ...options, issuer: "https://other:8443" }),
      );
      assert.equal(code, "ISSUER_MISMATCH");
    });

    it("AUDIENCE_MISMATCH", async () => {
      const { options, first } = await setup();
      const code = await refusalCode(
        verifyDelegationToken(first.token, { ...options, audience: "https://billing.test" }),
      );
      assert.equal(code, "AUDIENCE_MISMATCH");
    });

    it("audience null (the issuer checking its own token): any aud, but aud must still be well formed", async () => {
      const { options, first, issuer } = await setup();
      const anyAudience = { ...options, audience: null };
      assert.deepEqual((await verifyDelegationToken(first.token, anyAudience)).audience, [BACKEND]);
      const bad = await issuer.issue({
        user: "alice",
        actor: PLANNER,
        scope: "s",
        audience: BACKEND,
        override: { aud: 7 },
      });
      assert.equal(await refusalCode(verifyDelegationToken(bad.token, anyAudience)), "AUDIENCE_MISMATCH");
    });

    it("EXPIRED: past exp by more than the tolerance, accepted within it", async () => {
      const { clock, options, first } = await setup();
      clock.set((first.claims.exp + 29) * 1000);
      assert.equal((await verifyDelegationToken(first.token, options)).user, "alice");
      clock.advance(2_000);
      assert.equal(await refusalCode(verifyDelegationToken(first.token, options)), "EXPIRED");
      assert.equal(
        (await verifyDelegationToken(first.token, { ...options, clockToleranceSeconds: 60 })).user,
        "alice",
      );
    });

    it("NOT_YET_VALID: nbf beyond the tolerance", async () => {
      const { clock, refuse } = await setup();
      const nbf = Math.floor(clock.nowMs() / 1000) + 31;
      assert.equal(await refuse({ nbf }), "NOT_YET_VALID");
    });

    it("NOT_YET_VALID: issued in the future beyond the tolerance", async () => {
      const { clock, refuse } = await setup();
      const iat = Math.floor(clock.nowMs() / 1000) + 120;
      assert.equal(await refuse({ iat, nbf: undefined }), "NOT_YET_VALID");
    });

    it("SCOPE_MISSING: one of the required scopes is absent", async () => {
      const { options, first } = await setup();
      const code = await refusalCode(
        verifyDelegationToken(first.token, { ...options, requiredScope: ["orders:read", "orders:refund"] }),
      );
      assert.equal(code, "SCOPE_MISSING");
    });

    it("ACT_CHAIN_INVALID: an actor that is not a SPIFFE ID", async () => {
      const { refuse } = await setup();
      const act = { sub: "planner-bot" };
      assert.equal(await refuse({ act, client_id: "planner-bot" }), "ACT_CHAIN_INVALID");
    });

    it("ACT_CHAIN_INVALID: act is not a nested object", async () => {
      const { refuse } = await setup();
      assert.equal(await refuse({ act: [PLANNER] }), "ACT_CHAIN_INVALID");
    });

    it("ACT_CHAIN_INVALID: more actors than the depth claim says (an actor smuggled in)", async () => {
      const { refuse } = await setup();
      const act = { sub: PLANNER, act: { sub: BOOKER } };
      assert.equal(await refuse({ act }), "ACT_CHAIN_INVALID");
    });

    it("ACT_CHAIN_INVALID: client_id is not the current actor", async () => {
      const { refuse } = await setup();
      assert.equal(await refuse({ client_id: BOOKER }), "ACT_CHAIN_INVALID");
    });

    it("DEPTH_INVALID: depth not a positive integer", async () => {
      const { refuse } = await setup();
      for (const depth of [0, 1.5, "1", undefined])
        assert.equal(await refuse({ hallmark_depth: depth }), "DEPTH_INVALID", `depth ${String(depth)}`);
    });

    it("DEPTH_INVALID: deeper than maxDepth", async () => {
      const { options, child } = await setup();
      const second = await child();
      assert.equal(
        await refusalCode(verifyDelegationToken(second.token, { ...options, maxDepth: 1 })),
        "DEPTH_INVALID",
      );
    });

    it("DEPTH_INVALID: the ancestors disagree with the depth", async () => {
      const { options, child } = await setup();
      const second = await child({ hallmark_ancestors: [] });
      assert.equal(await refusalCode(verifyDelegationToken(second.token, options)), "DEPTH_INVALID");
    });

    it("REVOKED: its jti is in the revocation set", async () => {
      const { clock, options, first } = await setup();
      const revocations = new RevocationSet({ clock });
      revocations.markSynced();
      revocations.add({
        kind: "jti",
        value: first.claims.jti,
        revokedAt: first.claims.iat,
        expiresAt: first.claims.exp,
      });
      assert.equal(
        await refusalCode(verifyDelegationToken(first.token, { ...options, revocations })),
        "REVOKED",
      );
    });

    it("REVOCATIONS_STALE: the revocation set has never synced", async () => {
      const { clock, options, first } = await setup();
      const revocations = new RevocationSet({ clock });
      assert.equal(
        await refusalCode(verifyDelegationToken(first.token, { ...options, revocations })),
        "REVOCATIONS_STALE",
      );
    });
  });
});
