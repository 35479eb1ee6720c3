import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { SpiffeId, TrustDomain } from "./spiffe-id.js";

describe("SpiffeId", () => {
  it("parses a valid ID into trust domain and path", () => {
    const id = SpiffeId.parse("spiffe://example.org/ns/prod/sa/agent_1.v-2");
    assert.equal(id.trustDomain.name, "example.org");
    assert.equal(id.path, "/ns/prod/sa/agent_1.v-2");
    assert.equal(id.toString(), "spiffe://example.org/ns/prod/sa/agent_1.v-2");
    assert.equal(id.isRoot, false);
    assert.ok(id.memberOf(TrustDomain.parse("example.org")));
  });

  it("accepts the trust domain's own ID and marks it root", () => {
    const id = SpiffeId.parse("spiffe://example.org");
    assert.equal(id.path, "");
    assert.ok(id.isRoot);
  });

  const invalid: [string, RegExp][] = [
    ["", /empty/],
    ["http://example.org/a", /scheme must be spiffe/],
    ["SPIFFE://example.org/a", /scheme must be lowercase/],
    ["spiffe://", /trust domain is empty/],
    ["spiffe:///a", /trust domain is empty/],
    ["spiffe://Example.org/a", /lowercase letters/],
    ["spiffe://exa mple.org/a", /lowercase letters/],
    ["spiffe://example.org:8443/a", /port/],
    ["spiffe://user@example.org/a", /userinfo/],
    ["spiffe://example.org/a?x=1", /query/],
    ["spiffe://example.org/a#frag", /fragment/],
    ["spiffe://example.org/a%20b", /percent-encoding/],
    ["spiffe://example.org/", /must not end with/],
    ["spiffe://example.org/a/", /must not end with/],
    ["spiffe://example.org/a//b", /empty segments/],
    ["spiffe://example.org/a/./b", /'\.' or '\.\.'/],
    ["spiffe://example.org/a/../b", /'\.' or '\.\.'/],
    ["spiffe://example.org/a/b$c", /path segments may contain only/],
    [`spiffe://${"a".repeat(256)}/x`, /longer than 255/],
    [`spiffe://example.org/${"a".repeat(2048)}`, /longer than 2048 bytes/],
  ];
  for (const [input, reason] of invalid) {
    it(`refuses ${JSON.stringify(input.slice(0, 40))}`, () => {
      assert.throws(() => SpiffeId.parse(input), { code: "INVALID_SPIFFE_ID", message: reason });
    });
  }

  it("builds an ID from checked segments", () => {
    const td = TrustDomain.parse("example.org");
    assert.equal(
      SpiffeId.fromSegments(td, "hallmark", "agent").toString(),
      "spiffe://example.org/hallmark/agent",
    );
    assert.throws(() => SpiffeId.fromSegments(td, "a/b", ""), { code: "INVALID_SPIFFE_ID" });
  });
});

describe("TrustDomain", () => {
  it("parses a name or the trust domain's SPIFFE ID", () => {
    assert.equal(TrustDomain.parse("example.org").name, "example.org");
    assert.equal(TrustDomain.parse("spiffe://example.org").name, "example.org");
    assert.equal(TrustDomain.parse("example.org").id.toString(), "spiffe://example.org");
  });

  it("refuses bad names and IDs with a path", () => {
    assert.throws(() => TrustDomain.parse("Example.org"), { code: "INVALID_TRUST_DOMAIN" });
    assert.throws(() => TrustDomain.parse(""), { code: "INVALID_TRUST_DOMAIN" });
    assert.throws(() => TrustDomain.parse("spiffe://example.org/a"), {
      code: "INVALID_TRUST_DOMAIN",
      message: /no path/,
    });
  });
});
