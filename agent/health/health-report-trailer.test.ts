import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { agentHealthReport, type AgentHealthInputs } from "./agent-health.js";
import {
  MAX_HEALTH_TRAILER_BYTES,
  decodeHealthTrailer,
  encodeHealthTrailer,
} from "./health-report-trailer.js";

const NOW = Date.UTC(2026, 4, 1);

function reportWithError(message: string): ReturnType<typeof agentHealthReport> {
  const inputs: AgentHealthInputs = {
    identity: { attested: false, lastError: { code: "UNAVAILABLE", message, atMs: NOW - 1000 } },
    sync: { connected: false, synced: false },
    cache: { entries: 0, entriesWithValidSvid: 0, pending: 0, serverReachable: true },
  };
  return agentHealthReport(inputs, NOW);
}

describe("the health report trailer", () => {
  it("is printable ASCII, and decodes to the same report, whatever characters the messages hold", () => {
    const report = reportWithError("serveur injoignable — ✗ \u0000 \u007f 🔒");
    const value = encodeHealthTrailer(report);
    assert.match(value, /^[\x20-\x7e]*$/);
    assert.deepEqual(decodeHealthTrailer(value), report);
  });

  it("shortens a report too large for a header: errors dropped, problems clipped, still decodable", () => {
    const report = reportWithError("x".repeat(10_000));
    const value = encodeHealthTrailer(report);
    assert.ok(value.length <= MAX_HEALTH_TRAILER_BYTES, String(value.length));
    const decoded = decodeHealthTrailer(value);
    assert.equal(decoded?.healthy, false);
    assert.equal(decoded?.shortened, true);
    assert.deepEqual(decoded?.errors, {});
    assert.equal(decoded?.problems[0]?.length, 400);
    assert.match(decoded?.problems[0] ?? "", /^The agent is not attested: .*\.\.\.$/);
  });

  it("falls back to a pointer to /ready when even the shortened report is too large", () => {
    const report = { ...reportWithError("x"), spiffeId: `spiffe://example.org/${"a".repeat(5000)}` };
    const decoded = decodeHealthTrailer(encodeHealthTrailer(report));
    assert.deepEqual(decoded, {
      healthy: false,
      problems: ["The health report is too large to send here: read it at /ready or in the agent's log."],
      shortened: true,
    });
  });

  it("decodes to undefined for anything that is not a report", () => {
    for (const value of ["", "not json", "[]", '{"healthy":"yes","problems":[]}', '{"healthy":true}']) {
      assert.equal(decodeHealthTrailer(value), undefined, value);
    }
  });
});
