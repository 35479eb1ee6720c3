import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { status, type ServiceError } from "@grpc/grpc-js";
import { SignJWT, createLocalJWKSet, jwtVerify, type JWTPayload } from "jose";
import { ERROR_CODE_METADATA_KEY } from "../../common/grpc/status.js";
import type { Selector } from "../../common/selector.js";
import { jwtAuthoritiesAsJwks } from "../../common/spiffe/bundle.js";
import type { JWTSVIDResponse, ValidateJWTSVIDResponse } from "../../proto/gen/workload.js";
import { testEntry } from "../cache/testdata/test-svid-server.js";
import {
  apiFixtures,
  asCaller,
  callFails,
  callSucceeds,
  type ApiFixture,
} from "./testdata/workload-api-fixture.js";

const uid = (n: number): Selector => ({ type: "unix", value: `uid:${n}` });
const id = (name: string): string => `spiffe://example.org/workload/${name}`;
const MINUTE = 60_000;

const start = apiFixtures();
/** Entries a and b (hint "internal") for uid 1000, c for uid 2000; caller "w" is uid 1000. */
const started = (): Promise<ApiFixture> =>
  start({
    serving: [
      testEntry("a"),
      testEntry("b", { hint: "internal" }),
      testEntry("c", { selectors: [uid(2000)] }),
    ],
    callers: { w: [uid(1000)], nobody: [uid(4242)] },
  });

function fetchJwt(
  f: ApiFixture,
  caller: string,
  audience: string[],
  spiffeId = "",
): Promise<JWTSVIDResponse> {
  return callSucceeds((cb) => f.client.fetchJwtsvid({ audience, spiffeId }, asCaller(caller), cb));
}

function fetchJwtFails(
  f: ApiFixture,
  caller: string,
  audience: string[],
  spiffeId = "",
): Promise<ServiceError> {
  return callFails((cb) => f.client.fetchJwtsvid({ audience, spiffeId }, asCaller(caller), cb));
}

function validate(f: ApiFixture, svid: string, audience: string): Promise<ValidateJWTSVIDResponse> {
  return callSucceeds((cb) => f.client.validateJwtsvid({ audience, svid }, asCaller("anyone"), cb));
}

function validateFails(f: ApiFixture, svid: string, audience: string): Promise<ServiceError> {
  return callFails((cb) => f.client.validateJwtsvid({ audience, svid }, asCaller("anyone"), cb));
}

function hallmarkCode(err: ServiceError): string | undefined {
  return err.metadata.get(ERROR_CODE_METADATA_KEY)[0] as string | undefined;
}

describe("FetchJWTSVID", () => {
  it("returns one JWT-SVID per matching entry, with hints, each verifying against the JWT bundle", async () => {
    const f = await started();
    const { svids } = await fetchJwt(f, "w", ["svc-a", "svc-b"]);
    assert.deepEqual(
      svids.map((s) => [s.spiffeId, s.hint]),
      [
        [id("a"), ""],
        [id("b"), "internal"],
      ],
    );
    const jwks = createLocalJWKSet(jwtAuthoritiesAsJwks(f.f.server.ca.bundle));
    for (const svid of svids) {
      const { payload } = await jwtVerify(svid.svid, jwks, {
        audience: "svc-b",
        currentDate: f.f.clock.now(),
      });
      assert.equal(payload.sub, svid.spiffeId);
      assert.deepEqual(payload.aud, ["svc-a", "svc-b"]);
    }
  });

  it("returns only the identity asked for, and serves a repeated request from the cache", async () => {
    const f = await started();
    const one = await fetchJwt(f, "w", ["svc"], id("b"));
    assert.deepEqual(
      one.svids.map((s) => s.spiffeId),
      [id("b")],
    );
    const calls = f.f.server.jwtCalls.length;
    const again = await fetchJwt(f, "w", ["svc"], id("b"));
    assert.equal(again.svids[0]!.svid, one.svids[0]!.svid);
    assert.equal(f.f.server.jwtCalls.length, calls, "no second server call");
  });

  it("answers PERMISSION_DENIED for an identity the caller is not entitled to, and for a caller with none", async () => {
    const f = await started();
    const notMine = await fetchJwtFails(f, "w", ["svc"], id("c"));
    assert.equal(notMine.code, status.PERMISSION_DENIED);
    assert.match(notMine.details, /no identity issued/);
    assert.equal((await fetchJwtFails(f, "nobody", ["svc"])).code, status.PERMISSION_DENIED);
    assert.equal(f.f.server.jwtCalls.length, 0, "nothing was fetched");
  });

  it("refuses a request without an audience, or with a malformed SPIFFE ID, before attesting the caller", async () => {
    const f = await started();
    const noAudience = await fetchJwtFails(f, "w", []);
    assert.equal(noAudience.code, status.INVALID_ARGUMENT);
    assert.equal(hallmarkCode(noAudience), "AUDIENCE_REQUIRED");
    assert.equal((await fetchJwtFails(f, "w", [""])).code, status.INVALID_ARGUMENT);
    const badId = await fetchJwtFails(f, "w", ["svc"], "https://example.org/a");
    assert.equal(badId.code, status.INVALID_ARGUMENT);
    assert.equal(hallmarkCode(badId), "INVALID_REQUESTED_SPIFFE_ID");
    assert.deepEqual(f.attested, []);
  });

  it("answers UNAVAILABLE when the server cannot be reached for the JWT-SVID", async () => {
    const f = await started();
    f.f.server.unreachable = true;
    const err = await fetchJwtFails(f, "w", ["svc"], id("a"));
    assert.equal(err.code, status.UNAVAILABLE);
    assert.equal(hallmarkCode(err), "JWT_SVID_UNAVAILABLE");
  });
});

describe("ValidateJWTSVID", () => {
  it("returns the SPIFFE ID and every claim of a valid JWT-SVID, to any caller (no entry needed)", async () => {
    const f = await started();
    const { svids } = await fetchJwt(f, "w", ["svc"], id("a"));
    const token = svids[0]!.svid;
    const result = await validate(f, token, "svc");
    assert.equal(result.spiffeId, id("a"));
    const claims = result.claims as JWTPayload;
    assert.equal(claims.sub, id("a"));
    assert.deepEqual(claims.aud, ["svc"]);
    assert.equal(typeof claims.exp, "number");
    assert.equal(typeof claims.iat, "number");
    assert.equal(typeof claims.jti, "string");
    assert.deepEqual(f.attested, ["w"], "validation attests nobody");
  });

  it("refuses, with INVALID_ARGUMENT naming the reason, every token the JWT-SVID spec rejects", async () => {
    const f = await started();
    const real = (await fetchJwt(f, "w", ["svc"], id("a"))).svids[0]!.svid;
    const kid = f.f.server.ca.bundle.jwtAuthorities[0]!.keyId;
    // A key of the test's own, added to the bundle, signs what the CA never would.
    const own = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const bundle = f.f.server.ca.bundle;
    f.sync([], {
      bundle: {
        ...bundle,
        sequence: bundle.sequence + 1,
        jwtAuthorities: [...bundle.jwtAuthorities, { keyId: "test-key", publicKey: own.publicKey }],
      },
    });
    const nowS = Math.floor(f.f.clock.nowMs() / 1000);
    const signed = (payload: JWTPayload): Promise<string> =>
      new SignJWT(payload).setProtectedHeader({ alg: "ES256", kid: "test-key" }).sign(own.privateKey);
    const b64 = (json: unknown): string => Buffer.from(JSON.stringify(json)).toString("base64url");
    const good = { sub: id("a"), aud: ["svc"], exp: nowS + 60 };

    const cases: [string, string, string][] = [
      ["alg none", `${b64({ alg: "none", kid })}.${b64(good)}.`, "JWT_ALGORITHM_NOT_ALLOWED"],
      [
        "HS256",
        await new SignJWT(good).setProtectedHeader({ alg: "HS256", kid }).sign(new Uint8Array(32)),
        "JWT_ALGORITHM_NOT_ALLOWED",
      ],
      [
        "unknown kid",
        await new SignJWT(good).setProtectedHeader({ alg: "ES256", kid: "nope" }).sign(own.privateKey),
        "JWT_KEY_NOT_FOUND",
      ],
      ["wrong aud", real, "JWT_AUDIENCE_MISMATCH"],
      ["missing exp", await signed({ sub: id("a"), aud: ["svc"] }), "JWT_EXPIRY_MISSING"],
      ["bad sub", await signed({ ...good, sub: "a-workload" }), "JWT_SUBJECT_INVALID"],
      [
        "foreign trust domain",
        await signed({ ...good, sub: "spiffe://other.org/a" }),
        "JWT_FOREIGN_TRUST_DOMAIN",
      ],
    ];
    for (const [what, token, code] of cases) {
      const err = await validateFails(f, token, what === "wrong aud" ? "another-svc" : "svc");
      assert.equal(err.code, status.INVALID_ARGUMENT, what);
      assert.equal(hallmarkCode(err), code, `${what}: ${err.details}`);
    }
    assert.match(
      (await validateFails(f, await signed({ ...good, sub: "spiffe://other.org/a" }), "svc")).details,
      /other\.org.*federation is not supported/,
    );
    assert.equal(
      (await validate(f, await signed(good), "svc")).spiffeId,
      id("a"),
      "the test key itself is fine",
    );

    f.f.clock.advance(5 * MINUTE);
    const expired = await validateFails(f, real, "svc");
    assert.equal(expired.code, status.INVALID_ARGUMENT);
    assert.equal(hallmarkCode(expired), "JWT_EXPIRED");
  });

  it("refuses a request without an audience or a token", async () => {
    const f = await started();
    const noAudience = await validateFails(f, "x.y.z", "");
    assert.equal(noAudience.code, status.INVALID_ARGUMENT);
    assert.equal(hallmarkCode(noAudience), "AUDIENCE_REQUIRED");
    const noToken = await validateFails(f, "", "svc");
    assert.equal(noToken.code, status.INVALID_ARGUMENT);
    assert.equal(hallmarkCode(noToken), "SVID_REQUIRED");
  });

  it("answers UNAVAILABLE while the agent has no bundle", async () => {
    const err = await validateFails(await start(), "x.y.z", "svc");
    assert.equal(err.code, status.UNAVAILABLE);
    assert.equal(hallmarkCode(err), "BUNDLE_NOT_READY");
  });
});
