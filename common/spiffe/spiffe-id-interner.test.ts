import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { InvalidSpiffeIdError } from "./errors.js";
import { SpiffeId, TrustDomain } from "./spiffe-id.js";
import { SpiffeIdInterner } from "./spiffe-id-interner.js";

describe("SpiffeIdInterner", () => {
  it("hands out one TrustDomain per name, the known one first, for the IDs it parses", () => {
    const own = TrustDomain.parse("example.org");
    const ids = new SpiffeIdInterner([own]);
    const a = ids.parse("spiffe://example.org/a");
    const b = ids.parse("spiffe://example.org/b");
    const c = ids.parse("spiffe://other.org/c");
    assert.equal(a.trustDomain, own);
    assert.equal(b.trustDomain, own);
    assert.equal(c.trustDomain, ids.parse("spiffe://other.org/d").trustDomain);
    assert.notEqual(a, ids.parse("spiffe://example.org/a"), "an ID of its own is not kept");
    assert.ok(a.equals(SpiffeId.parse("spiffe://example.org/a")));
    assert.equal(a.path, "/a");
  });

  it("hands out the same SpiffeId for an ID asked for as shared, and refuses invalid ones as SpiffeId.parse does", () => {
    const ids = new SpiffeIdInterner();
    const parent = ids.parseShared("spiffe://example.org/agent/1");
    assert.equal(ids.parseShared("spiffe://example.org/agent/1"), parent);
    assert.equal(parent.toString(), "spiffe://example.org/agent/1");
    assert.throws(() => ids.parseShared("spiffe://Example.org/x"), InvalidSpiffeIdError);
    assert.throws(() => ids.parse("https://example.org/x"), InvalidSpiffeIdError);
  });

  it("keeps at most maxSharedIds shared IDs: past that it starts over, and what it handed out stays valid", () => {
    const ids = new SpiffeIdInterner([], 2);
    const first = ids.parseShared("spiffe://example.org/1");
    ids.parseShared("spiffe://example.org/2");
    ids.parseShared("spiffe://example.org/3");
    const again = ids.parseShared("spiffe://example.org/1");
    assert.notEqual(again, first, "made anew after the table started over");
    assert.ok(again.equals(first));
    assert.equal(ids.parseShared("spiffe://example.org/1"), again);
  });
});
