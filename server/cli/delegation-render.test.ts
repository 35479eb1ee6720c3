import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type * as pb from "../../proto/gen/admin.js";
import { renderTokenDetail, renderTokenTree, roughDuration } from "./delegation-render.js";

const NOW = Date.UTC(2026, 10, 30, 12);
const PLANNER = "spiffe://example.org/agent/planner";
const BOOKER = "spiffe://example.org/agent/booker";
const PAYER = "spiffe://example.org/agent/payer";

function token(jti: string, ancestors: string[], actors: string[], more: Partial<pb.DelegationToken> = {}) {
  return {
    jti,
    chainId: "chain-1",
    ancestors,
    depth: actors.length,
    subject: "alice",
    subjectIssuer: "https://login.example.org",
    actors,
    entryId: `entry-${jti}`,
    audiences: ["https://orders.example.org"],
    scopes: ["orders:read"],
    issuedAtMs: NOW - 60_000,
    expiresAtMs: NOW + 240_000,
    elevationId: "",
    revokedBy: [],
    ...more,
  } satisfies pb.DelegationToken;
}

const REVOKED: pb.Revocation = {
  id: 7,
  kind: "jti",
  value: "middle",
  revokedAtMs: NOW,
  expiresAtMs: NOW + 240_000,
};

describe("delegation render", () => {
  it("prints each chain as a tree: a child under its last ancestor, indented, revoked ones marked", () => {
    const lines = renderTokenTree({
      tokens: [
        token("root", [], [PLANNER]),
        token("middle", ["root"], [BOOKER, PLANNER], { revokedBy: [REVOKED] }),
        token("leaf", ["root", "middle"], [PAYER, BOOKER, PLANNER], { revokedBy: [REVOKED] }),
        token("sibling", ["root"], [PAYER, PLANNER]),
        token("bob-1", [], [BOOKER], { chainId: "chain-2", subject: "bob" }),
      ],
      truncated: false,
      nowMs: NOW,
    });
    const until = new Date(NOW + 240_000).toISOString();
    assert.deepEqual(lines, [
      "Found 5 delegation tokens",
      "",
      "Chain chain-1  user alice (https://login.example.org)",
      `  root  ${PLANNER}  scope "orders:read"  aud https://orders.example.org  until ${until}`,
      `  └─ middle  ${BOOKER}  scope "orders:read"  aud https://orders.example.org  until ${until}  REVOKED (jti middle, revocation 7)`,
      `     └─ leaf  ${PAYER}  scope "orders:read"  aud https://orders.example.org  until ${until}  REVOKED (jti middle, revocation 7)`,
      `  └─ sibling  ${PAYER}  scope "orders:read"  aud https://orders.example.org  until ${until}`,
      "",
      "Chain chain-2  user bob (https://login.example.org)",
      `  bob-1  ${BOOKER}  scope "orders:read"  aud https://orders.example.org  until ${until}`,
    ]);
  });

  it("a token whose parent is not listed starts its own tree and says so; truncation is noted", () => {
    const lines = renderTokenTree({
      tokens: [token("leaf", ["root", "middle"], [PAYER, BOOKER, PLANNER])],
      truncated: true,
      nowMs: NOW,
    });
    assert.match(lines[3] ?? "", /^ {2}leaf .*\(parent middle not listed\)$/);
    assert.match(lines.at(-1) ?? "", /more tokens match/);
  });

  it("shows one token with every field, its ancestors (a pruned one named) and its descendants' tree", () => {
    const lines = renderTokenDetail({
      token: token("middle", ["root"], [BOOKER, PLANNER], { revokedBy: [REVOKED], elevationId: "req-1" }),
      ancestors: [],
      missingAncestors: ["root"],
      descendants: [
        token("leaf", ["root", "middle"], [PAYER, BOOKER, PLANNER]),
        token("deep", ["root", "middle", "leaf"], ["spiffe://example.org/x", PAYER, BOOKER, PLANNER]),
      ],
      nowMs: NOW,
    });
    const text = lines.join("\n");
    for (const field of [
      /^JTI +: middle$/m,
      /^Chain +: chain-1$/m,
      /^Depth +: 2$/m,
      /^User +: alice$/m,
      new RegExp(`^Actor +: ${BOOKER}$`, "m"),
      new RegExp(`^Acting for +: ${PLANNER}$`, "m"),
      /^Scope +: orders:read$/m,
      /^Audience +: https:\/\/orders\.example\.org$/m,
      /^Elevation +: req-1$/m,
      /^Revoked +: yes$/m,
      /^Revoked by +: revocation 7: jti middle at /m,
      /^ {2}root {2}\(no longer recorded\)$/m,
      /^Descendants \(2\):\n {2}leaf .*\n {2}└─ deep /m,
    ]) {
      assert.match(text, field);
    }
  });

  it("rounds ages and TTLs to their two largest units", () => {
    assert.equal(roughDuration(900_000), "15m");
    assert.equal(roughDuration(3_723_456), "1h2m");
    assert.equal(roughDuration(999), "0s");
    assert.equal(roughDuration(-5), "0s");
  });
});
