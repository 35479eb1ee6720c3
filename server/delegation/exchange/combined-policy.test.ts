import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { SpiffeId } from "../../../common/spiffe/index.js";
import type { DelegationPolicy } from "../../datastore/entry.js";
import { combinedPolicy } from "./combined-policy.js";
import { registrationEntry } from "./testdata/registration-entry.js";

const ID = SpiffeId.parse("spiffe://example.org/agent/planner");
const A = SpiffeId.parse("spiffe://example.org/agent/a");
const B = SpiffeId.parse("spiffe://example.org/agent/b");

const entry = (id: string, delegation: DelegationPolicy | undefined) => registrationEntry(id, ID, delegation);

describe("combinedPolicy", () => {
  it("one entry: its policy, its id", () => {
    const policy = { scopes: ["s"], audiences: ["x"], mayDelegateTo: [A], maxDepth: 2 };
    assert.deepEqual(combinedPolicy(ID, [entry("e1", policy)]), { entryId: "e1", policy });
  });

  it("several entries: the intersection of every list, the smallest depth, the lowest entry id", () => {
    const combined = combinedPolicy(ID, [
      entry("e2", { scopes: ["r", "w"], audiences: ["x", "y"], mayDelegateTo: [A, B], maxDepth: 3 }),
      entry("e1", { scopes: ["r", "admin"], audiences: ["y"], mayDelegateTo: [B], maxDepth: 2 }),
    ]);
    assert.equal(combined.entryId, "e1");
    assert.deepEqual(combined.policy.scopes, ["r"]);
    assert.deepEqual(combined.policy.audiences, ["y"]);
    assert.deepEqual(
      combined.policy.mayDelegateTo.map((d) => d.toString()),
      [B.toString()],
    );
    assert.equal(combined.policy.maxDepth, 2);
  });

  it("refuses an ID no entry names, and one with an entry without a policy among others", () => {
    assert.throws(() => combinedPolicy(ID, []), { code: "ACTOR_NOT_REGISTERED" });
    assert.throws(
      () =>
        combinedPolicy(ID, [
          entry("e1", { scopes: ["r"], audiences: ["x"], mayDelegateTo: [], maxDepth: 1 }),
          entry("e2", undefined),
        ]),
      { code: "ACTOR_POLICY_MISSING", message: /e2 .*every one must carry a policy/ },
    );
  });
});
