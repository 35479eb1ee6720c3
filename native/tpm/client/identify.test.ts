import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import type { SwtpmFixture } from "../../../test/fixtures/swtpm.js";
import { SwtpmConnection } from "../../../test/tpm/swtpm-connection.js";
import { createPrimary, flushContext } from "../commands/objects.js";
import { TPM_RH } from "../constants.js";
import type { Tpm } from "../tpm.js";
import { identifyTpm } from "./identify.js";
import { srkTemplateEccP256 } from "./templates.js";
import { leftoverHandles } from "./transient.js";

describe("identifyTpm (swtpm)", () => {
  let conn: SwtpmConnection;
  let sw: SwtpmFixture;
  let tpm: Tpm;
  before(async () => {
    conn = await SwtpmConnection.start();
    ({ sw, tpm } = conn);
  });
  after(() => conn?.stop());

  it("reads the identity without flushing transient objects it did not create", async () => {
    const held = await createPrimary(tpm, TPM_RH.OWNER, srkTemplateEccP256());
    try {
      const id = await identifyTpm(tpm);
      assert.equal(id.ekHandle, sw.ekHandles.rsa);
      assert.deepEqual(await leftoverHandles(tpm), [held.handle]);
    } finally {
      await flushContext(tpm, held.handle);
    }
  });
});
