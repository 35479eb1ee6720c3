import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createRemoteJWKSet, customFetch, decodeProtectedHeader, jwtVerify } from "jose";
import { createLogger } from "../../common/logging/logger.js";
import { parseServerConfig } from "../../server/config/server-config.js";
import { delegationComponent } from "../../server/delegation/component.js";
import { signDelegationToken } from "../../server/delegation/delegation-signer.js";
import { startServer, type RunningServer } from "../../server/run/start-server.js";
import { createSoftHsm, type SoftHsmFixture } from "../fixtures/softhsm.js";
import { freePort, trackTempDir } from "../fixtures/processes.js";
import { waitForEndpoint } from "./https-client.js";
import { fetchTrustingOnly } from "../../server/delegation/exchange/jwks-fetch.js";
import { delegationServerConfig } from "./server-process.js";

const logger = createLogger({ name: "test", level: "silent" });

/** The signing seam of the token exchange to come: what it signs, jose verifies from the published JWKS. */
describe("delegation tokens signed in the HSM verify against the endpoint's JWKS", () => {
  let hsm: SoftHsmFixture;
  let server: RunningServer;
  let base: string;
  let bundlePem: string;

  before(async () => {
    hsm = await createSoftHsm();
    const dir = await mkdtemp(join(tmpdir(), "hallmark-delegation-signing-"));
    trackTempDir(dir);
    const port = await freePort();
    const text = delegationServerConfig(dir, hsm, port, { keyType: "ec-p384" });
    await writeFile(join(dir, "server.yaml"), text);
    server = await startServer(parseServerConfig(text, "server.yaml"), {
      logger,
      env: { HALLMARK_TEST_HSM_PIN: hsm.pin },
      components: [delegationComponent],
    });
    base = `https://localhost:${port}`;
    bundlePem = server.deps.ca.bundlePem();
    await waitForEndpoint(`${base}/.well-known/jwks.json`, bundlePem);
  });
  after(async () => {
    await server.stop();
    await hsm.cleanup();
  });

  it("jose's createRemoteJWKSet, trusting the bundle, verifies an ES384 at+jwt made through the server's signer", async () => {
    const now = Math.floor(Date.now() / 1000);
    const token = await signDelegationToken(server.deps.ca, {
      iss: base,
      sub: "alice",
      aud: "https://backend.example.org",
      scope: "orders:read",
      iat: now,
      exp: now + 300,
      jti: "test-1",
    });
    const jwks = createRemoteJWKSet(new URL(`${base}/.well-known/jwks.json`), {
      [customFetch]: fetchTrustingOnly(bundlePem),
    });
    const verified = await jwtVerify(token, jwks, {
      issuer: base,
      audience: "https://backend.example.org",
      typ: "at+jwt",
      algorithms: ["ES384"],
    });
    assert.equal(verified.payload.sub, "alice");
    assert.equal(verified.protectedHeader.kid, jwks.jwks()?.keys[0]?.kid);
    assert.equal(decodeProtectedHeader(token).alg, "ES384");
  });

  it("refuses to sign a token that would outlive the signing key", async () => {
    const far = Math.floor(Date.now() / 1000) + 400 * 24 * 3600;
    await assert.rejects(signDelegationToken(server.deps.ca, { exp: far }), {
      code: "DELEGATION_KEY_EXPIRING",
    });
  });
});
