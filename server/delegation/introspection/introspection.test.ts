import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { after, before, describe, it } from "node:test";
import { EndpointFixture } from "../revocation/testdata/endpoint-fixture.js";
import { httpsCall, introspect } from "../revocation/testdata/https-call.js";
import { BOOKER, PLANNER } from "../revocation/testdata/service-fixture.js";
import type { ClientTls } from "../revocation/testdata/sse-client.js";

const VERIFIER = "spiffe://example.org/backend/legacy";

describe("POST /introspect (RFC 7662) over mutual TLS", () => {
  let fixture: EndpointFixture;
  let verifier: ClientTls;

  before(async () => {
    fixture = await EndpointFixture.start();
    verifier = await fixture.client("/backend/legacy");
  });
  after(() => fixture.stop());

  /** The audit lines written by `action`. */
  const audited = async (action: () => Promise<unknown>): Promise<Record<string, unknown>[]> => {
    const before = (await fixture.auditLines()).length;
    await action();
    return (await fixture.auditLines()).slice(before);
  };

  const inactive = async (token: string): Promise<Record<string, unknown>[]> =>
    audited(async () => {
      const answer = await introspect(fixture.base, verifier, token);
      assert.equal(answer.status, 200);
      assert.equal(answer.headers["cache-control"], "no-store");
      assert.equal(answer.body, '{"active":false}', "an inactive token's answer says nothing more");
    });

  it("answers active with the token's claims for a token of its own keys that is not revoked", async () => {
    const [, child] = await fixture.chain([PLANNER, BOOKER]);
    const answer = await introspect(fixture.base, verifier, child!.token);
    assert.equal(answer.status, 200);
    assert.equal(answer.headers["content-type"], "application/json");
    assert.equal(answer.headers["cache-control"], "no-store");
    assert.deepEqual(JSON.parse(answer.body), { active: true, token_type: "Bearer", ...child!.claims });
  });

  it("answers inactive for a revoked token, and audits the refusal with what the token says, never the token", async () => {
    const [root, child] = await fixture.chain([PLANNER, BOOKER]);
    await fixture.service.revoke({ kind: "jti", value: root!.jti }, { uid: 0 });
    const lines = await inactive(child!.token);
    assert.deepEqual(
      lines.map((l) => ({ ...l, time: undefined, caller: undefined })),
      [
        {
          time: undefined,
          caller: undefined,
          type: "delegation_verification_refused",
          reason: "REVOKED",
          subject: "alice",
          actors: [BOOKER.toString(), PLANNER.toString()],
          scopes: ["orders:read"],
          audiences: ["https://orders.example.org"],
          jti: child!.jti,
          chainId: child!.claims["hallmark_chain"],
          depth: 2,
        },
      ],
    );
    assert.equal((lines[0]?.["caller"] as { agentId?: string }).agentId, VERIFIER);
    const log = await readFile(fixture.audit.path, "utf8");
    assert.ok(!log.includes(child!.token.split(".")[2]!), "the audit log never holds a token");
  });

  it("answers inactive for an expired token, a bad signature and a malformed token, each audited with its reason", async () => {
    const [expired] = await fixture.chain([PLANNER], { expOffsetSeconds: -60 });
    const [good] = await fixture.chain([PLANNER]);
    const [header, payload, signature] = good!.token.split(".");
    const flipped = `${signature!.startsWith("A") ? "B" : "A"}${signature!.slice(1)}`;
    const cases: [string, string][] = [
      [expired!.token, "EXPIRED"],
      [`${header}.${payload}.${flipped}`, "SIGNATURE_INVALID"],
      ["not-a-token", "TOKEN_MALFORMED"],
      [`${header}.e30.${signature}`, "SIGNATURE_INVALID"],
    ];
    for (const [token, reason] of cases) {
      const lines = await inactive(token);
      assert.deepEqual(
        lines.map((l) => [l["type"], l["reason"], l["jti"]]),
        [["delegation_verification_refused", reason, reason === "EXPIRED" ? expired!.jti : undefined]],
        reason,
      );
    }
  });

  it("refuses a request without exactly one token, or not a UTF-8 form, with 400 invalid_request", async () => {
    const post = (body: string, contentType = "application/x-www-form-urlencoded") =>
      httpsCall(`${fixture.base}/introspect`, verifier, { method: "POST", body, contentType });
    for (const answer of [
      await post(""),
      await post("token="),
      await post("token=a&token=b"),
      await post(JSON.stringify({ token: "x" }), "application/json"),
      await post("token=x", "application/x-www-form-urlencoded; charset=latin1"),
      await post(`token=${"a".repeat(70_000)}`),
    ]) {
      assert.equal(answer.status, 400);
      assert.equal((JSON.parse(answer.body) as { error: string }).error, "invalid_request");
    }
  });
});
