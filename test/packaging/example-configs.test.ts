import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { repoRoot } from "../fixtures/hallmark-binaries.js";
import { loadServerConfig } from "../../server/config/server-config.js";
import { loadAgentConfig } from "../../agent/config/agent-config.js";

// The examples under examples/ as the binaries read them: through the same loaders `run` uses, so
// a key the schema does not know, a missing one or a bad value fails here. The loaders check the
// config, not the files it names (those are read at start-up), so nothing needs to exist.

const example = (name: string): string => join(repoRoot, "examples", name);
const credentials = "/run/credentials/hallmark-server.service";

describe("example configs", () => {
  it("examples/server.yaml: SQLite under data_dir, the socket under /run, the PIN from the unit's credential", async () => {
    const cfg = await loadServerConfig(example("server.yaml"));
    assert.equal(cfg.trustDomain.name, "example.org");
    assert.equal(cfg.bindAddress, "0.0.0.0");
    assert.equal(cfg.bindPort, 8081);
    assert.equal(cfg.dataDir, "/var/lib/hallmark/server");
    assert.equal(cfg.socketPath, "/run/hallmark/server/api.sock");
    assert.deepEqual(cfg.datastore, { kind: "sqlite", path: "/var/lib/hallmark/server/datastore.sqlite3" });
    assert.equal(cfg.auditLogPath, "/var/lib/hallmark/server/audit.log");
    assert.deepEqual(cfg.keyManager, {
      module: "/usr/lib/softhsm/libsofthsm2.so",
      token: { label: "hallmark" },
      pin: { file: `${credentials}/hsm-pin` },
    });
    assert.deepEqual(cfg.tpm, {
      ekCaBundlePaths: ["/etc/hallmark/tpm-ek-cas.pem"],
      ekHashAllowlist: [],
      pcrBank: "sha256",
      pcrs: [0, 1, 2, 3, 4, 5, 6, 7],
      pcrPolicy: undefined,
    });
    assert.equal(cfg.defaultX509SvidTtl, 3_600_000);
    assert.equal(cfg.defaultJwtSvidTtl, 300_000);
    assert.equal(cfg.agentSvidTtl, 3_600_000);
    assert.equal(cfg.caTtl, 86_400_000);
    assert.equal(cfg.caKeyType, "ec-p256");
    assert.equal(cfg.jwtKeyType, "ec-p256");
    assert.equal(cfg.logLevel, "info");
    assert.equal(cfg.logFormat, "json");
    assert.deepEqual(cfg.healthChecks, { bindAddress: "127.0.0.1", bindPort: 8080 });
  });

  it("examples/server-with-delegation.yaml: examples/server.yaml plus the delegation endpoint, one issuer under a private CA", async () => {
    const cfg = await loadServerConfig(example("server-with-delegation.yaml"));
    const { delegation, ...rest } = cfg;
    const { delegation: none, ...plain } = await loadServerConfig(example("server.yaml"));
    assert.equal(none, undefined, "examples/server.yaml leaves delegation off");
    assert.deepEqual(rest, plain, "everything but delegation is examples/server.yaml");
    assert.deepEqual(delegation, {
      bindAddress: "0.0.0.0",
      bindPort: 8443,
      dnsNames: ["hallmark.example.org"],
      maxTtl: 300_000,
      keyType: "ec-p256",
      issuers: [
        {
          issuer: "https://login.example.org",
          jwks: { url: "https://login.example.org/.well-known/jwks.json" },
          audience: "hallmark-delegation",
          scopeClaim: "scope",
        },
        {
          issuer: "https://sso.corp.example.org/realms/staff",
          jwks: {
            url: "https://sso.corp.example.org/realms/staff/protocol/openid-connect/certs",
            caFile: "/etc/hallmark/sso-ca.pem",
          },
          audience: "hallmark-delegation",
          scopeClaim: "scope",
        },
      ],
    });
  });

  it("examples/server-postgres.yaml: PostgreSQL without a password in the URL, the password from a credential", async () => {
    const cfg = await loadServerConfig(example("server-postgres.yaml"));
    assert.deepEqual(cfg.datastore, {
      kind: "postgres",
      connectionString: "postgresql://hallmark@db.example.org:5432/hallmark?sslmode=verify-full",
      poolSize: 10,
      password: { file: `${credentials}/db-password` },
    });
    assert.equal(cfg.dataDir, "/var/lib/hallmark/server");
    assert.equal(cfg.auditLogPath, "/var/lib/hallmark/server/audit.log");
    assert.equal(cfg.socketPath, "/run/hallmark/server/api.sock");
    assert.deepEqual(cfg.keyManager.pin, { file: `${credentials}/hsm-pin` });
    assert.deepEqual(cfg.tpm.ekCaBundlePaths, ["/etc/hallmark/tpm-ek-cas.pem"]);
    assert.deepEqual(cfg.healthChecks, { bindAddress: "127.0.0.1", bindPort: 8080 });
  });

  it("examples/agent.yaml: the TPM device, a trust bundle, the socket under /run", async () => {
    const cfg = await loadAgentConfig(example("agent.yaml"));
    assert.equal(cfg.trustDomain.name, "example.org");
    assert.equal(cfg.serverAddress, "hallmark.example.org");
    assert.equal(cfg.serverPort, 8081);
    assert.deepEqual(cfg.bootstrap, { kind: "bundle", path: "/etc/hallmark/bundle.pem" });
    assert.equal(cfg.dataDir, "/var/lib/hallmark/agent");
    assert.equal(cfg.socketPath, "/run/hallmark/agent/api.sock");
    assert.deepEqual(cfg.tpm, { location: { kind: "device", path: "/dev/tpmrm0" }, ekType: undefined });
    assert.equal(cfg.syncInterval, 300_000);
    assert.equal(cfg.logLevel, "info");
    assert.equal(cfg.logFormat, "json");
    // Not the server's health port: both run on one host.
    assert.deepEqual(cfg.healthChecks, { bindAddress: "127.0.0.1", bindPort: 8088 });
  });
});
