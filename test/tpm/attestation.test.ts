import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { cryptoRandom } from "../../common/random.js";
import { TPM_ALG } from "../../native/tpm/constants.js";
import { certify } from "../../native/tpm/commands/attestation.js";
import { activateWithEk } from "../../native/tpm/client/activate.js";
import { openEk, releaseEk } from "../../native/tpm/client/ek.js";
import { quotePcrs } from "../../native/tpm/client/quote.js";
import type { KeyAlgorithm } from "../../native/tpm/client/storage.js";
import { flushLeftovers, leftoverHandles, withTransient } from "../../native/tpm/client/transient.js";
import type { EkKind } from "../../native/tpm/client/templates.js";
import type { Tpm } from "../../native/tpm/tpm.js";
import { checkAgentKeyAttributes, checkAkAttributes } from "../../native/tpm/verifier/attributes.js";
import { verifyCertify } from "../../native/tpm/verifier/certify.js";
import { checkEkCertificateMatches } from "../../native/tpm/verifier/ek.js";
import { makeCredential } from "../../native/tpm/verifier/make-credential.js";
import { verifyQuote } from "../../native/tpm/verifier/quote.js";
import { TpmVerificationError } from "../../native/tpm/verifier/errors.js";
import { loadAkAndAgentKey } from "./loaded-keys.js";
import { SwtpmConnection } from "./swtpm-connection.js";

/**
 * The whole TPM side of node attestation, device half (native/tpm/keys) against verifier half
 * (native/tpm/verifier), on swtpm: credential activation, PCR quote and key certification.
 */
describe("device-side attestation verified by the verifier", () => {
  let conn: SwtpmConnection;
  let tpm: Tpm;
  before(async () => {
    conn = await SwtpmConnection.start();
    tpm = conn.tpm;
    await flushLeftovers(tpm);
  });
  after(() => conn?.stop());

  const cases: readonly (readonly [EkKind, KeyAlgorithm])[] = [
    ["rsa2048", "rsa2048"],
    ["rsa2048", "eccP256"],
    ["eccP256", "eccP256"],
    ["eccP384", "rsa2048"],
  ];

  for (const [ekKind, akAlg] of cases) {
    it(`EK ${ekKind}, AK ${akAlg}: makeCredential → activate, quote → verifyQuote, certify → verifyCertify`, async () => {
      // AK and agent key take two of swtpm's three object slots; a transient EK takes the third.
      const { ak, akPublic, agent, agentPublic } = await loadAkAndAgentKey(tpm, akAlg);
      await withTransient(tpm, ak.handle, () =>
        withTransient(tpm, agent.handle, async () => {
          const ek = await openEk(tpm, { kind: ekKind });
          try {
            if (ek.certificate) checkEkCertificateMatches(ek.certificate, ek.public);
            checkAkAttributes(akPublic);
            checkAgentKeyAttributes(agentPublic);

            const credential = cryptoRandom.bytes(32);
            const challenge = makeCredential({
              ekPublic: ek.public,
              akPublic,
              credential,
              random: cryptoRandom,
            });
            const released = await activateWithEk(tpm, { ek, akHandle: ak.handle, challenge });
            assert.deepEqual(released, credential);

            const nonce = cryptoRandom.bytes(32);
            const selection = [{ hashAlg: TPM_ALG.SHA256, pcrs: [0, 1, 2, 3, 7, 16] }] as const;
            const q = await quotePcrs(tpm, { akHandle: ak.handle, nonce, selection });
            const verified = verifyQuote({
              akPublic,
              attest: q.quote.attestBytes,
              signature: q.quote.signature,
              nonce,
              pcrValues: q.pcrValues,
              expectedSelection: selection,
            });
            assert.equal(verified.pcrValues.get(TPM_ALG.SHA256)?.size, 6);
            assert.throws(
              () =>
                verifyQuote({
                  akPublic,
                  attest: q.quote.attestBytes,
                  signature: q.quote.signature,
                  nonce: cryptoRandom.bytes(32),
                  pcrValues: q.pcrValues,
                  expectedSelection: selection,
                }),
              TpmVerificationError,
            );

            const certNonce = cryptoRandom.bytes(32);
            const c = await certify(tpm, {
              objectHandle: agent.handle,
              signHandle: ak.handle,
              qualifyingData: certNonce,
            });
            const vc = verifyCertify({
              akPublic,
              attest: c.attestBytes,
              signature: c.signature,
              nonce: certNonce,
              certifiedPublic: agentPublic,
            });
            assert.deepEqual(vc.certifiedName, agent.name);
            const flipped = Buffer.from(c.attestBytes);
            flipped[flipped.length - 1] = (flipped[flipped.length - 1] as number) ^ 1;
            assert.throws(
              () =>
                verifyCertify({
                  akPublic,
                  attest: flipped,
                  signature: c.signature,
                  nonce: certNonce,
                  certifiedPublic: agentPublic,
                }),
              TpmVerificationError,
            );
          } finally {
            await releaseEk(tpm, ek);
          }
        }),
      );
      assert.deepEqual(await leftoverHandles(tpm), []);
    });
  }
});
