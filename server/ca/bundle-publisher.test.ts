import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import type { SpiffeBundle } from "../../common/spiffe/bundle.js";
import { BundlePublisher } from "./bundle-publisher.js";
import type { Slot } from "./ca-slot.js";
import { captureLogger } from "./testdata/capture-logger.js";
import { TEST_TRUST_DOMAIN } from "./testdata/ca-options.js";

/** A published JWT key: the bundle carries its public key under its id. */
function jwtSlot(keyId: string, status: Slot["record"]["status"] = "active"): Slot {
  const { publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  return {
    record: { keyId, kind: "jwt", status, notBeforeMs: 0, notAfterMs: 1 },
    publicKey,
    lastExpiryMs: 0,
  };
}

const publisher = (slots: Slot[], sequence = 4): BundlePublisher =>
  new BundlePublisher(
    {
      trustDomain: TEST_TRUST_DOMAIN,
      refreshHintSeconds: 300,
      upstream: undefined,
      sequence,
      logger: captureLogger().logger,
    },
    slots,
  );

const kids = (bundle: SpiffeBundle): string[] => bundle.jwtAuthorities.map((a) => a.keyId);

describe("BundlePublisher", () => {
  it("starts with the journal's sequence and publishes only what changed, one sequence step per publication", () => {
    const slots = [jwtSlot("a")];
    const bundles = publisher(slots);
    const seen: SpiffeBundle[] = [];
    bundles.subscribe((b) => void seen.push(b));
    assert.deepEqual(
      seen.map((b) => [b.sequence, kids(b)]),
      [[4, ["a"]]],
      "the current bundle at once",
    );
    bundles.publishIfChanged(slots);
    assert.equal(seen.length, 1, "nothing changed, nothing published");
    bundles.changing();
    bundles.changing();
    assert.equal(bundles.sequence, 5, "two changes before one publication: one step");
    slots.push(jwtSlot("b", "prepared"), jwtSlot("c", "deleting"));
    bundles.publishIfChanged(slots);
    assert.deepEqual(
      seen.map((b) => [b.sequence, kids(b)]),
      [
        [4, ["a"]],
        [5, ["a", "b"]],
      ],
      "a deleting key is no longer published",
    );
    assert.equal(bundles.current, seen[1]);
  });

  it("hands the bundles to a stream as an async iterator that a signal ends", async () => {
    const slots = [jwtSlot("a")];
    const bundles = publisher(slots);
    const controller = new AbortController();
    const updates = bundles.values(controller.signal);
    assert.deepEqual(kids((await updates.next()).value as SpiffeBundle), ["a"]);
    bundles.changing();
    slots.push(jwtSlot("b", "prepared"));
    bundles.publishIfChanged(slots);
    assert.deepEqual(kids((await updates.next()).value as SpiffeBundle), ["a", "b"]);
    controller.abort();
    assert.equal((await updates.next()).done, true);
  });
});
