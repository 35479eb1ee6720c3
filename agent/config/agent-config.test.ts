import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { parseAgentConfig } from "./agent-config.js";
import { configProblems } from "../../common/config/testdata/config-problems.js";

const MINIMAL = `
trust_domain: example.org
server_address: hallmark.example.org
trust_bundle_path: /etc/hallmark/bundle.pem
data_dir: /var/lib/hallmark-agent
`;

function problems(yaml: string): readonly string[] {
  return configProblems(() => parseAgentConfig(yaml, "agent.yaml"));
}

describe("agent config", () => {
  it("applies SPIRE's defaults: port 8081, the Workload API socket, /dev/tpmrm0, a 5m resync", () => {
    const cfg = parseAgentConfig(MINIMAL, "agent.yaml");
    assert.equal(cfg.trustDomain.name, "example.org");
    assert.equal(cfg.serverAddress, "hallmark.example.org");
    assert.equal(cfg.serverPort, 8081);
    assert.deepEqual(cfg.bootstrap, { kind: "bundle", path: "/etc/hallmark/bundle.pem" });
    assert.equal(cfg.socketPath, "/tmp/hallmark-agent/public/api.sock");
    assert.deepEqual(cfg.tpm, { location: { kind: "device", path: "/dev/tpmrm0" }, ekType: undefined });
    assert.equal(cfg.syncInterval, 300_000);
    assert.equal(cfg.logFormat, "json");
    assert.equal(cfg.healthChecks, undefined);
    assert.equal(cfg.metrics, undefined, "metrics are off unless asked for");
    assert.deepEqual(cfg.workloadAttestation, {
      attestorTimeout: 2_000,
      maxConcurrent: 16,
      cacheTtl: 5_000,
      unix: { maxExecutableBytes: 256 * 1024 * 1024 },
    });
  });

  it("reads the workload attestation's deadline, concurrency, cache and executable size limit", () => {
    const cfg = parseAgentConfig(
      `${MINIMAL}workload_attestation:
  attestor_timeout: 500ms
  max_concurrent: 4
  cache_ttl: 0s
  unix:
    workload_size_limit: 1048576
`,
      "agent.yaml",
    );
    assert.deepEqual(cfg.workloadAttestation, {
      attestorTimeout: 500,
      maxConcurrent: 4,
      cacheTtl: 0,
      unix: { maxExecutableBytes: 1_048_576 },
    });
  });

  it("reads metrics: 127.0.0.1:9989 by default, or the address and port given", () => {
    assert.deepEqual(parseAgentConfig(`${MINIMAL}metrics: {}\n`, "agent.yaml").metrics, {
      bindAddress: "127.0.0.1",
      bindPort: 9989,
    });
    const cfg = parseAgentConfig(
      `${MINIMAL}metrics:\n  bind_address: 0.0.0.0\n  bind_port: 19000\n`,
      "agent.yaml",
    );
    assert.deepEqual(cfg.metrics, { bindAddress: "0.0.0.0", bindPort: 19000 });
  });

  it("reads an swtpm socket, an EK type, health checks and insecure bootstrap", () => {
    const cfg = parseAgentConfig(
      `trust_domain: example.org
server_address: 127.0.0.1
server_port: 9081
insecure_bootstrap: true
data_dir: /tmp/a
tpm:
  swtpm_socket: /tmp/swtpm.sock
  ek_type: eccP256
health_checks:
  bind_port: 9090
sync_interval: 30s
`,
      "agent.yaml",
    );
    assert.deepEqual(cfg.bootstrap, { kind: "insecure" });
    assert.deepEqual(cfg.tpm, {
      location: { kind: "swtpm", socketPath: "/tmp/swtpm.sock" },
      ekType: "eccP256",
    });
    assert.deepEqual(cfg.healthChecks, { bindAddress: "127.0.0.1", bindPort: 9090 });
    assert.equal(cfg.syncInterval, 30_000);
    assert.equal(cfg.serverPort, 9081);
  });

  const refused: [string, string, RegExp][] = [
    ["an unknown key, by its path", `${MINIMAL}tpm:\n  device: /dev/tpm0\n`, /^tpm\.device: unknown key$/],
    [
      "no way to trust the server",
      MINIMAL.replace("trust_bundle_path: /etc/hallmark/bundle.pem\n", ""),
      /^trust_bundle_path: is required/,
    ],
    [
      "insecure bootstrap beside a bundle",
      `${MINIMAL}insecure_bootstrap: true\n`,
      /^insecure_bootstrap: must not be set/,
    ],
    [
      "both a device and an swtpm",
      `${MINIMAL}tpm:\n  device_path: /dev/tpm0\n  swtpm_socket: /s\n`,
      /one of device_path and swtpm_socket/,
    ],
    ["an EK type it does not know", `${MINIMAL}tpm:\n  ek_type: rsa4096\n`, /^tpm\.ek_type: /],
    [
      "a resync more often than every 10s",
      `${MINIMAL}sync_interval: 1s\n`,
      /^sync_interval: must be at least 10s$/,
    ],
    [
      "SPIRE's 0 for no executable size limit",
      `${MINIMAL}workload_attestation:\n  unix:\n    workload_size_limit: 0\n`,
      /^workload_attestation\.unix\.workload_size_limit: /,
    ],
    [
      "an attestor deadline over a minute",
      `${MINIMAL}workload_attestation:\n  attestor_timeout: 2m\n`,
      /^workload_attestation\.attestor_timeout: must be at most 1m$/,
    ],
    [
      "no attestation at all at once",
      `${MINIMAL}workload_attestation:\n  max_concurrent: 0\n`,
      /^workload_attestation\.max_concurrent: /,
    ],
    [
      "a bad trust domain",
      MINIMAL.replace("example.org\n", "spiffe://example.org/path\n"),
      /^trust_domain: /,
    ],
    ["an unknown metrics key", `${MINIMAL}metrics:\n  port: 9000\n`, /^metrics\.port: unknown key$/],
    ["a metrics port out of range", `${MINIMAL}metrics:\n  bind_port: 70000\n`, /^metrics\.bind_port: /],
  ];
  for (const [what, yaml, expected] of refused) {
    it(`refuses ${what}`, () => {
      const found = problems(yaml);
      assert.ok(
        found.some((p) => expected.test(p)),
        `no problem matching ${String(expected)} in ${JSON.stringify(found)}`,
      );
    });
  }
});
