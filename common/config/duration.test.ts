import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { DurationError, formatDuration, parseDuration } from "./duration.js";

describe("parseDuration", () => {
  it("parses the units SPIRE configs use", () => {
    assert.equal(parseDuration("90s"), 90_000);
    assert.equal(parseDuration("5m"), 300_000);
    assert.equal(parseDuration("1h"), 3_600_000);
    assert.equal(parseDuration("24h"), 86_400_000);
    assert.equal(parseDuration("250ms"), 250);
    assert.equal(parseDuration("7d"), 604_800_000);
  });

  it("adds compound parts largest first", () => {
    assert.equal(parseDuration("1h30m"), 5_400_000);
    assert.equal(parseDuration("1m30s500ms"), 90_500);
  });

  it("refuses a bare number, naming the missing unit", () => {
    assert.throws(
      () => parseDuration("300"),
      (err: unknown) => {
        assert.ok(err instanceof DurationError);
        assert.equal(err.code, "INVALID_DURATION");
        assert.match(err.message, /"300".*unit is required/);
        return true;
      },
    );
  });

  it("refuses unknown units, negatives, fractions, repeats and empty input", () => {
    for (const bad of ["", "  ", "5y", "-5s", "1.5h", "5s5s", "5s1h", "h", "5 m", "1h 30m"]) {
      assert.throws(() => parseDuration(bad), DurationError, bad);
    }
  });

  it("formats back to the shortest exact spelling", () => {
    for (const text of ["90s", "5m", "1h30m", "24h", "1d2h", "250ms"]) {
      const ms = parseDuration(text);
      assert.equal(parseDuration(formatDuration(ms)), ms);
    }
    assert.equal(formatDuration(90_000), "1m30s");
    assert.equal(formatDuration(0), "0s");
  });
});
