import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ManualClock } from "../../common/clock.js";
import { SpiffeId } from "../../common/spiffe/spiffe-id.js";
import { CaManager } from "../../server/ca/index.js";
import { testCaOptions } from "../../server/ca/testdata/ca-options.js";
import { MemoryKeyManager } from "../../server/ca/testdata/memory-key-manager.js";
import { issuedSvidProblem } from "./issued-svid.js";
import { makeSvidKey } from "./svid-key.js";

describe("checking an SVID the server returned", () => {
  it("accepts only a certificate for the agent's key that has not expired", async () => {
    const clock = new ManualClock();
    const ca = await CaManager.start(testCaOptions({ keyManager: new MemoryKeyManager(), clock }));
    try {
      const key = await makeSvidKey();
      const other = await makeSvidKey();
      const issued = await ca.issueX509Svid({
        spiffeId: SpiffeId.parse("spiffe://example.org/w"),
        csr: key.csr,
      });
      const answer = { certChain: [issued.certificate], expiresAtMs: issued.notAfter.getTime() };
      const now = clock.nowMs();
      assert.equal(issuedSvidProblem(answer, key.spki, now), undefined);
      assert.match(issuedSvidProblem(answer, other.spki, now) ?? "", /another key/);
      assert.match(issuedSvidProblem({ ...answer, certChain: [] }, key.spki, now) ?? "", /empty/);
      assert.match(
        issuedSvidProblem({ ...answer, certChain: [Buffer.from("junk")] }, key.spki, now) ?? "",
        /not a DER certificate/,
      );
      assert.match(issuedSvidProblem(answer, key.spki, answer.expiresAtMs) ?? "", /expired/);
      assert.match(issuedSvidProblem({ ...answer, expiresAtMs: NaN }, key.spki, now) ?? "", /expired/);
    } finally {
      await ca.stop();
    }
  });
});
