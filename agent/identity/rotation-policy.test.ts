import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { decideStoredIdentity, reattestAtMs } from "./rotation-policy.js";

const HOUR = 3_600_000;
const svid = { notBeforeMs: 1_000_000, expiresAtMs: 1_000_000 + HOUR };

describe("agent SVID rotation policy", () => {
  it("re-attests between 40% and 50% of the SVID's life, by the jitter draw", () => {
    assert.equal(reattestAtMs(svid, 0), svid.notBeforeMs + 0.4 * HOUR);
    assert.equal(reattestAtMs(svid, 0.5), svid.notBeforeMs + 0.45 * HOUR);
    const latest = reattestAtMs(svid, 0.999_999);
    assert.ok(latest < svid.notBeforeMs + 0.5 * HOUR, "always before half-life");
    assert.ok(latest > svid.notBeforeMs + 0.499 * HOUR);
  });

  it("clamps the jitter and survives a zero or negative lifetime", () => {
    assert.equal(reattestAtMs(svid, -1), reattestAtMs(svid, 0));
    assert.equal(reattestAtMs(svid, 2), svid.notBeforeMs + 0.5 * HOUR);
    assert.equal(reattestAtMs({ notBeforeMs: 5, expiresAtMs: 5 }, 0.3), 5);
    assert.equal(reattestAtMs({ notBeforeMs: 5, expiresAtMs: 1 }, 0.3), 5);
  });

  it("keeps a stored identity only while it is valid and before its rotation point", () => {
    const cases: [string, number | undefined, boolean, string?][] = [
      ["none stored", undefined, false, "no stored identity"],
      ["not valid yet", svid.notBeforeMs - 1, false, "the stored SVID is not valid yet"],
      ["just issued", svid.notBeforeMs, true],
      ["a minute before rotation", svid.notBeforeMs + 0.4 * HOUR - 60_000, true],
      ["at rotation", svid.notBeforeMs + 0.4 * HOUR, false, "the stored SVID is past its rotation point"],
      [
        "valid but past half-life",
        svid.notBeforeMs + 0.9 * HOUR,
        false,
        "the stored SVID is past its rotation point",
      ],
      ["expired", svid.expiresAtMs, false, "the stored SVID has expired"],
      ["long expired", svid.expiresAtMs + HOUR, false, "the stored SVID has expired"],
    ];
    for (const [name, now, use, reason] of cases) {
      const decision = decideStoredIdentity(now === undefined ? undefined : svid, now ?? 0, 0);
      assert.equal(decision.use, use, name);
      if (decision.use) assert.equal(decision.reattestAtMs, reattestAtMs(svid, 0), name);
      else assert.equal(decision.reason, reason, name);
    }
  });
});
