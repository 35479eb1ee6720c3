import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startOidcIssuer, type OidcIssuer } from "../../../test/fixtures/oidc-issuer.js";
import { UserTokenIssuers } from "./user-token-issuers.js";

describe("UserTokenIssuers", () => {
  let idp: OidcIssuer;
  let dir: string;
  let caFile: string;
  before(async () => {
    idp = await startOidcIssuer({
      audience: "https://delegation.hallmark.test",
      scopes: ["orders:read", "mail:send"],
    });
    dir = await mkdtemp(join(tmpdir(), "hallmark-user-issuers-"));
    caFile = join(dir, "idp-ca.pem");
    await writeFile(caFile, idp.caPem);
  });
  after(async () => {
    await idp.close();
    await rm(dir, { recursive: true, force: true });
  });

  const fromUrl = (url = idp.jwksUrl, audience = idp.audience) =>
    UserTokenIssuers.load([{ issuer: idp.issuer, jwks: { url, caFile }, audience, scopeClaim: "scope" }]);

  it("verifies a real OpenID provider's access token through its jwks_url, trusting its jwks_ca_file", async () => {
    const issuers = await fromUrl();
    const token = await idp.userToken("alice", ["orders:read", "mail:send"]);
    const user = await issuers.verify(token, Date.now());
    assert.equal(user.subject, "alice");
    assert.equal(user.issuer, idp.issuer);
    assert.deepEqual(user.scopes, ["orders:read", "mail:send"]);
    assert.ok(user.expiresAtMs > Date.now());
  });

  it("refuses that token for another configured audience, and past its exp beyond the skew", async () => {
    const token = await idp.userToken("alice", ["orders:read"]);
    await assert.rejects((await fromUrl(idp.jwksUrl, "other-app")).verify(token, Date.now()), {
      code: "SUBJECT_TOKEN_INVALID",
    });
    await assert.rejects((await fromUrl()).verify(token, Date.now() + 3600_000), {
      code: "SUBJECT_TOKEN_INVALID",
    });
  });

  it("does not trust the provider's private CA without jwks_ca_file: the key set is unavailable", async () => {
    const systemTrust = await UserTokenIssuers.load([
      { issuer: idp.issuer, jwks: { url: idp.jwksUrl }, audience: idp.audience, scopeClaim: "scope" },
    ]);
    const token = await idp.userToken("alice", ["orders:read"]);
    await assert.rejects(systemTrust.verify(token, Date.now()), { code: "SUBJECT_ISSUER_UNAVAILABLE" });
  });

  it("refuses to start with a jwks_ca_file that holds no certificate", async () => {
    const notPem = join(dir, "not-a-ca.pem");
    await writeFile(notPem, "hello");
    await assert.rejects(
      UserTokenIssuers.load([
        {
          issuer: idp.issuer,
          jwks: { url: idp.jwksUrl, caFile: notPem },
          audience: "a",
          scopeClaim: "scope",
        },
      ]),
      { code: "DELEGATION_ISSUER_JWKS_INVALID", message: /jwks_ca_file .* holds no PEM certificate/ },
    );
  });

  it("answers SUBJECT_ISSUER_UNAVAILABLE when the jwks_url fails, not a bad token", async () => {
    const broken = createServer((_req, res) => res.writeHead(500).end());
    broken.listen(0, "127.0.0.1");
    await once(broken, "listening");
    try {
      const url = `http://127.0.0.1:${(broken.address() as AddressInfo).port}/jwks`;
      const token = await idp.userToken("alice", ["orders:read"]);
      await assert.rejects((await fromUrl(url)).verify(token, Date.now()), {
        code: "SUBJECT_ISSUER_UNAVAILABLE",
      });
    } finally {
      broken.close();
    }
  });

  it("refuses at start a jwks_file that is missing or not a JWK Set", async () => {
    const load = (file: string) =>
      UserTokenIssuers.load([
        { issuer: "https://login.test", jwks: { file }, audience: "a", scopeClaim: "scope" },
      ]);
    await assert.rejects(load(join(dir, "absent.json")), { code: "DELEGATION_ISSUER_JWKS_INVALID" });
    const notASet = join(dir, "not-a-set.json");
    await writeFile(notASet, JSON.stringify({ kty: "EC" }));
    await assert.rejects(load(notASet), {
      code: "DELEGATION_ISSUER_JWKS_INVALID",
      message: /not-a-set\.json/,
    });
  });
});
