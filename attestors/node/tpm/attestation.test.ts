import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate, createHash, createPublicKey, verify } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ManualClock, systemClock } from "../../../common/clock.js";
import { cryptoRandom } from "../../../common/random.js";
import { startSwtpm, type SwtpmFixture } from "../../../test/fixtures/swtpm.js";
import { loadAkAndAgentKey, type LoadedAkAndAgentKey } from "../../../test/tpm/loaded-keys.js";
import { SwtpmConnection } from "../../../test/tpm/swtpm-connection.js";
import { captureError } from "../../../test/tpm/verifier-testing/errors.js";
import {
  EkTrust,
  TPM_ALG,
  ekHash,
  flushContext,
  leftoverHandles,
  openEk,
  releaseEk,
  signWithAgentKey,
  type Ek,
  type Tpm,
} from "../../../native/tpm/index.js";
import { answerTpmChallenge, tpmAttestationRequest } from "./agent.js";
import { loadEkTrust } from "./ek-trust-files.js";
import {
  decodeTpmAttestationRequest,
  decodeTpmChallenge,
  decodeTpmChallengeResponse,
  encodeTpmAttestationRequest,
  encodeTpmChallenge,
  encodeTpmChallengeResponse,
} from "./evidence.js";
import { challengeTpm, verifyTpmResponse, type TpmAttestorPolicy } from "./server.js";

const PCRS = [{ hashAlg: TPM_ALG.SHA256, pcrs: [0, 1, 7] }] as const;

/**
 * TPM node attestation end to end on swtpm: the agent half asks its TPM, every message crosses as
 * its wire encoding, the server half (no TPM) verifies. The EK certificate chains to the fixture's
 * local CA, configured as a directory of manufacturer CA files.
 */
describe("TPM node attestation: agent half, wire, server half (swtpm)", () => {
  let conn: SwtpmConnection;
  let tpm: Tpm;
  let ek: Ek;
  let keys: LoadedAkAndAgentKey;
  let caDir: string;
  // The fixture's CA issues its certificates as it starts: the server reads the real time.
  const clock = systemClock;
  before(async () => {
    conn = await SwtpmConnection.start();
    tpm = conn.tpm;
    ek = await openEk(tpm);
    keys = await loadAkAndAgentKey(tpm, "eccP256");
    caDir = join(conn.sw.dir, "tpm-manufacturer-cas");
    await mkdir(caDir);
    await writeFile(join(caDir, "root.pem"), await readFile(conn.sw.ekRootCaPath));
    await writeFile(join(caDir, "intermediate.crt"), await readFile(conn.sw.ekIssuerCaPath));
    await writeFile(join(caDir, "README"), "not a certificate, not read");
  });
  after(async () => {
    if (keys) {
      await flushContext(tpm, keys.ak.handle);
      await flushContext(tpm, keys.agent.handle);
      await releaseEk(tpm, ek);
      assert.deepEqual(await leftoverHandles(tpm), []);
    }
    await conn?.stop();
  });

  async function policyWith(overrides: Partial<TpmAttestorPolicy> = {}): Promise<TpmAttestorPolicy> {
    return {
      ekTrust: await loadEkTrust([caDir]),
      ekHashAllowList: new Set(),
      pcrSelection: PCRS,
      ...overrides,
    };
  }

  /** One attestation through the wire encodings; returns what the server concluded. */
  async function attest(policy: TpmAttestorPolicy) {
    const request = decodeTpmAttestationRequest(
      encodeTpmAttestationRequest(tpmAttestationRequest(ek, keys.ak)),
    );
    const { challenge, pending } = challengeTpm(request, policy, { random: cryptoRandom, clock });
    const received = decodeTpmChallenge(encodeTpmChallenge(challenge));
    const answer = await answerTpmChallenge(tpm, { ek, ak: keys.ak, agentKey: keys.agent }, received);
    const response = decodeTpmChallengeResponse(encodeTpmChallengeResponse(answer));
    return { result: verifyTpmResponse(pending, response), response, pending };
  }

  it("attests: EK chained to the configured manufacturer CA, AK and EK in one TPM, PCRs quoted, agent key certified", async () => {
    const { result } = await attest(await policyWith());
    assert.equal(result.ekHash, ekHash(ek.public));
    const issuerDer = new X509Certificate(await readFile(conn.sw.ekIssuerCaPath)).raw;
    const issuer = createHash("sha256").update(issuerDer).digest("hex");
    assert.deepEqual(result.selectors.slice(0, 5), [
      `tpm:ek_hash:${ekHash(ek.public)}`,
      `tpm:ek_ca:${issuer}`,
      "tpm:manufacturer:id:00001014",
      "tpm:model:swtpm",
      result.selectors[4],
    ]);
    assert.match(result.selectors[4] ?? "", /^tpm:version:id:[0-9a-f]{8}$/i);
    assert.deepEqual(
      result.selectors.slice(5).map((s) => s.split(":").slice(0, 4).join(":")),
      ["tpm:pcr:sha256:0", "tpm:pcr:sha256:1", "tpm:pcr:sha256:7"],
    );
    // The certified key is the agent key: a signature it makes verifies under the SPKI the server got.
    const digest = createHash("sha256").update("proof").digest();
    const signature = await signWithAgentKey(tpm, keys.agent.handle, digest);
    const spki = createPublicKey({ key: result.agentKeySpki, format: "der", type: "spki" });
    assert.ok(verify("sha256", Buffer.from("proof"), spki, signature.der));
  });

  it("refuses an EK whose certificate chains to another manufacturer's CA", async () => {
    const other: SwtpmFixture = await startSwtpm();
    try {
      const foreign = EkTrust.fromPem([
        { pem: await readFile(other.ekCaBundlePath, "utf8"), source: "other" },
      ]);
      const request = tpmAttestationRequest(ek, keys.ak);
      const policy = await policyWith({ ekTrust: foreign });
      const err = captureError(() => challengeTpm(request, policy, { random: cryptoRandom, clock }));
      // Both local CAs are named "swtpm-localca": the name matches, the signature cannot.
      assert.equal(err.code, "EK_CHAIN_SIGNATURE_INVALID");
    } finally {
      await other.stop();
    }
  });

  it("admits an EK by the hash allow-list when no manufacturer CA is configured, and refuses it otherwise", async () => {
    const request = tpmAttestationRequest(ek, keys.ak);
    const deps = { random: cryptoRandom, clock };
    const noCa = await policyWith({ ekTrust: null });
    assert.equal(captureError(() => challengeTpm(request, noCa, deps)).code, "EK_NOT_ALLOWED");
    const allowed = { ...noCa, ekHashAllowList: new Set([ekHash(ek.public)]) };
    const { pending } = challengeTpm(request, allowed, deps);
    assert.deepEqual(pending.ekSelectors, [`tpm:ek_hash:${ekHash(ek.public)}`]);
  });

  it("refuses a response to another challenge: the credential and the nonce are fresh each time", async () => {
    const policy = await policyWith();
    const { response } = await attest(policy);
    const request = tpmAttestationRequest(ek, keys.ak);
    const { pending } = challengeTpm(request, policy, { random: cryptoRandom, clock });
    assert.equal(captureError(() => verifyTpmResponse(pending, response)).code, "CREDENTIAL_MISMATCH");
    // Even with the right credential, the old quote carries the old nonce.
    const replay = { ...response, credential: pending.credential };
    assert.equal(captureError(() => verifyTpmResponse(pending, replay)).code, "QUOTE_NONCE_MISMATCH");
  });

  it("refuses an EK certificate that expired by the server's clock", async () => {
    const late = new ManualClock(new Date("9999-12-31T23:59:59Z").getTime() + 1000);
    const request = tpmAttestationRequest(ek, keys.ak);
    const policy = await policyWith();
    const err = captureError(() => challengeTpm(request, policy, { random: cryptoRandom, clock: late }));
    assert.equal(err.code, "EK_CHAIN_EXPIRED");
  });
});
