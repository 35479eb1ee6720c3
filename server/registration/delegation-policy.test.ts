import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { TrustDomain } from "../../common/spiffe/index.js";
import type { DelegationRequest } from "./delegation-policy.js";
import { widens } from "./delegation-policy.js";
import { EntryPolicy, type EntryRequest } from "./entry-policy.js";
import { RegistrationError, type RegistrationErrorCode } from "./registration-error.js";

const policy = new EntryPolicy({ trustDomain: TrustDomain.parse("example.org"), caTtlMs: 86_400_000 });
const AGENT = `spiffe://example.org/hallmark/agent/tpm/${"ab".repeat(32)}`;
const DELEGATION: DelegationRequest = {
  scopes: ["orders:read", "orders:write"],
  audiences: ["https://orders.example.org/api", "billing"],
  mayDelegateTo: ["spiffe://example.org/summariser"],
  maxDepth: 2,
};
const agentEntry = (delegation: Partial<DelegationRequest>): EntryRequest => ({
  spiffeId: "spiffe://example.org/assistant",
  parentId: AGENT,
  selectors: [{ type: "unix", value: "uid:1000" }],
  delegation: { ...DELEGATION, ...delegation },
});

/** Refused with this code, naming this field in the error and in its message. */
function refused(request: EntryRequest, code: RegistrationErrorCode, field: string, message: RegExp): void {
  assert.throws(
    () => policy.check(request),
    (err: unknown) =>
      err instanceof RegistrationError &&
      err.code === code &&
      err.field === field &&
      err.message.startsWith(`${field}: `) &&
      message.test(err.message),
    `${code} on ${field}`,
  );
}

describe("EntryPolicy: delegation", () => {
  it("accepts a sound policy: scopes, URI and name audiences, a sub-agent, depth 2", () => {
    const checked = policy.check(agentEntry({}));
    assert.deepEqual(checked.delegation?.scopes, ["orders:read", "orders:write"]);
    assert.deepEqual(checked.delegation?.audiences, ["https://orders.example.org/api", "billing"]);
    assert.deepEqual(
      checked.delegation?.mayDelegateTo.map((id) => id.toString()),
      ["spiffe://example.org/summariser"],
    );
    assert.equal(checked.delegation?.maxDepth, 2);
  });

  it("gives no policy when none is asked for, and depth 1 when max_depth is left out", () => {
    assert.equal(policy.check({ ...agentEntry({}), delegation: undefined }).delegation, undefined);
    assert.equal(
      policy.check(agentEntry({ mayDelegateTo: [], maxDepth: undefined })).delegation?.maxDepth,
      1,
    );
  });

  it("refuses a malformed scope (RFC 6749 §3.3)", () => {
    for (const scope of ["has space", 'quote"', "back\\slash", "", "tab\t", "ünicode"]) {
      refused(
        agentEntry({ scopes: [scope] }),
        "INVALID_SCOPE",
        "delegation.scopes",
        /not an OAuth scope token/,
      );
    }
  });

  it("refuses a duplicate scope", () => {
    refused(
      agentEntry({ scopes: ["orders:read", "orders:read"] }),
      "INVALID_SCOPE",
      "delegation.scopes",
      /"orders:read" is given twice/,
    );
  });

  it("refuses a policy without scopes: its ceiling would allow nothing", () => {
    refused(agentEntry({ scopes: [] }), "INVALID_DELEGATION_POLICY", "delegation.scopes", /at least one/);
  });

  it("refuses a policy without audiences", () => {
    refused(
      agentEntry({ audiences: [] }),
      "INVALID_DELEGATION_POLICY",
      "delegation.audiences",
      /at least one/,
    );
  });

  it("refuses an audience with a scheme that is not an absolute URI, or with a fragment", () => {
    refused(
      agentEntry({ audiences: ["https://orders.example.org/api#frag"] }),
      "INVALID_AUDIENCE",
      "delegation.audiences",
      /fragment/,
    );
    refused(
      agentEntry({ audiences: ["https://exa mple"] }),
      "INVALID_AUDIENCE",
      "delegation.audiences",
      /not an audience/,
    );
    refused(
      agentEntry({ audiences: ["http://[::1"] }),
      "INVALID_AUDIENCE",
      "delegation.audiences",
      /not an absolute URI/,
    );
  });

  it("refuses a duplicate audience", () => {
    refused(
      agentEntry({ audiences: ["billing", "billing"] }),
      "INVALID_AUDIENCE",
      "delegation.audiences",
      /given twice/,
    );
  });

  it("refuses a may_delegate_to outside the trust domain", () => {
    refused(
      agentEntry({ mayDelegateTo: ["spiffe://other.org/summariser"] }),
      "FOREIGN_TRUST_DOMAIN",
      "delegation.may_delegate_to",
      /not in this server's trust domain example\.org/,
    );
  });

  it("refuses a may_delegate_to that is not a SPIFFE ID", () => {
    refused(
      agentEntry({ mayDelegateTo: ["summariser"] }),
      "INVALID_SPIFFE_ID",
      "delegation.may_delegate_to",
      /./,
    );
  });

  it("refuses a may_delegate_to naming the entry itself", () => {
    refused(
      agentEntry({ mayDelegateTo: ["spiffe://example.org/assistant"] }),
      "INVALID_DELEGATE",
      "delegation.may_delegate_to",
      /the entry's own SPIFFE ID/,
    );
  });

  it("refuses a may_delegate_to naming an agent, the server or the trust domain itself", () => {
    for (const id of [AGENT, "spiffe://example.org/hallmark/server", "spiffe://example.org"]) {
      refused(
        agentEntry({ mayDelegateTo: [id] }),
        "INVALID_DELEGATE",
        "delegation.may_delegate_to",
        /names no workload/,
      );
    }
  });

  it("refuses a duplicate may_delegate_to", () => {
    refused(
      agentEntry({ mayDelegateTo: ["spiffe://example.org/s", "spiffe://example.org/s"], maxDepth: 2 }),
      "INVALID_DELEGATE",
      "delegation.may_delegate_to",
      /given twice/,
    );
  });

  it("refuses max_depth outside 1..8", () => {
    for (const maxDepth of [0, 9, -1, 2.5]) {
      refused(agentEntry({ maxDepth }), "MAX_DEPTH_OUT_OF_RANGE", "delegation.max_depth", /outside 1\.\.8/);
    }
  });

  it("refuses sub-agents with max_depth 1, which allows none", () => {
    refused(
      agentEntry({ maxDepth: 1 }),
      "CONTRADICTORY_DELEGATION",
      "delegation.max_depth",
      /max_depth 1 allows no sub-agent/,
    );
  });

  it("refuses a policy on a node-alias entry, whose agents never act for users", () => {
    refused(
      {
        spiffeId: "spiffe://example.org/racks/a",
        parentId: "spiffe://example.org/hallmark/server",
        selectors: [{ type: "tpm", value: `ek_hash:${"ab".repeat(32)}` }],
        node: true,
        delegation: DELEGATION,
      },
      "DELEGATION_NOT_ALLOWED",
      "delegation",
      /node-alias entry/,
    );
  });
});

describe("widens", () => {
  const base = policy.check(agentEntry({})).delegation;

  it("is true for anything the old policy did not allow, and for a policy where there was none", () => {
    const wider = (d: Partial<DelegationRequest>) => widens(base, policy.check(agentEntry(d)).delegation);
    assert.equal(wider({ scopes: ["orders:read", "orders:write", "orders:delete"] }), true);
    assert.equal(wider({ audiences: ["billing", "payroll"] }), true);
    assert.equal(wider({ mayDelegateTo: ["spiffe://example.org/other"] }), true);
    assert.equal(wider({ maxDepth: 3 }), true);
    assert.equal(widens(undefined, base), true);
  });

  it("is false for the same policy, a narrower one, or removing it", () => {
    const wider = (d: Partial<DelegationRequest>) => widens(base, policy.check(agentEntry(d)).delegation);
    assert.equal(wider({}), false);
    assert.equal(
      wider({ scopes: ["orders:read"], audiences: ["billing"], mayDelegateTo: [], maxDepth: 1 }),
      false,
    );
    assert.equal(widens(base, undefined), false);
  });
});
