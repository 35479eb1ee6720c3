import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { cryptoRandom } from "../../../common/random.js";
import { loadAkAndAgentKey, type LoadedAkAndAgentKey } from "../../../test/tpm/loaded-keys.js";
import { SwtpmConnection } from "../../../test/tpm/swtpm-connection.js";
import { outcome } from "../../../test/tpm/verifier-testing/errors.js";
import { flushContext } from "../commands/objects.js";
import { unmarshalTpmsAttest } from "../structures/attest.js";
import type { Tpm } from "../tpm.js";
import { verifyCertify } from "../verifier/certify.js";
import { certifyKey } from "./certify.js";
import { leftoverHandles } from "./transient.js";

describe("certifyKey (swtpm), judged by verifyCertify", () => {
  let conn: SwtpmConnection;
  let tpm: Tpm;
  let keys: LoadedAkAndAgentKey;
  before(async () => {
    conn = await SwtpmConnection.start({ ekCertificates: false });
    tpm = conn.tpm;
    keys = await loadAkAndAgentKey(tpm, "eccP256");
  });
  after(async () => {
    if (keys) {
      await flushContext(tpm, keys.ak.handle);
      await flushContext(tpm, keys.agent.handle);
      assert.deepEqual(await leftoverHandles(tpm), []);
    }
    await conn?.stop();
  });

  it("gives evidence bytes that verify: the AK certified exactly the agent key, over the nonce", async () => {
    const nonce = cryptoRandom.bytes(32);
    const { evidence } = await certifyKey(tpm, { akHandle: keys.ak.handle, key: keys.agent, nonce });
    assert.deepEqual(evidence.certifiedPublic, keys.agent.publicArea);
    const attest = unmarshalTpmsAttest(evidence.attest);
    assert.deepEqual(attest.extraData, nonce);
    const verified = verifyCertify({ akPublic: keys.ak.publicArea, ...evidence }, { nonce });
    assert.deepEqual(verified.certifiedName, keys.agent.name);
  });

  it("evidence for one nonce, AK or key does not pass for another", async () => {
    const nonce = cryptoRandom.bytes(32);
    const { evidence } = await certifyKey(tpm, { akHandle: keys.ak.handle, key: keys.agent, nonce });
    const verdict = (akPublic: Buffer, certifiedPublic: Buffer, n: Buffer) =>
      outcome(() => verifyCertify({ ...evidence, akPublic, certifiedPublic }, { nonce: n }));
    const ak = keys.ak.publicArea;
    const agent = keys.agent.publicArea;
    assert.equal(verdict(ak, agent, cryptoRandom.bytes(32)), "CERTIFY_NONCE_MISMATCH");
    // The AK presented as the certified key: its Name is not the certified one (and it is restricted).
    assert.equal(verdict(ak, ak, nonce), "AGENT_KEY_ATTRIBUTE_INVALID");
    // The agent key presented as the AK that signed: it is no AK.
    assert.equal(verdict(agent, agent, nonce), "AK_ATTRIBUTE_INVALID");
  });

  it("refuses to start when the caller's deadline has already passed", async () => {
    const signal = AbortSignal.abort(new DOMException("deadline", "TimeoutError"));
    await assert.rejects(
      certifyKey(
        tpm,
        { akHandle: keys.ak.handle, key: keys.agent, nonce: cryptoRandom.bytes(32) },
        { signal },
      ),
      (err: unknown) => (err as { code?: string }).code === "DEADLINE_EXCEEDED",
    );
  });
});
