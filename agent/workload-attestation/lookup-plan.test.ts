import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  cachedState,
  planLookup,
  type CachedFacts,
  type CachedState,
  type InFlightFacts,
} from "./lookup-plan.js";

const TTL = 5_000;
const NOW = 1_000_000;
/** The wants generation now; results made under GEN - 1 are outdated. */
const GEN = 3;

describe("cachedState: may a cached result be served", () => {
  const cases: [string, CachedFacts, number, CachedState][] = [
    ["just made", { alive: true, attestedAtMs: NOW, wantsGeneration: GEN }, TTL, "fresh"],
    [
      "one ms before the TTL",
      { alive: true, attestedAtMs: NOW - TTL + 1, wantsGeneration: GEN },
      TTL,
      "fresh",
    ],
    ["exactly the TTL old", { alive: true, attestedAtMs: NOW - TTL, wantsGeneration: GEN }, TTL, "expired"],
    [
      "older than the TTL",
      { alive: true, attestedAtMs: NOW - TTL - 1, wantsGeneration: GEN },
      TTL,
      "expired",
    ],
    [
      "from the future (the clock stepped back)",
      { alive: true, attestedAtMs: NOW + 1, wantsGeneration: GEN },
      TTL,
      "expired",
    ],
    ["with the cache off (TTL 0)", { alive: true, attestedAtMs: NOW, wantsGeneration: GEN }, 0, "expired"],
    [
      "its process exited, though fresh",
      { alive: false, attestedAtMs: NOW, wantsGeneration: GEN },
      TTL,
      "process_gone",
    ],
    [
      "its process exited and expired",
      { alive: false, attestedAtMs: NOW - TTL, wantsGeneration: GEN },
      TTL,
      "process_gone",
    ],
    [
      "its process exited, clock stepped back",
      { alive: false, attestedAtMs: NOW + 1, wantsGeneration: GEN },
      TTL,
      "process_gone",
    ],
    [
      "made before an entry used a skipped kind",
      { alive: true, attestedAtMs: NOW, wantsGeneration: GEN - 1 },
      TTL,
      "outdated",
    ],
    [
      "outdated and expired",
      { alive: true, attestedAtMs: NOW - TTL, wantsGeneration: GEN - 1 },
      TTL,
      "outdated",
    ],
    [
      "outdated, its process exited",
      { alive: false, attestedAtMs: NOW, wantsGeneration: GEN - 1 },
      TTL,
      "process_gone",
    ],
  ];
  for (const [name, entry, ttl, expected] of cases) {
    it(`${name}: ${expected}`, () => assert.equal(cachedState(entry, NOW, ttl, GEN), expected));
  }
});

describe("planLookup: every combination of what the lookup finds", () => {
  const cachedOptions: (CachedFacts | undefined)[] = [
    undefined,
    { alive: true, attestedAtMs: NOW - 1, wantsGeneration: GEN },
    { alive: true, attestedAtMs: NOW - TTL, wantsGeneration: GEN },
    { alive: true, attestedAtMs: NOW + 1, wantsGeneration: GEN },
    { alive: false, attestedAtMs: NOW - 1, wantsGeneration: GEN },
    { alive: false, attestedAtMs: NOW - TTL, wantsGeneration: GEN },
    { alive: true, attestedAtMs: NOW - 1, wantsGeneration: GEN - 1 },
    { alive: false, attestedAtMs: NOW - 1, wantsGeneration: GEN - 1 },
  ];
  const inFlightOptions: (InFlightFacts | undefined)[] = [
    undefined,
    { alive: true, wantsGeneration: GEN },
    { alive: false, wantsGeneration: GEN },
    { alive: true, wantsGeneration: GEN - 1 },
    { alive: false, wantsGeneration: GEN - 1 },
  ];

  for (const callerAlive of [true, false]) {
    for (const ttlMs of [TTL, 0]) {
      for (const cached of cachedOptions) {
        for (const inFlight of inFlightOptions) {
          const fresh = cached !== undefined && cachedState(cached, NOW, ttlMs, GEN) === "fresh";
          const name = `caller ${callerAlive ? "alive" : "gone"}, ttl ${ttlMs}, cached ${JSON.stringify(cached)}, in flight ${JSON.stringify(inFlight)}`;
          it(name, () => {
            const plan = planLookup({
              callerAlive,
              cached,
              inFlight,
              nowMs: NOW,
              ttlMs,
              wantsGeneration: GEN,
            });

            // A dead caller gets nothing and starts nothing, whatever else is there.
            if (!callerAlive) assert.equal(plan.action.kind, "refuse");
            // A live caller is served from the cache exactly when the entry is fresh (alive, young).
            else if (fresh) assert.deepEqual(plan.action, { kind: "serve_cached", cached });
            // Otherwise it joins an attestation in flight only if that one's process still lives and
            // its attestors skip nothing an entry now uses...
            else if (inFlight?.alive === true && inFlight.wantsGeneration === GEN)
              assert.deepEqual(plan.action, { kind: "join", inFlight });
            // ...and attests on its own when there is none, or it is about an exited process, or outdated.
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
      inFlight: { alive: false, wantsGeneration: GEN },
      nowMs: NOW,
      ttlMs: TTL,
      wantsGeneration: GEN,
    });
    assert.deepEqual(plan, { action: { kind: "attest" }, dropCached: false, forgetInFlight: true });
  });

  it("prefers a fresh cached result to waiting for an attestation in flight", () => {
    const cached = { alive: true, attestedAtMs: NOW, wantsGeneration: GEN };
    const plan = planLookup({
      callerAlive: true,
      cached,
      inFlight: { alive: true, wantsGeneration: GEN },
      nowMs: NOW,
      ttlMs: TTL,
      wantsGeneration: GEN,
    });
    assert.equal(plan.action.kind, "serve_cached");
  });

  it("neither serves nor joins what was made before an entry began to use a skipped selector kind", () => {
    const plan = planLookup({
      callerAlive: true,
      cached: { alive: true, attestedAtMs: NOW, wantsGeneration: GEN - 1 },
      inFlight: { alive: true, wantsGeneration: GEN - 1 },
      nowMs: NOW,
      ttlMs: TTL,
      wantsGeneration: GEN,
    });
    // The outdated attestation in flight stays for its own waiters; the new one takes its place.
    assert.deepEqual(plan, { action: { kind: "attest" }, dropCached: true, forgetInFlight: false });
  });
});
