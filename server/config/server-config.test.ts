import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { parseServerConfig } from "./server-config.js";
import { MINIMAL_SERVER_YAML, serverConfigProblems } from "./testdata/minimal-server-config.js";

describe("server config", () => {
  it("applies SPIRE's defaults and resolves paths under data_dir", () => {
    const cfg = parseServerConfig(MINIMAL_SERVER_YAML, "server.yaml");
    assert.equal(cfg.trustDomain.name, "example.org");
    assert.equal(cfg.bindAddress, "0.0.0.0");
    assert.equal(cfg.bindPort, 8081);
    assert.equal(cfg.socketPath, "/tmp/hallmark-server/private/api.sock");
    assert.equal(cfg.defaultX509SvidTtl, 3_600_000);
    assert.equal(cfg.defaultJwtSvidTtl, 300_000);
    assert.equal(cfg.agentSvidTtl, 3_600_000);
    assert.equal(cfg.caTtl, 86_400_000);
    assert.equal(cfg.caKeyType, "ec-p256");
    assert.deepEqual(cfg.datastore, { kind: "sqlite", path: "/var/lib/hallmark/datastore.sqlite3" });
    assert.equal(cfg.auditLogPath, "/var/lib/hallmark/audit.log");
    assert.deepEqual(cfg.keyManager, {
      module: "/usr/lib/softhsm/libsofthsm2.so",
      token: { label: "hallmark" },
      pin: { env: "HALLMARK_HSM_PIN" },
    });
    assert.deepEqual(cfg.tpm.pcrs, [0, 1, 2, 3, 4, 5, 6, 7]);
    assert.deepEqual(cfg.tpm.ekCaBundlePaths, ["/etc/hallmark/tpm-ca.pem"]);
    assert.equal(cfg.tpm.pcrPolicy, undefined);
    assert.equal(cfg.healthChecks, undefined);
    assert.equal(cfg.metrics, undefined, "metrics are off unless asked for");
  });

  it("reads metrics: 127.0.0.1:9988 by default, or the address and port given", () => {
    assert.deepEqual(parseServerConfig(`${MINIMAL_SERVER_YAML}metrics: {}\n`, "server.yaml").metrics, {
      bindAddress: "127.0.0.1",
      bindPort: 9988,
    });
    const cfg = parseServerConfig(
      `${MINIMAL_SERVER_YAML}metrics:\n  bind_address: 0.0.0.0\n  bind_port: 19000\n`,
      "server.yaml",
    );
    assert.deepEqual(cfg.metrics, { bindAddress: "0.0.0.0", bindPort: 19000 });
  });

  it("reads PostgreSQL, PCR policy, health checks and TTLs", () => {
    const digest = "AB".repeat(32);
    const cfg = parseServerConfig(
      `${MINIMAL_SERVER_YAML}    pcrs: [7, 0, 7]
    pcr_policy:
      "7": ["${digest}"]
datastore:
  postgres:
    connection_string: postgresql://hallmark@db.internal/hallmark
    password_file: /etc/hallmark/db-password
    pool_size: 4
health_checks:
  bind_port: 9090
default_x509_svid_ttl: 30m
ca_ttl: 48h
`,
      "server.yaml",
    );
    assert.deepEqual(cfg.datastore, {
      kind: "postgres",
      connectionString: "postgresql://hallmark@db.internal/hallmark",
      poolSize: 4,
      password: { file: "/etc/hallmark/db-password" },
    });
    assert.deepEqual(cfg.tpm.pcrs, [0, 7]);
    assert.deepEqual([...(cfg.tpm.pcrPolicy ?? [])], [[7, ["ab".repeat(32)]]]);
    assert.deepEqual(cfg.healthChecks, { bindAddress: "127.0.0.1", bindPort: 9090 });
    assert.equal(cfg.defaultX509SvidTtl, 1_800_000);
  });

  const refused: [string, string, RegExp][] = [
    [
      "an unknown key, by its path",
      `${MINIMAL_SERVER_YAML}key_manager_typo: 1\n`,
      /^key_manager_typo: unknown key$/,
    ],
    [
      "a bad trust domain",
      MINIMAL_SERVER_YAML.replace("example.org", "Example.org:443"),
      /^trust_domain: invalid trust domain/,
    ],
    [
      "a PIN given as a value",
      MINIMAL_SERVER_YAML.replace("pin_env: HALLMARK_HSM_PIN", "pin: '1234'"),
      /pkcs11.pin: unknown key/,
    ],
    [
      "both token_label and slot",
      MINIMAL_SERVER_YAML.replace("token_label: hallmark", "token_label: h\n    slot: 1"),
      /exactly one of token_label and slot/,
    ],
    [
      "a TTL without a unit",
      `${MINIMAL_SERVER_YAML}default_x509_svid_ttl: 3600\n`,
      /^default_x509_svid_ttl: .*unit/,
    ],
    [
      "an SVID TTL beyond half the CA TTL",
      `${MINIMAL_SERVER_YAML}default_x509_svid_ttl: 20h\n`,
      /^default_x509_svid_ttl: must be at most half of ca_ttl$/,
    ],
    [
      "a password in the connection string",
      `${MINIMAL_SERVER_YAML}datastore:\n  postgres:\n    connection_string: postgresql://u:hunter2@db/h\n`,
      /^datastore.postgres.connection_string: must not contain a password/,
    ],
    [
      "both sqlite and postgres",
      `${MINIMAL_SERVER_YAML}datastore:\n  sqlite: {}\n  postgres:\n    connection_string: host=db\n`,
      /one of sqlite and postgres/,
    ],
    [
      "a TPM attestor that trusts nothing",
      MINIMAL_SERVER_YAML.replace("    ek_ca_bundle_path: /etc/hallmark/tpm-ca.pem\n", "    pcrs: [0]\n"),
      /no host can attest/,
    ],
    [
      "a PCR policy on an unquoted PCR",
      `${MINIMAL_SERVER_YAML}    pcrs: [0]\n    pcr_policy:\n      "7": ["${"00".repeat(32)}"]\n`,
      /^node_attestors.tpm.pcr_policy.7: is not among pcrs$/,
    ],
    [
      "a PCR digest of the wrong bank",
      `${MINIMAL_SERVER_YAML}    pcr_policy:\n      "7": ["${"00".repeat(20)}"]\n`,
      /pcr_policy\.7\[0\]: must be a sha256 digest/,
    ],
    [
      "an allow-list entry that is no SHA-256",
      `${MINIMAL_SERVER_YAML}    ek_hash_allowlist: ["abc"]\n`,
      /ek_hash_allowlist\[0\]: must be a SHA-256/,
    ],
    ["a missing data_dir", MINIMAL_SERVER_YAML.replace("data_dir: /var/lib/hallmark\n", ""), /^data_dir: /],
    [
      "an unknown metrics key",
      `${MINIMAL_SERVER_YAML}metrics:\n  port: 9000\n`,
      /^metrics\.port: unknown key$/,
    ],
    [
      "a metrics port out of range",
      `${MINIMAL_SERVER_YAML}metrics:\n  bind_port: 70000\n`,
      /^metrics\.bind_port: /,
    ],
  ];
  for (const [what, yaml, expected] of refused) {
    it(`refuses ${what}`, () => {
      const found = serverConfigProblems(yaml);
      assert.ok(
        found.some((p) => expected.test(p)),
        `no problem matching ${String(expected)} in ${JSON.stringify(found)}`,
      );
    });
  }

  it("never echoes a refused password back in the error", () => {
    const found = serverConfigProblems(
      `${MINIMAL_SERVER_YAML}datastore:\n  postgres:\n    connection_string: postgresql://u:hunter2@db/h\n`,
    );
    assert.ok(!found.join("\n").includes("hunter2"));
  });
});
