import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createPublicKey } from "node:crypto";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { calculateJwkThumbprint, createRemoteJWKSet, customFetch } from "jose";
import { fixtureTempRoot, freePort, run, runOk, trackTempDir } from "../fixtures/processes.js";
import { startServerProcess, unusedIssuerJwks, type ServerProcess } from "./server-process.js";
import { httpsRequest, waitForEndpoint } from "./https-client.js";
import { fetchTrustingOnly } from "../../server/delegation/exchange/jwks-fetch.js";

describe("hallmark-server run with delegation: the HTTPS endpoint, its keys and discovery", () => {
  let server: ServerProcess;
  let port: number;
  let bundlePath: string;
  let bundlePem: string;
  let base: string;

  before(async () => {
    port = await freePort();
    const issuerDir = await mkdtemp(join(fixtureTempRoot(), "hallmark-delegation-issuer-"));
    trackTempDir(issuerDir);
    server = await startServerProcess({
      extraYaml: [
        "delegation:",
        "  bind_address: 127.0.0.1",
        `  bind_port: ${port}`,
        "  dns_names: [localhost, hallmark.example.org]",
        "  issuers:",
        "    - issuer: https://login.example.org",
        `      jwks_file: ${unusedIssuerJwks(issuerDir)}`,
        "      audience: hallmark-delegation",
        "",
      ].join("\n"),
    });
    const shown = await server.cli(["bundle", "show", "--format", "pem"]);
    assert.equal(shown.code, 0, shown.stderr);
    bundlePem = shown.stdout;
    bundlePath = join(server.dir, "bundle.pem");
    await writeFile(bundlePath, bundlePem);
    base = `https://localhost:${port}`;
    await waitForEndpoint(`${base}/.well-known/jwks.json`, bundlePem);
  });
  after(() => server.stop());

  it("curl, trusting only the bundle, gets the JWK Set with kid, alg and use, cacheable for 5 minutes", async () => {
    const got = await runOk("curl", [
      "-sS",
      "--fail",
      "-D",
      "-",
      "--cacert",
      bundlePath,
      `${base}/.well-known/jwks.json`,
    ]);
    const [head = "", body = ""] = got.stdout.split(/\r\n\r\n/);
    assert.match(head, /^HTTP\/1\.1 200/);
    assert.match(head, /\r\ncache-control: max-age=300\r\n/i);
    assert.match(head, /\r\ncontent-type: application\/json/i);
    const jwks = JSON.parse(body) as { keys: Record<string, string>[] };
    assert.equal(jwks.keys.length, 1);
    const [jwk] = jwks.keys;
    assert.deepEqual(Object.keys(jwk ?? {}).sort(), ["alg", "crv", "kid", "kty", "use", "x", "y"]);
    assert.equal(jwk?.kty, "EC");
    assert.equal(jwk?.crv, "P-256");
    assert.equal(jwk?.alg, "ES256");
    assert.equal(jwk?.use, "sig");
    assert.equal(jwk?.kid, await calculateJwkThumbprint({ kty: "EC", crv: "P-256", x: jwk?.x, y: jwk?.y }));
  });

  it("serves the discovery document with the issuer https://<first dns name>:<port>", async () => {
    const got = await runOk("curl", [
      "-sS",
      "--fail",
      "--cacert",
      bundlePath,
      `${base}/.well-known/openid-configuration`,
    ]);
    assert.deepEqual(JSON.parse(got.stdout), {
      issuer: base,
      jwks_uri: `${base}/.well-known/jwks.json`,
      token_endpoint: `${base}/token`,
      introspection_endpoint: `${base}/introspect`,
      grant_types_supported: ["urn:ietf:params:oauth:grant-type:token-exchange"],
      token_endpoint_auth_methods_supported: ["none"],
      introspection_endpoint_auth_methods_supported: ["tls_client_auth"],
      hallmark_revocations_endpoint: `${base}/revocations`,
      hallmark_revocations_heartbeat_seconds: 5,
    });
  });

  it("openssl s_client verifies the certificate for the DNS names and the bind IP against the bundle", async () => {
    for (const check of [
      ["-verify_hostname", "localhost"],
      ["-verify_hostname", "hallmark.example.org"],
      ["-verify_ip", "127.0.0.1"],
    ]) {
      const got = await run(
        "openssl",
        [
          "s_client",
          "-connect",
          `127.0.0.1:${port}`,
          "-servername",
          "localhost",
          "-verify_return_error",
          "-CAfile",
          bundlePath,
          ...check,
        ],
        { input: "" },
      );
      assert.equal(got.code, 0, `${check.join(" ")}: ${got.stdout}${got.stderr}`);
      assert.match(got.stdout, /Verify return code: 0 \(ok\)/);
    }
    const wrongName = await run(
      "openssl",
      [
        "s_client",
        "-connect",
        `127.0.0.1:${port}`,
        "-verify_return_error",
        "-CAfile",
        bundlePath,
        "-verify_hostname",
        "other.example.org",
      ],
      { input: "" },
    );
    assert.notEqual(wrongName.code, 0, "a name the certificate does not carry is refused");
  });

  it("the delegation key is on the token, and the JWKS that jose fetches is its public key", async () => {
    const login = [
      "--module",
      server.hsm.modulePath,
      "--token-label",
      server.hsm.tokenLabel,
      "--login",
      "--pin",
      server.hsm.pin,
    ];
    const listed = await runOk("pkcs11-tool", [...login, "--list-objects", "--type", "pubkey"], {
      env: server.hsm.env,
    });
    const match = /label:\s+hallmark delegation key\s+ID:\s+([0-9a-f]+)/.exec(listed.stdout);
    assert.ok(match?.[1] !== undefined, listed.stdout);
    assert.match(Buffer.from(match[1], "hex").toString(), /^hallmark-dlg-[0-9a-f]{16}$/);
    const derPath = join(server.dir, "delegation-key.der");
    await runOk(
      "pkcs11-tool",
      [...login, "--read-object", "--type", "pubkey", "--id", match[1], "--output-file", derPath],
      { env: server.hsm.env },
    );
    const onToken = createPublicKey({ key: await readFile(derPath), format: "der", type: "spki" });

    const jwks = createRemoteJWKSet(new URL(`${base}/.well-known/jwks.json`), {
      [customFetch]: fetchTrustingOnly(bundlePem),
    });
    const [jwk] = jwks.jwks()?.keys ?? [];
    assert.equal(jwk, undefined, "nothing fetched yet");
    await jwks.reload();
    const fetched = jwks.jwks()?.keys[0];
    const expected = onToken.export({ format: "jwk" });
    assert.equal(fetched?.x, expected.x);
    assert.equal(fetched?.y, expected.y);
  });

  it("answers 404 JSON for an unknown path, 405 for a wrong method, and OAuth errors from the token exchange", async () => {
    const unknown = await httpsRequest(`${base}/nothing-here`, bundlePem);
    assert.equal(unknown.status, 404);
    assert.equal((JSON.parse(unknown.body) as { error: string }).error, "not_found");
    const wrong = await httpsRequest(`${base}/.well-known/jwks.json`, bundlePem, "POST");
    assert.equal(wrong.status, 405);
    assert.equal(wrong.headers.allow, "GET, HEAD");
    const token = await httpsRequest(`${base}/token`, bundlePem, "POST");
    assert.equal(token.status, 400);
    assert.equal(token.headers["cache-control"], "no-store");
    assert.equal((JSON.parse(token.body) as { error: string }).error, "invalid_request");
  });
});
