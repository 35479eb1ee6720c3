import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHash, verify } from "node:crypto";
import { cryptoRandom } from "../../../common/random.js";
import { secretBytes, sniffed } from "../../../test/tpm/recording-transport.js";
import { withEkAndAk } from "../../../test/tpm/ek-and-ak.js";
import { SwtpmConnection } from "../../../test/tpm/swtpm-connection.js";
import { TPM_RH } from "../constants.js";
import { activateCredential } from "../commands/credential.js";
import { create, createPrimary, flushContext, load } from "../commands/objects.js";
import { policyOr, policySecret, startPolicySession } from "../commands/session.js";
import { withSaltedSession } from "../session/with-session.js";
import { spkiFromTpmPublic } from "../crypto/public-key.js";
import { marshalTpmtPublic, type TpmtPublic } from "../structures/public.js";
import { passwordAuth, policyAuth } from "../structures/sessions.js";
import type { Tpm } from "../tpm.js";
import type { CredentialChallenge } from "../verifier/credential-file.js";
import { makeCredential } from "../verifier/make-credential.js";
import { activateWithEk } from "./activate.js";
import { agentKeyPublic, createAgentKeyBlob, signWithAgentKey, withAgentKey } from "./agent-key.js";
import { openEk, releaseEk, type Ek } from "./ek.js";
import { ekTemplateEccP256 } from "../ek-templates.js";
import { createAgentKey, createSrk } from "./storage.js";
import { agentKeyTemplateEccP256, srkTemplateEccP256 } from "./templates.js";
import { leftoverHandles, withTransient } from "./transient.js";

/**
 * What a discrete TPM's bus would carry, recorded between our TPM stack and swtpm: the secrets
 * hallmark handles must never be in it, and each test also shows that the same secret IS on the
 * bus over a plaintext password session (so the check can fail).
 */
describe("secrets stay off the TPM bus (recording transport on swtpm)", () => {
  let conn: SwtpmConnection;
  before(async () => {
    conn = await SwtpmConnection.start();
  });
  after(() => conn?.stop());

  /** Activation as it was before sessions: plaintext passwords, certInfo in the clear. */
  async function plainActivation(
    tpm: Tpm,
    args: {
      ek: Ek;
      ak: number;
      challenge: CredentialChallenge;
      endorsementAuth?: Uint8Array;
      akAuth?: Uint8Array;
    },
  ): Promise<Buffer> {
    const policy = await startPolicySession(tpm, args.ek.policy.hashAlg);
    return withTransient(tpm, policy.handle, async () => {
      await policySecret(tpm, TPM_RH.ENDORSEMENT, policy, { auth: args.endorsementAuth });
      if (args.ek.policy.kind === "policyB") await policyOr(tpm, policy, args.ek.policy.orBranches);
      return activateCredential(tpm, {
        activateHandle: args.ak,
        keyHandle: args.ek.handle,
        activateAuth: passwordAuth(args.akAuth),
        keyAuth: policyAuth(policy.handle),
        credentialBlob: args.challenge.credentialBlob,
        secret: args.challenge.secret,
      });
    });
  }

  function challengeFor(ek: Ek, akPublic: TpmtPublic, credential: Buffer): CredentialChallenge {
    return makeCredential({
      ekPublic: ek.publicArea,
      akPublic: marshalTpmtPublic(akPublic),
      credential,
      random: cryptoRandom,
    });
  }

  for (const kind of ["rsa2048", "eccP256", "eccP384"] as const) {
    it(`the credential released by activation (${kind} EK) crosses the bus encrypted`, async () => {
      const { bus, tpm } = sniffed(conn.tpm.transport);
      await withEkAndAk(tpm, kind, async (ek, ak) => {
        const credential = secretBytes();
        const challenge = challengeFor(ek, ak.public, credential);
        const released = await activateWithEk(tpm, {
          ek,
          akHandle: ak.handle,
          akPublic: ak.public,
          challenge,
        });
        assert.deepEqual(released, credential);
        assert.equal(bus.saw(credential), false, "the credential was on the bus");

        const plain = await plainActivation(tpm, { ek, ak: ak.handle, challenge });
        assert.deepEqual(plain, credential);
        assert.equal(bus.saw(credential), true, "the plain activation should show the credential");
      });
      assert.deepEqual(await leftoverHandles(tpm), []);
    });
  }

  it("the endorsement password and the AK's authValue only key HMACs", async () => {
    const endorsementAuth = secretBytes();
    const akAuth = secretBytes();
    await conn.tools("tpm2_changeauth", ["-c", "e", `hex:${endorsementAuth.toString("hex")}`]);
    try {
      const { bus, tpm } = sniffed(conn.tpm.transport);
      await withEkAndAk(
        tpm,
        "rsa2048",
        async (ek, ak) => {
          const credential = secretBytes();
          const challenge = challengeFor(ek, ak.public, credential);
          const args = { ek, akHandle: ak.handle, challenge, endorsementAuth, akAuth };
          assert.deepEqual(await activateWithEk(tpm, args), credential);
          assert.equal(bus.saw(endorsementAuth), false, "the endorsement password was on the bus");
          assert.equal(bus.saw(akAuth), false, "the AK authValue was on the bus");

          await plainActivation(tpm, { ek, ak: ak.handle, challenge, endorsementAuth, akAuth });
          assert.equal(bus.saw(endorsementAuth), true);
          assert.equal(bus.saw(akAuth), true);
        },
        { akAuth },
      );
      assert.deepEqual(await leftoverHandles(tpm), []);
    } finally {
      await conn.tools("tpm2_changeauth", ["-c", "e", "-p", `hex:${endorsementAuth.toString("hex")}`]);
    }
  });

  it("an owner password creates the SRK through a salted session, never in the clear", async () => {
    const before = await createSrk(conn.tpm);
    await flushContext(conn.tpm, before.handle);
    const ownerAuth = secretBytes();
    await conn.tools("tpm2_changeauth", ["-c", "o", `hex:${ownerAuth.toString("hex")}`]);
    try {
      const { bus, tpm } = sniffed(conn.tpm.transport);
      const srk = await createSrk(tpm, "eccP256", { ownerAuth });
      await flushContext(tpm, srk.handle);
      assert.deepEqual(srk.name, before.name);
      assert.equal(bus.saw(ownerAuth), false, "the owner password was on the bus");
      assert.deepEqual(await leftoverHandles(tpm), []);

      const plain = await createPrimary(tpm, TPM_RH.OWNER, srkTemplateEccP256(), {
        hierarchyAuth: ownerAuth,
      });
      await flushContext(tpm, plain.handle);
      assert.equal(bus.saw(ownerAuth), true);
    } finally {
      await conn.tools("tpm2_changeauth", ["-c", "o", "-p", `hex:${ownerAuth.toString("hex")}`]);
    }
  });

  it("an endorsement password re-creates a non-persistent EK through a salted session, never in the clear", async () => {
    const expected = await openEk(conn.tpm, { kind: "eccP256" });
    await releaseEk(conn.tpm, expected);
    assert.equal(expected.transient, true, "the fixture's ECC EK is not persistent, so it is re-created");
    const endorsementAuth = secretBytes();
    await conn.tools("tpm2_changeauth", ["-c", "e", `hex:${endorsementAuth.toString("hex")}`]);
    try {
      const { bus, tpm } = sniffed(conn.tpm.transport);
      const ek = await openEk(tpm, { kind: "eccP256", endorsementAuth });
      await releaseEk(tpm, ek);
      assert.deepEqual(ek.name, expected.name, "the same EK as before the password was set");
      assert.equal(bus.saw(endorsementAuth), false, "the endorsement password was on the bus");
      assert.deepEqual(await leftoverHandles(tpm), []);

      const plain = await createPrimary(tpm, TPM_RH.ENDORSEMENT, ekTemplateEccP256(), {
        hierarchyAuth: endorsementAuth,
      });
      await flushContext(tpm, plain.handle);
      assert.equal(bus.saw(endorsementAuth), true, "the plain password path shows the test can see it");
    } finally {
      await conn.tools("tpm2_changeauth", ["-c", "e", "-p", `hex:${endorsementAuth.toString("hex")}`]);
    }
  });

  it("the agent key's private blob comes back encrypted; the key then loads and signs", async () => {
    const { bus, tpm } = sniffed(conn.tpm.transport);
    const blob = await createAgentKeyBlob(tpm);
    assert.equal(bus.saw(blob.private), false, "the agent key's private blob was on the bus");

    const digest = createHash("sha256").update("hello").digest();
    const { der } = await withAgentKey(tpm, blob, (h) => signWithAgentKey(tpm, h, digest));
    const key = spkiFromTpmPublic(agentKeyPublic(blob));
    assert.ok(verify("sha256", Buffer.from("hello"), { key, format: "der", type: "spki" }, der));

    const srk = await createSrk(tpm);
    const plain = await withTransient(tpm, srk.handle, () => createAgentKey(tpm, srk.handle));
    assert.equal(bus.saw(plain.private), true);
    assert.deepEqual(await leftoverHandles(tpm), []);
  });

  it("a new key's authValue goes encrypted in TPM2_Create, and the key loads through the session", async () => {
    const { bus, tpm } = sniffed(conn.tpm.transport);
    const userAuth = secretBytes();
    const srk = await createSrk(tpm);
    await withTransient(tpm, srk.handle, async () => {
      const loaded = await withSaltedSession(tpm, srk, async (session) => {
        const created = await create(tpm, srk, agentKeyTemplateEccP256(), { userAuth, session });
        return load(tpm, srk, created.private, created.publicArea, { session });
      });
      await withTransient(tpm, loaded.handle, async () => {
        assert.equal(bus.saw(userAuth), false, "the new key's authValue was on the bus");
        await create(tpm, srk.handle, agentKeyTemplateEccP256(), { userAuth });
        assert.equal(bus.saw(userAuth), true);
      });
    });
    assert.deepEqual(await leftoverHandles(tpm), []);
  });
});
