import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { HallmarkError } from "../../common/errors.js";
import { SeededRandom, randomFraction } from "../../common/random.js";
import {
  DEFAULT_BACKOFF,
  DEFAULT_RENEW_WINDOW,
  isUnreachable,
  jwtRefreshAtMs,
  nextDueMs,
  renewAtMs,
  retryDelayMs,
} from "./renewal-policy.js";

const T0 = Date.UTC(2026, 0, 1);
const HOUR = 3_600_000;

describe("renewal time", () => {
  it("is 40 % into the lifetime at fraction 0 and just under 50 % at fractions near 1", () => {
    assert.equal(renewAtMs(T0, T0 + HOUR, 0), T0 + 0.4 * HOUR);
    assert.equal(renewAtMs(T0, T0 + HOUR, 0.5), T0 + 0.45 * HOUR);
    assert.ok(renewAtMs(T0, T0 + HOUR, 0.999_999) < T0 + 0.5 * HOUR);
  });

  it("stays within the window for every fraction and lifetime", () => {
    for (const lifetime of [1, 999, 60_000, HOUR, 24 * HOUR, 90 * 24 * HOUR]) {
      for (let i = 0; i < 1000; i++) {
        const at = renewAtMs(T0, T0 + lifetime, i / 1000);
        assert.ok(at >= T0 + Math.floor(0.4 * lifetime) && at <= T0 + 0.5 * lifetime, `${lifetime} ${i}`);
      }
    }
  });

  it("counts the lifetime from receipt, and makes an SVID already expired due at once", () => {
    assert.equal(renewAtMs(T0 + HOUR, T0 + 2 * HOUR, 0), T0 + HOUR + 0.4 * HOUR);
    assert.equal(renewAtMs(T0, T0 - 5, 0.7), T0);
    assert.equal(renewAtMs(T0, T0, 0.7), T0);
  });

  it("takes another window when given", () => {
    assert.equal(renewAtMs(T0, T0 + 1000, 0.5, { from: 0.6, to: 0.8 }), T0 + 700);
    assert.deepEqual(DEFAULT_RENEW_WINDOW, { from: 0.4, to: 0.5 });
  });

  it("spreads SVIDs issued together when the fractions come from the random source", () => {
    const random = new SeededRandom(11);
    const times = Array.from({ length: 1000 }, () => renewAtMs(T0, T0 + HOUR, randomFraction(random)));
    const min = Math.min(...times);
    const max = Math.max(...times);
    assert.ok(min < T0 + 0.41 * HOUR && max > T0 + 0.49 * HOUR, "they cover the window");
    assert.ok(new Set(times).size > 990);
  });
});

describe("uniform fraction", () => {
  it("is in [0, 1), from 32 random bits", () => {
    const fixed = (byte: number) => ({ bytes: (n: number) => Buffer.alloc(n, byte) });
    assert.equal(randomFraction(fixed(0)), 0);
    assert.ok(randomFraction(fixed(0xff)) < 1);
    assert.equal(randomFraction(fixed(0x80)), 0x80808080 / 2 ** 32);
  });
});

describe("retry backoff", () => {
  it("waits between half and all of base · 2^(failures − 1), capped at max", () => {
    const backoff = { baseMs: 1_000, maxMs: 30_000 };
    const ceilings = [1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000];
    ceilings.forEach((ceiling, i) => {
      const failures = i + 1;
      assert.equal(retryDelayMs(failures, 0, backoff), ceiling / 2, `failure ${failures} at fraction 0`);
      assert.ok(retryDelayMs(failures, 0.999_999, backoff) < ceiling);
      assert.ok(retryDelayMs(failures, 0.999_999, backoff) >= ceiling - 1);
    });
  });

  it("never overflows or goes below half the base, whatever the count", () => {
    for (const failures of [-3, 0, 1, 31, 32, 1000, Number.MAX_SAFE_INTEGER]) {
      const delay = retryDelayMs(failures, 0.5, DEFAULT_BACKOFF);
      assert.ok(
        Number.isFinite(delay) && delay >= DEFAULT_BACKOFF.baseMs / 2 && delay <= DEFAULT_BACKOFF.maxMs,
      );
    }
  });
});

describe("JWT-SVID refresh", () => {
  it("is half the lifetime from receipt", () => {
    assert.equal(jwtRefreshAtMs(T0, T0 + 300_000), T0 + 150_000);
    assert.equal(jwtRefreshAtMs(T0, T0 + 1), T0);
    assert.equal(jwtRefreshAtMs(T0, T0 - 10), T0);
  });
});

describe("reachability", () => {
  it("is lost on unavailable and deadline errors, typed or gRPC, and not on refusals", () => {
    const typed = (category: "unavailable" | "deadline_exceeded" | "permission_denied") =>
      new HallmarkError("X", "x", { category });
    assert.equal(isUnreachable(typed("unavailable")), true);
    assert.equal(isUnreachable(typed("deadline_exceeded")), true);
    assert.equal(isUnreachable(typed("permission_denied")), false);
    assert.equal(isUnreachable(Object.assign(new Error("x"), { code: 14 })), true);
    assert.equal(isUnreachable(Object.assign(new Error("x"), { code: 4 })), true);
    assert.equal(isUnreachable(Object.assign(new Error("x"), { code: 7 })), false);
    assert.equal(isUnreachable(new Error("x")), false);
    assert.equal(isUnreachable(undefined), false);
  });
});

describe("next due time of an entry", () => {
  it("is the earlier of its expiry and its next request, and only the expiry while requesting", () => {
    assert.equal(nextDueMs({ requestAtMs: 10, requesting: false }), 10);
    assert.equal(nextDueMs({ requestAtMs: 10, requesting: true }), Infinity);
    assert.equal(nextDueMs({ svidExpiresAtMs: 5, requestAtMs: 10, requesting: false }), 5);
    assert.equal(nextDueMs({ svidExpiresAtMs: 50, requestAtMs: 10, requesting: false }), 10);
    assert.equal(nextDueMs({ svidExpiresAtMs: 50, requestAtMs: 10, requesting: true }), 50);
  });
});
