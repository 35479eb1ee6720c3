import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHash, verify } from "node:crypto";
import { ecdsaSignatureToDer } from "../../../common/der/ecdsa-signature.js";
import { secretBytes, sniffed } from "../../../test/tpm/recording-transport.js";
import { SwtpmConnection } from "../../../test/tpm/swtpm-connection.js";
import { create, createPrimary, flushContext, load, type LoadedObject } from "../commands/objects.js";
import { sign } from "../commands/sign.js";
import { OperationAbortedError } from "../../../common/errors.js";
import { activateWithEk } from "../client/activate.js";
import { openEk, releaseEk } from "../client/ek.js";
import { TpmArgumentError } from "../commands/errors.js";
import { createAk, createSrk, type KeyAlgorithm } from "../client/storage.js";
import { agentKeyTemplateEccP256 } from "../client/templates.js";
import { leftoverHandles, withTransient } from "../client/transient.js";
import { TPM_ALG, TPM_CC, TPM_RH } from "../constants.js";
import { buildResponse, parseResponse } from "../framing.js";
import { TPM_RC, isTpmError } from "../rc.js";
import { spkiFromTpmPublic } from "../crypto/public-key.js";
import type { Tpm } from "../tpm.js";
import { TpmSessionError, type TpmSessionErrorCode } from "./errors.js";
import { SaltedSession, type SaltKey } from "./salted-session.js";
import { withSaltedSession } from "./with-session.js";

describe("salted HMAC sessions with parameter encryption (swtpm)", () => {
  let conn: SwtpmConnection;
  let tpm: Tpm;
  before(async () => {
    conn = await SwtpmConnection.start();
    tpm = conn.tpm;
  });
  after(() => conn?.stop());

  /**
   * Through a session salted to `saltKey`: creates a signing key with a userAuth under `parent`
   * (inSensitive and outPrivate encrypted), loads it (the TPM checks the private blob we
   * decrypted), then signs with that userAuth: each step fails unless our session crypto agrees
   * with the TPM's.
   */
  async function createLoadAndSign(saltKey: SaltKey, parent: LoadedObject): Promise<void> {
    const userAuth = secretBytes();
    const key = await withSaltedSession(tpm, saltKey, async (session) => {
      const created = await create(tpm, parent, agentKeyTemplateEccP256(), { userAuth, session });
      return load(tpm, parent, created.private, created.publicArea, { session });
    });
    await withTransient(tpm, key.handle, async () => {
      const digest = createHash("sha256").update("salted").digest();
      const sig = await sign(tpm, {
        keyHandle: key.handle,
        digest,
        scheme: { scheme: TPM_ALG.ECDSA, hashAlg: TPM_ALG.SHA256 },
        keyAuth: userAuth,
      });
      if (sig.sigAlg !== "ecdsa") assert.fail(`expected an ECDSA signature, got ${sig.sigAlg}`);
      const der = ecdsaSignatureToDer(sig.r, sig.s);
      const spki = spkiFromTpmPublic(key.public);
      assert.ok(verify("sha256", Buffer.from("salted"), { key: spki, format: "der", type: "spki" }, der));
    });
  }

  for (const algorithm of ["eccP256", "rsa2048"] as const satisfies readonly KeyAlgorithm[]) {
    it(`salts to the ${algorithm} SRK: creates, loads and uses a key with an encrypted authValue`, async () => {
      const srk = await createSrk(tpm, algorithm);
      await withTransient(tpm, srk.handle, () => createLoadAndSign(srk, srk));
      assert.deepEqual(await leftoverHandles(tpm), []);
    });
  }

  for (const kind of ["rsa2048", "eccP256", "eccP384"] as const) {
    it(`salts to the ${kind} EK`, async () => {
      const ek = await openEk(tpm, { kind });
      try {
        const srk = await createSrk(tpm);
        await withTransient(tpm, srk.handle, () => createLoadAndSign(ek, srk));
      } finally {
        await releaseEk(tpm, ek);
      }
      assert.deepEqual(await leftoverHandles(tpm), []);
    });
  }

  it("rolls nonces: one session runs several commands, and survives a command the TPM refuses", async () => {
    const srk = await createSrk(tpm);
    await withTransient(tpm, srk.handle, () =>
      withSaltedSession(tpm, srk, async (session) => {
        await create(tpm, srk, agentKeyTemplateEccP256(), { session });
        // A wrong parent authValue: the TPM refuses the HMAC and keeps its nonce as it was.
        await assert.rejects(
          create(tpm, srk, agentKeyTemplateEccP256(), { session, parentAuth: Buffer.from("wrong") }),
          (err: unknown) => isTpmError(err, TPM_RC.AUTH_FAIL) || isTpmError(err, TPM_RC.BAD_AUTH),
        );
        await create(tpm, srk, agentKeyTemplateEccP256(), { session });
        assert.equal(session.isOpen, true);
      }),
    );
    assert.deepEqual(await leftoverHandles(tpm), []);
  });

  it("refuses to salt to a key that cannot decrypt, before sending anything", async () => {
    const srk = await createSrk(tpm);
    await withTransient(tpm, srk.handle, async () => {
      const ak = await createAk(tpm, srk.handle);
      await assert.rejects(
        SaltedSession.start(tpm, { handle: srk.handle, public: ak.public }),
        (err: unknown) => err instanceof TpmSessionError && err.code === "TPM_SESSION_SALT_KEY_UNSUPPORTED",
      );
    });
    assert.deepEqual(await leftoverHandles(tpm), []);
  });

  it("a session authorizing an object needs its Name; nothing is sent without it", async () => {
    const srk = await createSrk(tpm);
    await withTransient(tpm, srk.handle, () =>
      withSaltedSession(tpm, srk, async (session) => {
        await assert.rejects(
          create(tpm, srk.handle, agentKeyTemplateEccP256(), { session }),
          (err: unknown) => err instanceof TpmArgumentError && err.code === "TPM_NAME_REQUIRED",
        );
        assert.equal(session.isOpen, true);
      }),
    );
    assert.deepEqual(await leftoverHandles(tpm), []);
  });

  it("a session used after it was flushed refuses to run", async () => {
    const srk = await createSrk(tpm);
    await withTransient(tpm, srk.handle, async () => {
      const session = await SaltedSession.start(tpm, srk);
      await session.flush();
      await assert.rejects(
        create(tpm, srk, agentKeyTemplateEccP256(), { session }),
        (err: unknown) => err instanceof TpmSessionError && err.code === "TPM_SESSION_ENDED",
      );
    });
    assert.deepEqual(await leftoverHandles(tpm), []);
  });

  describe("a response changed on the bus is refused, and the session flushed", () => {
    /** The response with its first parameter byte flipped (a sessions response, `handles` handles). */
    function flipParameterByte(response: Buffer, handles: number): Buffer {
      const out = Buffer.from(response);
      out[10 + 4 * handles + 4 + 2]! ^= 0x01;
      return out;
    }

    function flipHmacByte(response: Buffer): Buffer {
      const out = Buffer.from(response);
      out[out.length - 1]! ^= 0x80;
      return out;
    }

    function dropHmac(response: Buffer, handles: number): Buffer {
      const parsed = parseResponse(response, { handleCount: handles, hasSessions: true });
      return buildResponse({
        handles: parsed.handles,
        parameters: parsed.parameters,
        sessions: parsed.sessions.map((s) => ({ ...s, hmac: Buffer.alloc(0) })),
      });
    }

    const tampers: readonly [string, TpmSessionErrorCode, (r: Buffer, handles: number) => Buffer][] = [
      ["a flipped parameter bit", "TPM_SESSION_RESPONSE_HMAC_INVALID", flipParameterByte],
      ["a flipped HMAC bit", "TPM_SESSION_RESPONSE_HMAC_INVALID", (r) => flipHmacByte(r)],
      ["no HMAC", "TPM_SESSION_RESPONSE_HMAC_MISSING", dropHmac],
    ];

    for (const [what, code, tamper] of tampers) {
      it(`TPM2_Create answered with ${what}: ${code}`, async () => {
        const { bus, tpm: sniffedTpm } = sniffed(tpm.transport);
        const srk = await createSrk(sniffedTpm);
        await withTransient(sniffedTpm, srk.handle, () =>
          withSaltedSession(sniffedTpm, srk, async (session) => {
            bus.tamperWithNext((command, response) =>
              command.readUInt32BE(6) === TPM_CC.Create ? tamper(response, 0) : undefined,
            );
            await assert.rejects(
              create(sniffedTpm, srk, agentKeyTemplateEccP256(), { session }),
              (err: unknown) => err instanceof TpmSessionError && err.code === code,
            );
            assert.equal(session.isOpen, false);
            // The session was flushed at once (FlushContext of its handle went out right after).
            const last = bus.exchanges.at(-1);
            assert.equal(last?.command.readUInt32BE(6), TPM_CC.FlushContext);
            assert.equal(last?.command.readUInt32BE(10), session.handle);
          }),
        );
        assert.deepEqual(await leftoverHandles(tpm), []);
      });
    }

    it("TPM2_Load answered with a flipped Name bit: the loaded key is flushed too", async () => {
      const { bus, tpm: sniffedTpm } = sniffed(tpm.transport);
      const srk = await createSrk(sniffedTpm);
      await withTransient(sniffedTpm, srk.handle, () =>
        withSaltedSession(sniffedTpm, srk, async (session) => {
          const created = await create(sniffedTpm, srk, agentKeyTemplateEccP256(), { session });
          bus.tamperWithNext((command, response) =>
            command.readUInt32BE(6) === TPM_CC.Load ? flipParameterByte(response, 1) : undefined,
          );
          await assert.rejects(
            load(sniffedTpm, srk, created.private, created.publicArea, { session }),
            (err: unknown) =>
              err instanceof TpmSessionError && err.code === "TPM_SESSION_RESPONSE_HMAC_INVALID",
          );
        }),
      );
      assert.deepEqual(await leftoverHandles(tpm), []);
    });
  });

  it("a deadline that passes mid-activation: nothing more is sent, and both sessions are flushed", async () => {
    const { bus, tpm: sniffedTpm } = sniffed(tpm.transport);
    const ek = await openEk(sniffedTpm, { kind: "rsa2048" });
    const srk = await createSrk(sniffedTpm);
    const ak = await withTransient(sniffedTpm, srk.handle, async () => {
      const created = await createAk(sniffedTpm, srk.handle);
      return load(sniffedTpm, srk.handle, created.private, created.publicArea);
    });
    await withTransient(sniffedTpm, ak.handle, async () => {
      const deadline = new AbortController();
      bus.tamperWithNext((command) => {
        if (command.readUInt32BE(6) === TPM_CC.PolicySecret) deadline.abort();
        return undefined;
      });
      const challenge = { credentialBlob: Buffer.alloc(10), secret: Buffer.alloc(10) };
      await assert.rejects(
        activateWithEk(
          sniffedTpm,
          { ek, akHandle: ak.handle, akPublic: ak.public, challenge },
          { signal: deadline.signal },
        ),
        OperationAbortedError,
      );
      assert.equal(bus.commandCodes().includes(TPM_CC.ActivateCredential), false);
    });
    assert.deepEqual(await leftoverHandles(tpm), []);
  });

  it("authorizes a hierarchy: CreatePrimary under the owner through the session", async () => {
    const srk = await createSrk(tpm);
    const again = await withTransient(tpm, srk.handle, () =>
      withSaltedSession(tpm, srk, (session) =>
        createPrimary(tpm, TPM_RH.OWNER, agentKeyTemplateEccP256(), { session }),
      ),
    );
    await flushContext(tpm, again.handle);
    assert.equal(again.public.type, "ecc");
    assert.deepEqual(await leftoverHandles(tpm), []);
  });
});
