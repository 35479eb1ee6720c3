import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { TrustDomain } from "../../common/spiffe/index.js";
import { EntryPolicy, type EntryRequest } from "./entry-policy.js";
import { RegistrationError, type RegistrationErrorCode } from "./registration-error.js";

const td = TrustDomain.parse("example.org");
const policy = new EntryPolicy({ trustDomain: td, caTtlMs: 24 * 3_600_000 });
const AGENT = `spiffe://example.org/hallmark/agent/tpm/${"ab".repeat(32)}`;
const workload: EntryRequest = {
  spiffeId: "spiffe://example.org/web",
  parentId: AGENT,
  selectors: [{ type: "unix", value: "uid:1000" }],
};

function refused(request: EntryRequest, code: RegistrationErrorCode, field: string, using = policy): void {
  assert.throws(
    () => using.check(request),
    (err: unknown) => err instanceof RegistrationError && err.code === code && err.field === field,
    `${code} on ${field}`,
  );
}

describe("EntryPolicy", () => {
  it("accepts a workload entry under an agent and brings its selectors into canonical order", () => {
    const checked = policy.check({
      ...workload,
      selectors: [
        { type: "unix", value: "uid:1000" },
        { type: "cgroup", value: "/a" },
        { type: "unix", value: "uid:1000" },
      ],
      dnsNames: ["web.example.org", "*.svc.example.org", "WEB.example.org"],
      x509SvidTtlMs: 60_000,
      jwtSvidTtlMs: 30_000,
    });
    assert.equal(checked.spiffeId.toString(), "spiffe://example.org/web");
    assert.deepEqual(
      checked.selectors.map((s) => `${s.type}:${s.value}`),
      ["cgroup:/a", "unix:uid:1000"],
    );
    assert.deepEqual(checked.dnsNames, ["web.example.org", "*.svc.example.org"]);
    assert.equal(checked.node, false);
  });

  it("binds IDs to the trust domain and keeps /hallmark/ for agents and the server", () => {
    refused({ ...workload, spiffeId: "spiffe://other.org/web" }, "FOREIGN_TRUST_DOMAIN", "spiffe_id");
    refused({ ...workload, spiffeId: "spiffe://example.org/a/../b" }, "INVALID_SPIFFE_ID", "spiffe_id");
    refused({ ...workload, spiffeId: "spiffe://example.org" }, "INVALID_SPIFFE_ID", "spiffe_id");
    refused({ ...workload, spiffeId: "spiffe://example.org/hallmark" }, "RESERVED_PATH", "spiffe_id");
    refused({ ...workload, spiffeId: "spiffe://example.org/hallmark/server" }, "RESERVED_PATH", "spiffe_id");
    refused({ ...workload, parentId: "spiffe://other.org/p" }, "FOREIGN_TRUST_DOMAIN", "parent_id");
    refused(
      { ...workload, parentId: "spiffe://example.org/hallmark/agent/tpm/xyz" },
      "INVALID_PARENT_ID",
      "parent_id",
    );
    refused(
      { ...workload, parentId: "spiffe://example.org/hallmark/server" },
      "INVALID_PARENT_ID",
      "parent_id",
    );
    // A path that merely starts with the word is not reserved.
    assert.equal(
      policy.check({ ...workload, spiffeId: "spiffe://example.org/hallmarks/x" }).spiffeId.path,
      "/hallmarks/x",
    );
    // A workload may hang under a node-alias entry's ID.
    assert.equal(
      policy.check({ ...workload, parentId: "spiffe://example.org/cluster" }).parentId.path,
      "/cluster",
    );
  });

  it("holds node-alias entries to node selectors under the server, workload entries to the rest", () => {
    const alias: EntryRequest = {
      spiffeId: "spiffe://example.org/cluster",
      parentId: "spiffe://example.org/hallmark/server",
      selectors: [{ type: "tpm", value: `ek_hash:${"ab".repeat(32)}` }],
      node: true,
    };
    assert.equal(policy.check(alias).node, true);
    refused({ ...alias, parentId: AGENT }, "INVALID_PARENT_ID", "parent_id");
    refused({ ...alias, selectors: [{ type: "unix", value: "uid:0" }] }, "SELECTOR_NOT_ALLOWED", "selectors");
    refused(
      { ...workload, selectors: [{ type: "tpm", value: "ek_hash:00" }] },
      "SELECTOR_NOT_ALLOWED",
      "selectors",
    );
    refused(
      { ...workload, selectors: [{ type: "k8s", value: "ns:default" }] },
      "UNKNOWN_SELECTOR_TYPE",
      "selectors",
    );
    refused({ ...workload, selectors: [{ type: "unix", value: "" }] }, "INVALID_SELECTOR", "selectors");
    refused({ ...workload, selectors: [] }, "NO_SELECTORS", "selectors");
  });

  it("bounds TTLs, and no SVID outlives half of the CA's life", () => {
    refused({ ...workload, x509SvidTtlMs: 59_000 }, "TTL_OUT_OF_RANGE", "x509_svid_ttl");
    refused({ ...workload, x509SvidTtlMs: 31 * 86_400_000 }, "TTL_OUT_OF_RANGE", "x509_svid_ttl");
    refused({ ...workload, jwtSvidTtlMs: 29_000 }, "TTL_OUT_OF_RANGE", "jwt_svid_ttl");
    refused({ ...workload, jwtSvidTtlMs: 86_400_001 }, "TTL_OUT_OF_RANGE", "jwt_svid_ttl");
    const shortCa = new EntryPolicy({ trustDomain: td, caTtlMs: 2 * 3_600_000 });
    assert.equal(shortCa.check({ ...workload, x509SvidTtlMs: 3_600_000 }).x509SvidTtlMs, 3_600_000);
    refused({ ...workload, x509SvidTtlMs: 3_600_001 }, "TTL_OUT_OF_RANGE", "x509_svid_ttl", shortCa);
  });

  it("takes host names only as DNS names, and a short printable hint", () => {
    for (const name of ["", "a..b", "-a.example", "a b", "a_b.example", "x".repeat(64) + ".org", "*"]) {
      refused({ ...workload, dnsNames: [name] }, "INVALID_DNS_NAME", "dns_names");
    }
    refused({ ...workload, hint: "x".repeat(257) }, "INVALID_HINT", "hint");
    refused({ ...workload, hint: "a\nb" }, "INVALID_HINT", "hint");
  });

  it("knows an agent ID when it sees one", () => {
    assert.equal(policy.agentId(AGENT).toString(), AGENT);
    assert.throws(() => policy.agentId("spiffe://example.org/web"), { code: "INVALID_SPIFFE_ID" });
    assert.throws(() => policy.agentId(AGENT.replace("example.org", "other.org")), {
      code: "FOREIGN_TRUST_DOMAIN",
    });
  });
});
