import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { SignJWT, type JWTPayload } from "jose";
import type { SpiffeBundle } from "./bundle.js";
import { TrustDomain } from "./spiffe-id.js";
import { JwtSvidError, type JwtSvidErrorCode } from "./jwt-svid-error.js";
import { validateJwtSvid, type JwtSvidTrust } from "./jwt-svid-validation.js";

const NOW_S = 1_800_000_000;
const TD = TrustDomain.parse("example.org");
const SUB = "spiffe://example.org/workload/a";

const ec256 = generateKeyPairSync("ec", { namedCurve: "P-256" });
const ec384 = generateKeyPairSync("ec", { namedCurve: "P-384" });
const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
const stranger = generateKeyPairSync("ec", { namedCurve: "P-256" });

const bundle: SpiffeBundle = {
  trustDomain: TD,
  sequence: 1,
  x509Authorities: [],
  jwtAuthorities: [
    { keyId: "ec256", publicKey: ec256.publicKey },
    { keyId: "ec384", publicKey: ec384.publicKey },
    { keyId: "rsa", publicKey: rsa.publicKey },
  ],
};
const trust: JwtSvidTrust = { trustDomain: TD, bundle, nowMs: NOW_S * 1000 };

const claims = (overrides: JWTPayload = {}): JWTPayload => ({
  sub: SUB,
  aud: ["svc"],
  exp: NOW_S + 300,
  iat: NOW_S - 10,
  ...overrides,
});

async function token(
  payload: JWTPayload,
  header: { alg: string; kid?: string; typ?: string } = { alg: "ES256", kid: "ec256" },
  key: KeyObject | Uint8Array = ec256.privateKey,
): Promise<string> {
  return new SignJWT(payload).setProtectedHeader(header).sign(key);
}

function b64(json: unknown): string {
  return Buffer.from(JSON.stringify(json)).toString("base64url");
}

async function refused(jwt: string, code: JwtSvidErrorCode, audience = "svc"): Promise<JwtSvidError> {
  const err = await validateJwtSvid(jwt, audience, trust).then(
    () => assert.fail(`accepted a token that should fail with ${code}`),
    (e: unknown) => e,
  );
  assert.ok(err instanceof JwtSvidError, String(err));
  assert.equal(err.code, code, err.message);
  assert.equal(err.category, "invalid_argument");
  return err;
}

describe("validateJwtSvid", () => {
  it("accepts a token signed by a bundle key with an allowed algorithm, and returns its subject and every claim", async () => {
    const cases: [string, string, KeyObject][] = [
      ["ES256", "ec256", ec256.privateKey],
      ["ES384", "ec384", ec384.privateKey],
      ["RS256", "rsa", rsa.privateKey],
      ["PS512", "rsa", rsa.privateKey],
    ];
    for (const [alg, kid, key] of cases) {
      const result = await validateJwtSvid(
        await token(claims({ jti: alg, extra: { nested: [1, "x"] } }), { alg, kid, typ: "JWT" }, key),
        "svc",
        trust,
      );
      assert.equal(result.spiffeId.toString(), SUB);
      assert.deepEqual(result.claims, claims({ jti: alg, extra: { nested: [1, "x"] } }), alg);
    }
    const single = await validateJwtSvid(await token(claims({ aud: "svc" })), "svc", trust);
    assert.equal(single.spiffeId.toString(), SUB, "aud as a single string");
    await validateJwtSvid(await token(claims(), { alg: "ES256", kid: "ec256", typ: "JOSE" }), "svc", trust);
  });

  it("refuses alg none, HMAC and any algorithm outside RS/ES/PS 256/384/512, before touching a key", async () => {
    const unsigned = `${b64({ alg: "none", kid: "ec256" })}.${b64(claims())}.`;
    assert.match((await refused(unsigned, "JWT_ALGORITHM_NOT_ALLOWED")).message, /"none" is not allowed/);
    const hmac = await token(claims(), { alg: "HS256", kid: "ec256" }, new Uint8Array(32).fill(7));
    await refused(hmac, "JWT_ALGORITHM_NOT_ALLOWED");
    const eddsa = generateKeyPairSync("ed25519");
    await refused(
      await token(claims(), { alg: "EdDSA", kid: "ec256" }, eddsa.privateKey),
      "JWT_ALGORITHM_NOT_ALLOWED",
    );
  });

  it("refuses a token whose kid is missing or names no bundle key", async () => {
    await refused(await token(claims(), { alg: "ES256" }), "JWT_KEY_ID_MISSING");
    const err = await refused(await token(claims(), { alg: "ES256", kid: "who" }), "JWT_KEY_NOT_FOUND");
    assert.match(err.message, /"who"/);
  });

  it("refuses a signature by another key, one for another algorithm than the key's, and a payload changed after signing", async () => {
    await refused(
      await token(claims(), { alg: "ES256", kid: "ec256" }, stranger.privateKey),
      "JWT_SIGNATURE_INVALID",
    );
    await refused(
      await token(claims(), { alg: "RS256", kid: "ec256" }, rsa.privateKey),
      "JWT_SIGNATURE_INVALID",
    );
    await refused(
      await token(claims(), { alg: "ES384", kid: "ec256" }, ec384.privateKey),
      "JWT_SIGNATURE_INVALID",
    );
    const [header, , signature] = (await token(claims())).split(".");
    const forged = `${header}.${b64(claims({ sub: "spiffe://example.org/workload/admin" }))}.${signature}`;
    await refused(forged, "JWT_SIGNATURE_INVALID");
  });

  it("refuses a token whose aud does not hold the audience, or that has none", async () => {
    const err = await refused(await token(claims({ aud: ["other", "more"] })), "JWT_AUDIENCE_MISMATCH");
    assert.match(err.message, /"svc"/);
    const { aud: _aud, ...noAud } = claims();
    await refused(await token(noAud), "JWT_AUDIENCE_MISMATCH");
  });

  it("refuses a token without exp, at or past exp, or before nbf (no leeway)", async () => {
    const { exp: _exp, ...noExp } = claims();
    await refused(await token(noExp), "JWT_EXPIRY_MISSING");
    await refused(await token(claims({ exp: "soon" as unknown as number })), "JWT_EXPIRY_MISSING");
    await refused(await token(claims({ exp: NOW_S })), "JWT_EXPIRED");
    await refused(await token(claims({ exp: NOW_S - 1 })), "JWT_EXPIRED");
    await refused(await token(claims({ nbf: NOW_S + 1 })), "JWT_NOT_YET_VALID");
    await validateJwtSvid(await token(claims({ exp: NOW_S + 1, nbf: NOW_S })), "svc", trust);
  });

  it("refuses a sub that is missing, not a SPIFFE ID, or a trust domain's own ID", async () => {
    const { sub: _sub, ...noSub } = claims();
    await refused(await token(noSub), "JWT_SUBJECT_INVALID");
    await refused(await token(claims({ sub: "workload-a" })), "JWT_SUBJECT_INVALID");
    await refused(await token(claims({ sub: "spiffe://Example.org/a" })), "JWT_SUBJECT_INVALID");
    await refused(await token(claims({ sub: "spiffe://example.org" })), "JWT_SUBJECT_INVALID");
  });

  it("refuses a token of another trust domain, naming it", async () => {
    const err = await refused(
      await token(claims({ sub: "spiffe://other.org/x" })),
      "JWT_FOREIGN_TRUST_DOMAIN",
    );
    assert.match(err.message, /spiffe:\/\/other\.org/);
  });

  it("refuses what is not a JWS compact serialization, or a typ other than JWT/JOSE", async () => {
    await refused("not-a-token", "JWT_MALFORMED");
    await refused(`${b64({ alg: "ES256", kid: "ec256" })}.bm90LWpzb24.c2ln`, "JWT_MALFORMED");
    await refused(
      await token(claims(), { alg: "ES256", kid: "ec256", typ: "at+jwt" }),
      "JWT_TYPE_NOT_ALLOWED",
    );
  });
});
