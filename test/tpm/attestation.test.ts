import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { cryptoRandom } from "../../common/random.js";
import {
  activateWithEk,
  certifyKey,
  EkTrust,
  checkAgentKeyAttributes,
  checkAkAttributes,
  flushLeftovers,
  leftoverHandles,
  makeCredential,
  openEk,
  quotePcrs,
  releaseEk,
  TPM_ALG,
  TpmVerificationError,
  verifyEk,
  verifyCertify,
  verifyQuote,
  withTransient,
  type EkKind,
  type KeyAlgorithm,
  type Tpm,
} from "../../native/tpm/index.js";
import { loadAkAndAgentKey } from "./loaded-keys.js";
import { SwtpmConnection } from "./swtpm-connection.js";

/**
 * The whole TPM side of node attestation, device half (native/tpm/client) against verifier half
 * (native/tpm/verifier), on swtpm: the EK and its certificate chain, credential activation, PCR quote
 * and key certification, every piece of evidence passed as the TPM wire bytes the agent sends.
 */
describe("device-side attestation verified by the verifier", () => {
  let conn: SwtpmConnection;
  let tpm: Tpm;
  /** The fixture's local CA, configured as the TPM manufacturer's. */
  let trust: EkTrust;
  before(async () => {
    conn = await SwtpmConnection.start();
    tpm = conn.tpm;
    await flushLeftovers(tpm);
    trust = EkTrust.fromPem([
      { pem: await readFile(conn.sw.ekCaBundlePath, "utf8"), source: "ek-ca-bundle.pem" },
    ]);
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
            const verifiedEk = verifyEk(
              { ekPublic: ek.publicArea, ekCertificate: ek.certificate ?? undefined },
              { trust, now: new Date() },
            );
            // swtpm_setup certifies its RSA and P-384 EKs; a P-256 EK it did not provision has no certificate.
            assert.equal(verifiedEk.chain !== null, ek.certificate !== null);
            assert.equal(verifiedEk.chain?.tpm?.model ?? "swtpm", "swtpm");
            checkAkAttributes(akPublic);
            checkAgentKeyAttributes(agentPublic);

            const credential = cryptoRandom.bytes(32);
            const challenge = makeCredential({
              ekPublic: ek.publicArea,
              akPublic: ak.publicArea,
              credential,
              random: cryptoRandom,
            });
            const released = await activateWithEk(tpm, { ek, akHandle: ak.handle, challenge });
            assert.deepEqual(released, credential);

            const nonce = cryptoRandom.bytes(32);
            const selection = [{ hashAlg: TPM_ALG.SHA256, pcrs: [0, 1, 2, 3, 7, 16] }] as const;
            const q = await quotePcrs(tpm, { akHandle: ak.handle, nonce, selection });
            const quoteEvidence = { akPublic: ak.publicArea, ...q.evidence };
            const verified = verifyQuote(quoteEvidence, { nonce, expectedSelection: selection });
            assert.equal(verified.pcrValues.get(TPM_ALG.SHA256)?.size, 6);
            assert.throws(
              () =>
                verifyQuote(quoteEvidence, { nonce: cryptoRandom.bytes(32), expectedSelection: selection }),
              TpmVerificationError,
            );

            const certNonce = cryptoRandom.bytes(32);
            const c = await certifyKey(tpm, { akHandle: ak.handle, key: agent, nonce: certNonce });
            const certifyEvidence = { akPublic: ak.publicArea, ...c.evidence };
            const vc = verifyCertify(certifyEvidence, { nonce: certNonce });
            assert.deepEqual(vc.certifiedName, agent.name);
            const flipped = Buffer.from(c.evidence.attest);
            flipped[flipped.length - 1] = (flipped[flipped.length - 1] as number) ^ 1;
            assert.throws(
              () => verifyCertify({ ...certifyEvidence, attest: flipped }, { nonce: certNonce }),
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
