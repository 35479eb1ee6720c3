import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { cachedState, planLookup, type CachedFacts, type CachedState } from "./lookup-plan.js";

const TTL = 5_000;
const NOW = 1_000_000;

describe("cachedState: may a cached result be served", () => {
  const cases: [string, CachedFacts, number, CachedState][] = [
    ["just made", { alive: true, attestedAtMs: NOW }, TTL, "fresh"],
    ["one ms before the TTL", { alive: true, attestedAtMs: NOW - TTL + 1 }, TTL, "fresh"],
    ["exactly the TTL old", { alive: true, attestedAtMs: NOW - TTL }, TTL, "expired"],
    ["older than the TTL", { alive: true, attestedAtMs: NOW - TTL - 1 }, TTL, "expired"],
    ["from the future (the clock stepped back)", { alive: true, attestedAtMs: NOW + 1 }, TTL, "expired"],
    ["with the cache off (TTL 0)", { alive: true, attestedAtMs: NOW }, 0, "expired"],
    ["its process exited, though fresh", { alive: false, attestedAtMs: NOW }, TTL, "process_gone"],
    ["its process exited and expired", { alive: false, attestedAtMs: NOW - TTL }, TTL, "process_gone"],
    ["its process exited, clock stepped back", { alive: false, attestedAtMs: NOW + 1 }, TTL, "process_gone"],
  ];
  for (const [name, entry, ttl, expected] of cases) {
    it(`${name}: ${expected}`, () => assert.equal(cachedState(entry, NOW, ttl), expected));
  }
});

describe("planLookup: every combination of what the lookup finds", () => {
  const cachedOptions: (CachedFacts | undefined)[] = [
    undefined,
    { alive: true, attestedAtMs: NOW - 1 },
    { alive: true, attestedAtMs: NOW - TTL },
    { alive: true, attestedAtMs: NOW + 1 },
    { alive: false, attestedAtMs: NOW - 1 },
    { alive: false, attestedAtMs: NOW - TTL },
  ];
  const inFlightOptions: ({ alive: boolean } | undefined)[] = [undefined, { alive: true }, { alive: false }];

  for (const callerAlive of [true, false]) {
    for (const ttlMs of [TTL, 0]) {
      for (const cached of cachedOptions) {
        for (const inFlight of inFlightOptions) {
          const fresh = cached !== undefined && cachedState(cached, NOW, ttlMs) === "fresh";
          const name = `caller ${callerAlive ? "alive" : "gone"}, ttl ${ttlMs}, cached ${JSON.stringify(cached)}, in flight ${JSON.stringify(inFlight)}`;
          it(name, () => {
            const plan = planLookup({ callerAlive, cached, inFlight, nowMs: NOW, ttlMs });

            // A dead caller gets nothing and starts nothing, whatever else is there.
            if (!callerAlive) assert.equal(plan.action.kind, "refuse");
            // A live caller is served from the cache exactly when the entry is fresh (alive, young).
            else if (fresh) assert.deepEqual(plan.action, { kind: "serve_cached", cached });
            // Otherwise it joins an attestation in flight only if that one's process still lives...
            else if (inFlight?.alive === true) assert.deepEqual(plan.action, { kind: "join", inFlight });
            // ...and attests on its own when there is none, or it is about an exited process.
            else assert.deepEqual(plan.action, { kind: "attest" });

            // Entries that can never be served again go, whoever asked.
            assert.equal(plan.dropCached, cached !== undefined && !fresh);
            assert.equal(plan.forgetInFlight, inFlight?.alive === false);
          });
        }
      }
    }
  }

  it("never joins an attestation about an exited process, even with nothing else to serve", () => {
    const plan = planLookup({
      callerAlive: true,
      cached: undefined,
      inFlight: { alive: false },
      nowMs: NOW,
      ttlMs: TTL,
    });
    assert.deepEqual(plan, { action: { kind: "attest" }, dropCached: false, forgetInFlight: true });
  });

  it("prefers a fresh cached result to waiting for an attestation in flight", () => {
    const cached = { alive: true, attestedAtMs: NOW };
    const plan = planLookup({ callerAlive: true, cached, inFlight: { alive: true }, nowMs: NOW, ttlMs: TTL });
    assert.equal(plan.action.kind, "serve_cached");
  });
});
