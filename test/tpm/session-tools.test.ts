import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHash, verify } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { runOk } from "../fixtures/processes.js";
import { activateWithEk } from "../../native/tpm/client/activate.js";
import { createSrk } from "../../native/tpm/client/storage.js";
import { agentKeyTemplateEccP256 } from "../../native/tpm/client/templates.js";
import { flushLeftovers, leftoverHandles, withTransient } from "../../native/tpm/client/transient.js";
import { create, flushContext, load, type LoadedObject } from "../../native/tpm/commands/objects.js";
import { TpmReader, TpmWriter } from "../../native/tpm/marshal.js";
import { withSaltedSession } from "../../native/tpm/session/with-session.js";
import { spkiFromTpmPublic } from "../../native/tpm/crypto/public-key.js";
import { marshalTpm2bPublic, tpmObjectName } from "../../native/tpm/structures/public.js";
import { parseToolsCredentialFile } from "../../native/tpm/verifier/credential-file.js";
import { secretBytes, sniffed } from "./recording-transport.js";
import { withEkAndAk } from "./ek-and-ak.js";
import { SwtpmConnection } from "./swtpm-connection.js";

/** The payload of a file holding one marshalled TPM2B (tpm2-tools' -u / -r files). */
function tpm2bPayload(file: Buffer): Buffer {
  const r = new TpmReader(file);
  const out = r.bytes("TPM2B", r.u16("TPM2B.size"));
  assert.equal(r.remaining, 0);
  return out;
}

/**
 * Our salted, parameter-encrypting sessions against an independent TPM software stack: tpm2-tools
 * makes the credential we activate, uses a key whose private blob and authValue went through our
 * encrypted session, and makes a key with an authValue that our session then proves knowledge of.
 * swtpm (libtpms) checks every HMAC we compute and decrypts every parameter we encrypt.
 */
describe("salted sessions interoperate with tpm2-tools (swtpm)", () => {
  let conn: SwtpmConnection;
  before(async () => {
    conn = await SwtpmConnection.start();
  });
  after(() => conn?.stop());

  for (const kind of ["rsa2048", "eccP256"] as const) {
    it(`activates tpm2_makecredential's challenge through a session salted to the ${kind} EK`, async () => {
      const { bus, tpm } = sniffed(conn.tpm.transport);
      await withEkAndAk(tpm, kind, async (ek, ak) => {
        const secret = secretBytes();
        await writeFile(join(conn.sw.dir, "ek.pub"), marshalTpm2bPublic(ek.public));
        await writeFile(join(conn.sw.dir, "secret.bin"), secret);
        await runOk(
          "tpm2_makecredential",
          ["-T", "none", "-u", "ek.pub", "-s", "secret.bin", "-n", ak.name.toString("hex"), "-o", "cred.bin"],
          { cwd: conn.sw.dir },
        );
        const challenge = parseToolsCredentialFile(await readFile(join(conn.sw.dir, "cred.bin")));
        const released = await activateWithEk(tpm, {
          ek,
          akHandle: ak.handle,
          akPublic: ak.public,
          challenge,
        });
        assert.deepEqual(released, secret);
        assert.equal(bus.saw(secret), false, "the credential was on the bus");
      });
      assert.deepEqual(await leftoverHandles(tpm), []);
    });
  }

  it("tpm2_load and tpm2_sign use a key we created through the encrypted session, with its authValue", async () => {
    const userAuth = secretBytes();
    const { bus, tpm } = sniffed(conn.tpm.transport);
    // swtpm has no resource manager: the SRK stays loaded for the tools after we disconnect.
    const srk = await createSrk(tpm);
    const created = await withSaltedSession(tpm, srk, (session) =>
      create(tpm, srk, agentKeyTemplateEccP256(), { userAuth, session }),
    );
    assert.equal(bus.saw(userAuth) || bus.saw(created.private), false, "the key's secrets were on the bus");
    const dir = conn.sw.dir;
    await writeFile(join(dir, "k.pub"), new TpmWriter().sized(created.publicArea).toBuffer());
    await writeFile(join(dir, "k.priv"), new TpmWriter().sized(created.private).toBuffer());
    const message = Buffer.from("signed by tpm2-tools");
    await writeFile(join(dir, "digest.bin"), createHash("sha256").update(message).digest());
    const parent = `0x${srk.handle.toString(16)}`;
    await conn.tools("tpm2_load", ["-C", parent, "-u", "k.pub", "-r", "k.priv", "-c", "k.ctx"]);
    await conn.tools("tpm2_sign", [
      ...["-c", "k.ctx", "-p", `hex:${userAuth.toString("hex")}`],
      ...["-g", "sha256", "-d", "-f", "plain", "-o", "k.sig", "digest.bin"],
    ]);
    await flushLeftovers(conn.tpm);
    const der = await readFile(join(dir, "k.sig"));
    const key = spkiFromTpmPublic(created.public);
    assert.ok(verify("sha256", message, { key, format: "der", type: "spki" }, der));
    assert.deepEqual(await leftoverHandles(conn.tpm), []);
  });

  it("loads a tpm2_create'd parent with an authValue, salts a session to it and creates under it", async () => {
    const parentAuth = secretBytes();
    const srk = await createSrk(conn.tpm);
    await conn.tools("tpm2_create", [
      ...["-C", `0x${srk.handle.toString(16)}`, "-G", "ecc256:null:aes128cfb"],
      ...["-a", "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|decrypt"],
      ...["-p", `hex:${parentAuth.toString("hex")}`, "-u", "p.pub", "-r", "p.priv"],
    ]);
    const { bus, tpm } = sniffed(conn.tpm.transport);
    const dir = conn.sw.dir;
    const parentPublic = tpm2bPayload(await readFile(join(dir, "p.pub")));
    const parentPrivate = tpm2bPayload(await readFile(join(dir, "p.priv")));
    await withTransient(tpm, srk.handle, async () => {
      const parent: LoadedObject = await withSaltedSession(tpm, srk, (session) =>
        load(tpm, srk, parentPrivate, parentPublic, { session }),
      );
      await withTransient(tpm, parent.handle, () =>
        withSaltedSession(tpm, parent, async (session) => {
          const child = await create(tpm, parent, agentKeyTemplateEccP256(), { parentAuth, session });
          const loaded = await load(tpm, parent, child.private, child.publicArea, { parentAuth, session });
          await flushContext(tpm, loaded.handle);
          assert.deepEqual(loaded.name, tpmObjectName(child.public));
        }),
      );
    });
    assert.equal(bus.saw(parentAuth), false, "the parent's authValue was on the bus");
    assert.deepEqual(await leftoverHandles(tpm), []);
  });
});
