import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { parseServerConfig } from "./server-config.js";
import { MINIMAL_SERVER_YAML, serverConfigProblems } from "./testdata/minimal-server-config.js";

const DELEGATION = `${MINIMAL_SERVER_YAML}delegation:
  bind_address: 127.0.0.1
  bind_port: 8443
  dns_names: [Hallmark.Example.org, localhost]
  issuers:
    - issuer: https://login.example.org
      jwks_url: https://login.example.org/.well-known/jwks.json
      audience: hallmark-delegation
    - issuer: https://idp.example.com
      jwks_file: /etc/hallmark/idp-jwks.json
      audience: hallmark
      scope_claim: scp
`;

describe("server config: delegation", () => {
  it("is off when absent", () => {
    assert.equal(parseServerConfig(MINIMAL_SERVER_YAML, "server.yaml").delegation, undefined);
  });

  it("applies the contract's defaults (max_ttl 5m, ec-p256, scope_claim scope)", () => {
    const cfg = parseServerConfig(DELEGATION, "server.yaml").delegation;
    assert.deepEqual(cfg, {
      bindAddress: "127.0.0.1",
      bindPort: 8443,
      dnsNames: ["hallmark.example.org", "localhost"],
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
          issuer: "https://idp.example.com",
          jwks: { file: "/etc/hallmark/idp-jwks.json" },
          audience: "hallmark",
          scopeClaim: "scp",
        },
      ],
    });
  });

  it("takes key_type ec-p384 and a max_ttl", () => {
    const cfg = parseServerConfig(
      DELEGATION.replace("  bind_port: 8443\n", "  bind_port: 8443\n  key_type: ec-p384\n  max_ttl: 90s\n"),
      "server.yaml",
    ).delegation;
    assert.equal(cfg?.keyType, "ec-p384");
    assert.equal(cfg?.maxTtl, 90_000);
  });

  const refused: [string, string, RegExp][] = [
    [
      "an RSA key type",
      DELEGATION.replace("  bind_port: 8443\n", "  bind_port: 8443\n  key_type: rsa-2048\n"),
      /^delegation\.key_type: /,
    ],
    [
      "a max_ttl over its bound",
      DELEGATION.replace("  bind_port: 8443\n", "  bind_port: 8443\n  max_ttl: 2h\n"),
      /^delegation\.max_ttl: must be at most 1h$/,
    ],
    [
      "a max_ttl over half of ca_ttl",
      `${DELEGATION.replace("  bind_port: 8443\n", "  bind_port: 8443\n  max_ttl: 40m\n")}ca_ttl: 1h\n`,
      /^delegation\.max_ttl: must be at most half of ca_ttl$/,
    ],
    [
      "a host name as bind_address",
      DELEGATION.replace("127.0.0.1", "localhost"),
      /^delegation\.bind_address: /,
    ],
    [
      "no dns_names",
      DELEGATION.replace("[Hallmark.Example.org, localhost]", "[]"),
      /^delegation\.dns_names: /,
    ],
    [
      "a dns name that is none",
      DELEGATION.replace("Hallmark.Example.org", "https://x"),
      /^delegation\.dns_names\[0\]: must be a DNS name$/,
    ],
    [
      "an issuer with both jwks_file and jwks_url",
      DELEGATION.replace("      audience: hallmark-delegation\n", "      audience: a\n      jwks_file: /x\n"),
      /^delegation\.issuers\[0\]: give exactly one of jwks_file and jwks_url$/,
    ],
    [
      "an issuer with neither jwks_file nor jwks_url",
      DELEGATION.replace("      jwks_file: /etc/hallmark/idp-jwks.json\n", ""),
      /^delegation\.issuers\[1\]: give exactly one of jwks_file and jwks_url$/,
    ],
    [
      "an issuer without audience",
      DELEGATION.replace("      audience: hallmark\n", ""),
      /^delegation\.issuers\[1\]\.audience: /,
    ],
    [
      "an http jwks_url",
      DELEGATION.replace("jwks_url: https://", "jwks_url: http://"),
      /^delegation\.issuers\[0\]\.jwks_url: must be an https URL$/,
    ],
    [
      "an issuer listed twice",
      DELEGATION.replace("https://idp.example.com", "https://login.example.org"),
      /^delegation\.issuers\[1\]\.issuer: is listed twice$/,
    ],
    [
      "no issuers",
      `${MINIMAL_SERVER_YAML}delegation:\n  bind_address: 127.0.0.1\n  bind_port: 1\n  dns_names: [a]\n  issuers: []\n`,
      /^delegation\.issuers: /,
    ],
    [
      "an unknown key",
      DELEGATION.replace("  bind_port: 8443\n", "  bind_port: 8443\n  port: 1\n"),
      /^delegation\.port: unknown key$/,
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
});
