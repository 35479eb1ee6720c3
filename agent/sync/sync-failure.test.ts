import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { classifySyncFailure } from "./sync-failure.js";

describe("what a failed Sync asks of the agent", () => {
  it("a ban (on the stream or at the proof) stops the agent", () => {
    assert.equal(classifySyncFailure({ serverCode: "AGENT_BANNED" }), "banned");
    assert.equal(classifySyncFailure({ serverCode: "POP_AGENT_BANNED" }), "banned");
  });

  it("an identity the server no longer accepts means attesting again", () => {
    for (const code of [
      "AGENT_EVICTED",
      "POP_UNKNOWN_AGENT",
      "POP_SERIAL_NOT_CURRENT",
      "POP_KEY_MISMATCH",
      "POP_EXPIRED",
      "POP_SVID_UNTRUSTED",
      "POP_NOT_AN_AGENT",
      "POP_NO_AGENT_SVID",
    ])
      assert.equal(classifySyncFailure({ serverCode: code }), "reattest", code);
  });

  it("anything else, the server unreachable included, is retried while the cache serves", () => {
    for (const code of [
      undefined,
      "SHUTTING_DOWN",
      "POP_NONCE_UNKNOWN",
      "POP_CLOCK_SKEW",
      "NODE_MESSAGE_INVALID",
    ])
      assert.equal(classifySyncFailure({ serverCode: code }), "retry", String(code));
  });
});
