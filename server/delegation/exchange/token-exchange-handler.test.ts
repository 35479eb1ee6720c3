import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPair } from "node:crypto";
import { promisify } from "node:util";
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify, SignJWT } from "jose";
import { SpiffeId } from "../../../common/spiffe/index.js";
import { verifyDelegationToken } from "../../../pep/index.js";
import { delegationJwks } from "../delegation-jwks.js";
import { signDelegationToken } from "../delegation-signer.js";
import {
  BILLING,
  BOOKER,
  ExchangeFixture,
  ISSUER,
  LONER,
  MAX_TTL_MS,
  ORDERS,
  PAYER,
  PLANNER,
  type Answer,
} from "./testdata/exchange-fixture.js";
import { TOKEN_EXCHANGE_GRANT_TYPE, TOKEN_TYPE_JWT } from "./exchange-request.js";

const MIN = 60_000;

describe("POST /token: the token exchange over HTTP, signing in SoftHSM2", () => {
  let f: ExchangeFixture;
  before(async () => {
    f = await ExchangeFixture.start();
  });
  after(async () => {
    await f.stop();
  });

  /** The refusal an answer carries, with the audit line it left. */
  function refused(answer: Answer, status: number, error: string, reason: string): void {
    assert.equal(answer.status, status, answer.text);
    assert.equal(answer.body.error, error, answer.text);
    assert.equal(answer.headers.get("cache-control"), "no-store");
    assert.equal(answer.headers.get("pragma"), "no-cache");
    assert.equal(typeof answer.body.error_description, "string");
    for (const token of f.tokens) assert.ok(!answer.text.includes(token), "the answer echoes a token");
    const last = f.audit.at(-1);
    assert.equal(last?.type, "delegation_refused");
    assert.equal(last?.type === "delegation_refused" && last.reason, reason);
    assert.equal(last?.type === "delegation_refused" && last.error, error);
  }

  const verify = (token: string, audience = ORDERS) =>
    verifyDelegationToken(token, {
      audience,
      issuer: ISSUER,
      jwks: delegationJwks(f.ca.delegationPublicKeys()),
      clock: f.clock,
    });

  it("issues a delegation token per the contract: claims, header, answer, record and audit", async () => {
    const answer = await f.exchange({ actor: PLANNER, scope: "orders:read orders:write" });
    assert.equal(answer.status, 200, answer.text);
    assert.equal(answer.headers.get("cache-control"), "no-store");
    assert.equal(answer.headers.get("content-type"), "application/json");
    const token = answer.body.access_token as string;
    assert.deepEqual(
      { ...answer.body, access_token: "-" },
      {
        access_token: "-",
        issued_token_type: "urn:ietf:params:oauth:token-type:access_token",
        token_type: "Bearer",
        expires_in: MAX_TTL_MS / 1000,
        scope: "orders:read orders:write",
      },
    );
    const header = decodeProtectedHeader(token);
    assert.deepEqual(Object.keys(header).sort(), ["alg", "kid", "typ"]);
    assert.equal(header.alg, "ES256");
    assert.equal(header.typ, "at+jwt");
    const claims = decodeJwt(token);
    assert.deepEqual(Object.keys(claims).sort(), [
      "act",
      "aud",
      "client_id",
      "exp",
      "hallmark_ancestors",
      "hallmark_chain",
      "hallmark_depth",
      "iat",
      "iss",
      "jti",
      "nbf",
      "scope",
      "sub",
    ]);
    const now = f.clock.nowMs() / 1000;
    assert.equal(claims.iss, ISSUER);
    assert.equal(claims.sub, "alice");
    assert.equal(claims.aud, ORDERS);
    assert.equal(claims.client_id, PLANNER.toString());
    assert.deepEqual(claims.act, { sub: PLANNER.toString() });
    assert.equal(claims.iat, now);
    assert.equal(claims.nbf, now);
    assert.equal(claims.exp, now + MAX_TTL_MS / 1000);
    assert.match(claims.jti ?? "", /^[A-Za-z0-9_-]{22}$/);
    assert.match(claims.hallmark_chain as string, /^[A-Za-z0-9_-]{22}$/);
    assert.equal(claims.hallmark_depth, 1);
    assert.deepEqual(claims.hallmark_ancestors, []);

    // pep/ and jose alone both accept it.
    const verified = await verify(token);
    assert.deepEqual(verified.actors, [PLANNER.toString()]);
    await jwtVerify(token, createLocalJWKSet(delegationJwks(f.ca.delegationPublicKeys())), {
      issuer: ISSUER,
      audience: ORDERS,
      typ: "at+jwt",
      currentDate: f.clock.now(),
    });

    const record = await f.store.getDelegationToken(claims.jti ?? "");
    const [plannerEntry] = (await f.store.listEntries({ spiffeId: PLANNER })).items;
    assert.deepEqual(record && { ...record, actors: record.actors.map(String) }, {
      jti: claims.jti,
      chainId: claims.hallmark_chain,
      ancestors: [],
      depth: 1,
      subject: "alice",
      subjectIssuer: "https://login.example.org",
      actors: [PLANNER.toString()],
      entryId: plannerEntry?.id,
      audiences: [ORDERS],
      scopes: ["orders:read", "orders:write"],
      issuedAtMs: f.clock.nowMs(),
      expiresAtMs: f.clock.nowMs() + MAX_TTL_MS,
      elevationId: undefined,
    });
    const issued = f.events("delegation_issued").at(-1);
    assert.equal(issued?.jti, claims.jti);
    assert.deepEqual(issued?.actors, [PLANNER.toString()]);
    assert.deepEqual(issued?.scopes, ["orders:read", "orders:write"]);
    assert.equal(issued?.subject, "alice");
  });

  it("refuses an actor token made for another audience: 401 invalid_client", async () => {
    const actor = await f.actorToken(PLANNER, "https://orders.example.org");
    refused(await f.exchange({ actor }), 401, "invalid_client", "ACTOR_TOKEN_INVALID");
  });

  it("refuses an expired actor token: 401 invalid_client", async () => {
    const actor = await f.actorToken(PLANNER);
    f.clock.advance(5 * MIN);
    refused(await f.exchange({ actor }), 401, "invalid_client", "ACTOR_TOKEN_INVALID");
  });

  it("refuses an agent's or the server's own SVID as actor, and a workload without an entry", async () => {
    const agent = SpiffeId.parse(`spiffe://example.org/hallmark/agent/tpm/${"b".repeat(64)}`);
    refused(await f.exchange({ actor: agent }), 400, "unauthorized_client", "ACTOR_NOT_WORKLOAD");
    refused(await f.exchange({ actor: LONER }), 400, "unauthorized_client", "ACTOR_NOT_REGISTERED");
  });

  it("refuses a user token from an issuer not configured: invalid_grant", async () => {
    const subject = await f.userToken({ iss: "https://elsewhere.example.org" });
    refused(await f.exchange({ actor: PLANNER, subject }), 400, "invalid_grant", "SUBJECT_ISSUER_UNKNOWN");
  });

  it("refuses a user token with a bad signature (another key under the published kid): invalid_grant", async () => {
    const forger = await promisify(generateKeyPair)("ec", { namedCurve: "P-256" });
    const subject = await f.userToken({}, forger.privateKey);
    refused(await f.exchange({ actor: PLANNER, subject }), 400, "invalid_grant", "SUBJECT_TOKEN_INVALID");
  });

  it("refuses a user token for another audience or expired: invalid_grant", async () => {
    const other = await f.userToken({ aud: "some-other-app" });
    refused(
      await f.exchange({ actor: PLANNER, subject: other }),
      400,
      "invalid_grant",
      "SUBJECT_TOKEN_INVALID",
    );
    const now = Math.floor(f.clock.nowMs() / 1000);
    const expired = await f.userToken({ exp: now - 31 });
    refused(
      await f.exchange({ actor: PLANNER, subject: expired }),
      400,
      "invalid_grant",
      "SUBJECT_TOKEN_INVALID",
    );
  });

  it("reads the user's scopes from an array claim too", async () => {
    const subject = await f.userToken({ scope: ["orders:read", "payments:send"] });
    const answer = await f.exchange({ actor: PLANNER, subject, scope: "orders:read" });
    assert.equal(answer.status, 200, answer.text);
  });

  it("cuts scope wider than the ceiling, and answers invalid_scope when nothing is left", async () => {
    const cut = await f.exchange({ actor: PLANNER, scope: "orders:read payments:send" });
    assert.equal(cut.status, 200, cut.text);
    assert.equal(cut.body.scope, "orders:read");
    assert.equal(decodeJwt(cut.body.access_token as string).scope, "orders:read");
    refused(
      await f.exchange({ actor: PLANNER, scope: "payments:send" }),
      400,
      "invalid_scope",
      "SCOPE_EMPTY",
    );
  });

  it("refuses an audience the agent's entry does not allow: invalid_target", async () => {
    refused(
      await f.exchange({ actor: PLANNER, audience: BILLING }),
      400,
      "invalid_target",
      "AUDIENCE_NOT_ALLOWED",
    );
    refused(
      await f.exchange({ actor: PLANNER, audience: [ORDERS, "https://evil.example"] }),
      400,
      "invalid_target",
      "AUDIENCE_NOT_ALLOWED",
    );
  });

  it("uses the entry's only audience when none is asked for", async () => {
    const answer = await f.exchange({ actor: PLANNER, audience: [] });
    assert.equal(answer.status, 200, answer.text);
    assert.equal(decodeJwt(answer.body.access_token as string).aud, ORDERS);
  });

  /** planner's token for alice, then booker's from it. */
  async function twoHops(): Promise<{ first: string; second: string }> {
    const first = await f.exchange({ actor: PLANNER, scope: "orders:read orders:write" });
    assert.equal(first.status, 200, first.text);
    const second = await f.exchange({ actor: BOOKER, parent: first.body.access_token as string });
    assert.equal(second.status, 200, second.text);
    return { first: first.body.access_token as string, second: second.body.access_token as string };
  }

  it("a sub-agent in may_delegate_to gets depth 2 with the chain, the ancestors and the nested act", async () => {
    const { first, second } = await twoHops();
    const parent = decodeJwt(first);
    const child = decodeJwt(second);
    assert.equal(child.hallmark_depth, 2);
    assert.equal(child.hallmark_chain, parent.hallmark_chain);
    assert.deepEqual(child.hallmark_ancestors, [parent.jti]);
    assert.deepEqual(child.act, { sub: BOOKER.toString(), act: { sub: PLANNER.toString() } });
    assert.equal(child.client_id, BOOKER.toString());
    assert.equal(child.sub, "alice");
    assert.equal(child.scope, "orders:read");
    assert.deepEqual((await verify(second)).actors, [BOOKER.toString(), PLANNER.toString()]);
    assert.equal(
      (await f.store.getDelegationToken(child.jti ?? ""))?.subjectIssuer,
      "https://login.example.org",
    );
  });

  it("refuses a sub-agent not in the passing agent's may_delegate_to: unauthorized_client", async () => {
    const first = await f.exchange({ actor: PLANNER });
    const answer = await f.exchange({ actor: PAYER, parent: first.body.access_token as string });
    refused(answer, 400, "unauthorized_client", "DELEGATE_NOT_ALLOWED");
  });

  it("refuses a hop over the max_depth of an entry in the chain: unauthorized_client", async () => {
    const { second } = await twoHops();
    // booker may pass to payer, but planner's entry allows a chain of 2 only.
    refused(await f.exchange({ actor: PAYER, parent: second }), 400, "unauthorized_client", "DEPTH_EXCEEDED");
  });

  it("a child never outlives its parent: its exp is the parent's when the parent ends sooner", async () => {
    const first = await f.exchange({ actor: PLANNER });
    const parentExp = decodeJwt(first.body.access_token as string).exp ?? 0;
    f.clock.advance(3 * MIN);
    const child = await f.exchange({ actor: BOOKER, parent: first.body.access_token as string });
    assert.equal(child.status, 200, child.text);
    const childExp = decodeJwt(child.body.access_token as string).exp ?? 0;
    assert.equal(childExp, parentExp);
    assert.ok(childExp < f.clock.nowMs() / 1000 + MAX_TTL_MS / 1000);
    assert.equal(child.body.expires_in, 2 * 60);
    f.clock.advance(2 * MIN);
    const late = await f.exchange({ actor: BOOKER, parent: first.body.access_token as string });
    refused(late, 400, "invalid_grant", "PARENT_TOKEN_INVALID");
  });

  it("refuses a forged act chain (payload changed, signature kept) and a parent re-signed by another key", async () => {
    const first = await f.exchange({ actor: PLANNER });
    const parent = first.body.access_token as string;
    const [h, p, s] = parent.split(".") as [string, string, string];
    const claims = JSON.parse(Buffer.from(p, "base64url").toString()) as Record<string, unknown>;
    const forged = { ...claims, act: { sub: "spiffe://example.org/agent/someone-else" } };
    const forgedToken = `${h}.${Buffer.from(JSON.stringify(forged)).toString("base64url")}.${s}`;
    refused(
      await f.exchange({ actor: BOOKER, parent: forgedToken }),
      400,
      "invalid_grant",
      "PARENT_TOKEN_INVALID",
    );

    const impostor = await promisify(generateKeyPair)("ec", { namedCurve: "P-256" });
    const resigned = await new SignJWT(claims)
      .setProtectedHeader(decodeProtectedHeader(parent) as { alg: string })
      .sign(impostor.privateKey);
    f.tokens.push(forgedToken, resigned);
    refused(
      await f.exchange({ actor: BOOKER, parent: resigned }),
      400,
      "invalid_grant",
      "PARENT_TOKEN_INVALID",
    );
  });

  it("refuses a revoked parent, and a child of a revoked ancestor: invalid_grant", async () => {
    const { first, second } = await twoHops();
    await f.revocations.revoke({ kind: "jti", value: decodeJwt(first).jti ?? "" }, { uid: 0 });
    refused(await f.exchange({ actor: BOOKER, parent: first }), 400, "invalid_grant", "PARENT_REVOKED");
    refused(await f.exchange({ actor: PAYER, parent: second }), 400, "invalid_grant", "PARENT_REVOKED");
  });

  it("refuses a parent signed with the server's key but never recorded as issued: invalid_grant", async () => {
    const first = await f.exchange({ actor: PLANNER });
    const claims = decodeJwt(first.body.access_token as string);
    const parent = await signDelegationToken(f.ca, { ...claims, exp: claims.exp ?? 0, jti: "never-issued" });
    f.tokens.push(parent);
    refused(await f.exchange({ actor: BOOKER, parent }), 400, "invalid_grant", "PARENT_UNKNOWN");
  });

  it("elevation: pending, then approved until the approval's end, then no longer", async () => {
    const ask = {
      actor: PLANNER,
      scope: "orders:read payments:send",
      elevation: true,
      reason: "pay the order",
    };
    const pending = await f.exchange(ask);
    refused(pending, 400, "authorization_pending", "ELEVATION_PENDING");
    const requestId = pending.body.hallmark_elevation_request as string;
    const request = await f.store.getElevationRequest(requestId);
    assert.equal(request?.status, "pending");
    assert.deepEqual(request?.scopes, ["payments:send"]);
    assert.deepEqual(request?.audiences, [ORDERS]);
    assert.equal(request?.reason, "pay the order");
    assert.equal(request?.subject, "alice");
    assert.equal(request?.actor.toString(), PLANNER.toString());
    assert.equal(request?.requestedTtlMs, MAX_TTL_MS);
    assert.equal(f.events("elevation_requested").at(-1)?.requestId, requestId);

    // Asking again while it waits reuses it: no flood of requests.
    const again = await f.exchange(ask);
    refused(again, 400, "authorization_pending", "ELEVATION_PENDING");
    assert.equal(again.body.hallmark_elevation_request, requestId);
    assert.equal((await f.store.listElevationRequests({ actor: PLANNER })).length, 1);

    await f.store.decideElevationRequest({
      id: requestId,
      decision: "approved",
      decidedAtMs: f.clock.nowMs(),
      decidedBy: "uid:0",
      note: undefined,
      approvedUntilMs: f.clock.nowMs() + 3 * MIN,
    });
    const granted = await f.exchange(ask);
    assert.equal(granted.status, 200, granted.text);
    assert.equal(granted.body.scope, "orders:read payments:send");
    const claims = decodeJwt(granted.body.access_token as string);
    assert.equal(claims.exp, f.clock.nowMs() / 1000 + 3 * 60, "the token ends with the approval");
    assert.equal((await f.store.getDelegationToken(claims.jti ?? ""))?.elevationId, requestId);
    assert.equal(f.events("delegation_issued").at(-1)?.elevationId, requestId);

    f.clock.advance(3 * MIN);
    const after = await f.exchange(ask);
    refused(after, 400, "authorization_pending", "ELEVATION_PENDING");
    assert.notEqual(after.body.hallmark_elevation_request, requestId, "a new request, the approval is over");
    const cut = await f.exchange({ ...ask, elevation: false });
    assert.equal(cut.body.scope, "orders:read");
  });

  it("elevation: a denied request answers access_denied", async () => {
    const ask = { actor: BOOKER, scope: "orders:read payments:send", audience: BILLING, elevation: true };
    const pending = await f.exchange(ask);
    const id = pending.body.hallmark_elevation_request as string;
    await f.store.decideElevationRequest({
      id,
      decision: "denied",
      decidedAtMs: f.clock.nowMs(),
      decidedBy: "uid:0",
      note: "no",
      approvedUntilMs: undefined,
    });
    const denied = await f.exchange(ask);
    refused(denied, 400, "access_denied", "ELEVATION_DENIED");
    assert.equal(denied.body.hallmark_elevation_request, id);
  });

  it("elevation: concurrent asks make one pending request", async () => {
    // Tokens made first, so the five requests reach the server together.
    const asks = await Promise.all(
      [1, 2, 3, 4, 5].map(async () => ({
        actor: await f.actorToken(PAYER),
        subject: await f.userToken(),
        scope: "orders:read payments:send",
        elevation: true,
      })),
    );
    const answers = await Promise.all(asks.map((ask) => f.exchange(ask)));
    const ids = new Set(answers.map((a) => a.body.hallmark_elevation_request));
    assert.equal(ids.size, 1);
    assert.equal((await f.store.listElevationRequests({ actor: PAYER })).length, 1);
  });

  describe("the request", () => {
    const base = async () => ({
      grant_type: TOKEN_EXCHANGE_GRANT_TYPE,
      subject_token: await f.userToken(),
      subject_token_type: TOKEN_TYPE_JWT,
      actor_token: await f.actorToken(PLANNER),
      actor_token_type: TOKEN_TYPE_JWT,
      scope: "orders:read",
      audience: ORDERS,
    });

    it("refuses another content type: invalid_request", async () => {
      const form = new URLSearchParams(await base()).toString();
      const answer = await f.post({}, { contentType: "application/json", body: form });
      refused(answer, 400, "invalid_request", "EXCHANGE_CONTENT_TYPE");
    });

    it("refuses a body over 64 KiB: 413 invalid_request", async () => {
      const answer = await f.post({ ...(await base()), padding: "x".repeat(70 * 1024) });
      refused(answer, 413, "invalid_request", "EXCHANGE_BODY_TOO_LARGE");
    });

    it("refuses a repeated parameter and a missing one: invalid_request", async () => {
      const form = await base();
      refused(
        await f.post({ ...form, subject_token: [form.subject_token, form.subject_token] }),
        400,
        "invalid_request",
        "EXCHANGE_PARAMETER_REPEATED",
      );
      const { actor_token: _omitted, ...missing } = form;
      refused(await f.post(missing), 400, "invalid_request", "EXCHANGE_PARAMETER_MISSING");
    });

    it("refuses another grant type: unsupported_grant_type", async () => {
      const answer = await f.post({ ...(await base()), grant_type: "client_credentials" });
      refused(answer, 400, "unsupported_grant_type", "EXCHANGE_GRANT_TYPE_UNSUPPORTED");
    });
  });

  it("never echoes, logs or audits a token", () => {
    const answers = JSON.stringify(f.audit) + JSON.stringify(f.log.records());
    assert.ok(f.tokens.length > 20);
    for (const token of f.tokens) {
      for (const part of token.split("."))
        assert.ok(!answers.includes(part), "a token part was logged or audited");
    }
    assert.ok(f.log.records().some((r) => r.msg === "delegation token issued"));
  });
});

describe("POST /token under the kill switch (delegation revoke --agent / --subject)", () => {
  let f: ExchangeFixture;
  before(async () => {
    f = await ExchangeFixture.start();
  });
  after(async () => {
    await f.stop();
  });

  it("issues nothing new to a revoked agent, nor to a sub-agent of a chain it is in, while the revocation is in force", async () => {
    const first = await f.exchange({ actor: PLANNER, scope: "orders:read orders:write" });
    assert.equal(first.status, 200, first.text);
    await f.revocations.revoke({ kind: "agent", value: PLANNER.toString() }, { uid: 0 });
    const again = await f.exchange({ actor: PLANNER, scope: "orders:read" });
    assert.equal(again.status, 400, again.text);
    assert.equal(again.body.error, "invalid_grant");
    const last = f.audit.at(-1);
    assert.equal(last?.type === "delegation_refused" && last.reason, "ACTOR_REVOKED");
    // What planner passed on is covered too: its token is revoked (iat <= revoked_at).
    const child = await f.exchange({ actor: BOOKER, parent: first.body.access_token as string });
    assert.equal(child.body.error, "invalid_grant", child.text);

    // Once the revocation is no longer in force (max_ttl later, pruned), the agent may exchange again.
    f.clock.advance(MAX_TTL_MS + 120_000);
    await f.revocations.prune();
    const later = await f.exchange({ actor: PLANNER, scope: "orders:read" });
    assert.equal(later.status, 200, later.text);
  });

  it("issues nothing new for a revoked user", async () => {
    await f.revocations.revoke({ kind: "subject", value: "alice" }, { uid: 0 });
    const answer = await f.exchange({ actor: PLANNER, scope: "orders:read" });
    assert.equal(answer.status, 400, answer.text);
    const last = f.audit.at(-1);
    assert.equal(last?.type === "delegation_refused" && last.reason, "SUBJECT_REVOKED");
  });
});
