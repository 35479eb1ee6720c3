import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate, createHash, verify } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { SwtpmFixture } from "../../../test/fixtures/swtpm.js";
import { TPM_ALG, TPM_HANDLE_RANGE, TPM_RH } from "../constants.js";
import { TpmError } from "../rc.js";
import { publicKeyFromTpmPublic } from "../crypto/public-key.js";
import { toNodeSignature } from "../structures/signature.js";
import { SwtpmConnection } from "../../../test/tpm/swtpm-connection.js";
import type { Tpm } from "../tpm.js";
import { agentKeyTemplateEccP256, srkTemplateEccP256 } from "../client/templates.js";
import { openTpm } from "../client/open.js";
import { getHandles, getPcrBanks, getTpmInfo } from "./capability.js";
import { create, createPrimary, flushContext, load, readPublic } from "./objects.js";
import { nvRead, nvReadPublic } from "./nv.js";
import { pcrRead } from "./pcr.js";
import { getRandom } from "./random.js";
import { sign } from "./sign.js";
import { startup } from "./startup.js";

describe("TPM commands against swtpm", () => {
  let sw: SwtpmFixture;
  let conn: SwtpmConnection;
  let tpm: Tpm;
  before(async () => {
    conn = await SwtpmConnection.start({ pcrBanks: ["sha1", "sha256"] });
    ({ sw, tpm } = conn);
  });
  after(() => conn?.stop());

  async function tools(cmd: string, args: string[]): Promise<string> {
    const out = await conn.tools(cmd, args);
    tpm = conn.tpm;
    return out;
  }

  it("treats an already started TPM as started", async () => {
    assert.equal(await startup(tpm), false);
  });

  it("serialises concurrent callers on one Tpm: each gets its own answer", async () => {
    const sizes = Array.from({ length: 16 }, (_, i) => i + 1);
    const [randoms, ek] = await Promise.all([
      Promise.all(sizes.map((n) => getRandom(tpm, n))),
      readPublic(tpm, sw.ekHandles.rsa),
      getTpmInfo(tpm),
    ]);
    assert.deepEqual(
      randoms.map((r) => r.length),
      sizes,
    );
    assert.equal(ek.public.type, "rsa");
  });

  it("opens a TPM ready for use, flushing what a crashed run left loaded when it owns the TPM", async () => {
    const crashed = SwtpmConnection.open(sw);
    await tpm.close();
    await createPrimary(crashed, TPM_RH.OWNER, srkTemplateEccP256());
    await crashed.close();
    const { tpm: fresh, flushed } = await openTpm({ kind: "unix", path: sw.socketPath }, { ownsTpm: true });
    assert.equal(flushed.length, 1);
    assert.deepEqual(await getHandles(fresh, TPM_HANDLE_RANGE.transient.first), []);
    await fresh.close();
    tpm = await conn.reconnect();
  });

  it("gets random bytes in more than one round", async () => {
    const bytes = await getRandom(tpm, 200);
    assert.equal(bytes.length, 200);
    assert.notDeepEqual(bytes, Buffer.alloc(200));
  });

  it("reads manufacturer and firmware version as tpm2_getcap reports them", async () => {
    const info = await getTpmInfo(tpm);
    assert.equal(info.manufacturer, "IBM");
    assert.equal(info.family, "2.0");
    assert.ok(info.nvBufferMax > 0);
    const out = await tools("tpm2_getcap", ["properties-fixed"]);
    const raw = (name: string): bigint => {
      const m = new RegExp(`${name}:\\s*\\n\\s*raw: (0x[0-9A-Fa-f]+|\\d+)`).exec(out);
      assert.ok(m, name);
      return BigInt(m[1] as string);
    };
    assert.equal(BigInt(info.manufacturerId), raw("TPM2_PT_MANUFACTURER"));
    assert.equal(
      info.firmwareVersion,
      (raw("TPM2_PT_FIRMWARE_VERSION_1") << 32n) | raw("TPM2_PT_FIRMWARE_VERSION_2"),
    );
  });

  it("reads all 24 PCRs of two banks (more than one PCR_Read round) and agrees with tpm2_pcrread", async () => {
    const banks = await getPcrBanks(tpm);
    assert.deepEqual(
      banks
        .filter((b) => b.pcrs.length > 0)
        .map((b) => b.hashAlg)
        .sort((a, b) => a - b),
      [TPM_ALG.SHA1, TPM_ALG.SHA256],
    );
    const all = Array.from({ length: 24 }, (_, i) => i);
    const values = await pcrRead(tpm, [
      { hashAlg: TPM_ALG.SHA1, pcrs: all },
      { hashAlg: TPM_ALG.SHA256, pcrs: all },
    ]);
    assert.equal(values.get(TPM_ALG.SHA256)?.size, 24);
    assert.equal(values.get(TPM_ALG.SHA1)?.size, 24);
    await tools("tpm2_pcrextend", [`16:sha256=${"ab".repeat(32)}`]);
    const after16 = await pcrRead(tpm, [{ hashAlg: TPM_ALG.SHA256, pcrs: [16, 0] }]);
    const expected = createHash("sha256").update(Buffer.alloc(32)).update(Buffer.alloc(32, 0xab)).digest();
    assert.deepEqual(after16.get(TPM_ALG.SHA256)?.get(16), expected);
    const out = await tools("tpm2_pcrread", ["sha256:0,16"]);
    assert.match(out, new RegExp(`16\\s*: 0x${expected.toString("hex")}`, "i"));
    assert.match(out, new RegExp(`\\b0\\s*: 0x${after16.get(TPM_ALG.SHA256)?.get(0)?.toString("hex")}`, "i"));
  });

  it("refuses a PCR bank the TPM has not allocated", async () => {
    await assert.rejects(
      pcrRead(tpm, [{ hashAlg: TPM_ALG.SHA384, pcrs: [0] }]),
      /TPM_PCR_UNAVAILABLE|does not return/,
    );
  });

  it("turns a failing response code into a TpmError naming the command", async () => {
    await assert.rejects(readPublic(tpm, 0x81000999), (err: unknown) => {
      assert.ok(err instanceof TpmError);
      assert.match(err.message, /TPM2_ReadPublic failed: TPM_RC_HANDLE/);
      return true;
    });
  });

  it("reads the EK certificate from NV in chunks, byte-equal to tpm2_nvread", async () => {
    const { nvPublic } = await nvReadPublic(tpm, sw.ekCertIndexes.rsa);
    const cert = await nvRead(tpm, sw.ekCertIndexes.rsa, { maxChunk: 200 });
    assert.equal(cert.length, nvPublic.dataSize);
    assert.ok(cert.length > 200, "needs several chunks");
    const x509 = new X509Certificate(cert);
    assert.match(x509.issuer, /.+/);
    const file = join(sw.dir, "ekcert-rsa.der");
    await tools("tpm2_nvread", ["-o", file, `0x${sw.ekCertIndexes.rsa.toString(16)}`]);
    assert.deepEqual(cert, await readFile(file));
  });

  it("creates an SRK, a signing key under it, loads it, signs, and leaves no transient handle", async () => {
    const srk = await createPrimary(tpm, TPM_RH.OWNER, srkTemplateEccP256());
    try {
      const key = await create(tpm, srk.handle, agentKeyTemplateEccP256());
      const loaded = await load(tpm, srk.handle, key.private, key.publicArea);
      try {
        assert.deepEqual(loaded.name, key.name);
        const rp = await readPublic(tpm, loaded.handle);
        assert.deepEqual(rp.publicArea, key.publicArea);
        const digest = createHash("sha256").update("hello").digest();
        const sig = await sign(tpm, { keyHandle: loaded.handle, digest });
        const n = toNodeSignature(sig);
        const pub = publicKeyFromTpmPublic(key.public);
        assert.ok(verify(n.hash, Buffer.from("hello"), { key: pub, dsaEncoding: "der" }, n.signature));
        assert.equal(
          verify(n.hash, Buffer.from("hellO"), { key: pub, dsaEncoding: "der" }, n.signature),
          false,
        );
      } finally {
        await flushContext(tpm, loaded.handle);
      }
    } finally {
      await flushContext(tpm, srk.handle);
    }
    const left = await getHandles(tpm, TPM_HANDLE_RANGE.transient.first);
    assert.deepEqual(left, []);
  });
});
