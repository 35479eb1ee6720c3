import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { connect } from "node:net";
import { mkdtemp, readFile } from "node:fs/promises";
import { join } from "node:path";
import { startSwtpm } from "../../test/fixtures/swtpm.js";
import type { SwtpmFixture } from "../../test/fixtures/swtpm.js";
import { runOk } from "../../test/fixtures/processes.js";
import { TpmFormatError, TpmReader, TpmWriter } from "./marshal.js";
import { TPM_ALG, TPM_CAP, TPM_CC, TPM_PT, TPM_RH, TPM_ST } from "./constants.js";
import { TPM_RC, TpmError } from "./rc.js";
import { HEADER_SIZE, buildCommand, buildResponse, parseResponse, parseResponseHeader } from "./framing.js";
import { passwordAuth, sessionAttributes } from "./structures/sessions.js";
import { propertyString, readGetCapabilityParameters } from "./structures/capability.js";
import { marshalTpmtPublic, readTpm2bPublic, tpmObjectName } from "./structures/public.js";
import { readName } from "./structures/buffers.js";
import { nvIndexName, readTpm2bNvPublic } from "./structures/nv.js";

describe("command and response framing", () => {
  it("frames TPM2_Startup(CLEAR) as the well-known 12 bytes", () => {
    const cmd = buildCommand({ code: TPM_CC.Startup, parameters: Buffer.of(0, 0) });
    assert.equal(cmd.toString("hex"), "80010000000c000001440000");
  });

  it("frames a password session: tag SESSIONS, authorizationSize 9 for an empty password", () => {
    const cmd = buildCommand({
      code: TPM_CC.NV_Read,
      handles: [TPM_RH.OWNER, 0x01c00002],
      sessions: [passwordAuth()],
      parameters: Buffer.of(0, 4, 0, 0),
    });
    assert.equal(
      cmd.toString("hex"),
      "8002" +
        "00000023" +
        "0000014e" +
        "40000001" +
        "01c00002" +
        "00000009" +
        "40000009" +
        "0000" +
        "01" +
        "0000" +
        "00040000",
    );
  });

  it("parses a response with handles, parameters and sessions; round trip through buildResponse", () => {
    const session = {
      nonce: Buffer.alloc(16, 9),
      attributes: sessionAttributes({ continueSession: true }),
      hmac: Buffer.alloc(0),
    };
    const buf = buildResponse({
      handles: [0x80000001],
      parameters: Buffer.from("params"),
      sessions: [session],
    });
    const res = parseResponse(buf, { handleCount: 1, hasSessions: true });
    assert.equal(res.tag, TPM_ST.SESSIONS);
    assert.deepEqual(res.handles, [0x80000001]);
    assert.deepEqual(res.parameters, Buffer.from("params"));
    assert.deepEqual(res.sessions, [session]);
  });

  it("throws TpmError for an error response, naming the command", () => {
    const buf = buildResponse({ responseCode: 0x9a2 });
    assert.equal(buf.length, HEADER_SIZE);
    assert.throws(
      () => parseResponse(buf, { handleCount: 0, hasSessions: true, command: TPM_CC.Quote }),
      (err: unknown) =>
        err instanceof TpmError &&
        err.session === 1 &&
        /TPM2_Quote failed: TPM_RC_BAD_AUTH \(session 1\)/.test(err.message),
    );
  });

  it("refuses frames whose size, tag or session area do not add up", () => {
    const ok = buildResponse({ parameters: Buffer.of(1, 2, 3) });
    assert.throws(
      () => parseResponse(ok.subarray(0, ok.length - 1), { handleCount: 0, hasSessions: false }),
      TpmFormatError,
    );
    assert.throws(() => parseResponse(ok, { handleCount: 0, hasSessions: true }), /response\.tag/);
    assert.throws(() => parseResponse(ok, { handleCount: 1, hasSessions: false }), TpmFormatError);
    const noSessions = buildResponse({ parameters: Buffer.of(1), sessions: [] });
    assert.throws(() => parseResponse(noSessions, { handleCount: 0, hasSessions: true }), TpmFormatError);
    const badTag = Buffer.from(ok);
    badTag.writeUInt16BE(0x1234, 0);
    assert.throws(() => parseResponseHeader(badTag), /not a response tag/);
    const huge = Buffer.from(ok);
    huge.writeUInt32BE(0x7fffffff, 2);
    assert.throws(() => parseResponseHeader(huge), /outside/);
    const withParamSize = buildResponse({
      parameters: Buffer.of(1, 2),
      sessions: [{ nonce: Buffer.alloc(0), attributes: sessionAttributes({}), hmac: Buffer.alloc(0) }],
    });
    const lying = Buffer.from(withParamSize);
    lying.writeUInt32BE(100, HEADER_SIZE);
    assert.throws(() => parseResponse(lying, { handleCount: 0, hasSessions: true }), TpmFormatError);
  });
});

/** Sends one command on swtpm's raw socket and reads one whole response (test-only transport). */
function sendRaw(socketPath: string, command: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const sock = connect(socketPath);
    const chunks: Buffer[] = [];
    let have = 0;
    sock.on("connect", () => sock.write(command));
    sock.on("data", (b: Buffer) => {
      chunks.push(b);
      have += b.length;
      const all = Buffer.concat(chunks);
      if (have >= HEADER_SIZE && have >= parseResponseHeader(all).size) {
        sock.destroy();
        resolve(all);
      }
    });
    sock.on("error", reject);
  });
}

describe("framing and structures against swtpm's raw command socket", () => {
  let tpm: SwtpmFixture;
  before(async () => {
    tpm = await startSwtpm();
  });
  after(() => tpm.stop());

  const getCap = async (cap: number, property: number, count: number) => {
    const params = new TpmWriter().u32(cap).u32(property).u32(count).toBuffer();
    const res = parseResponse(
      await sendRaw(tpm.socketPath, buildCommand({ code: TPM_CC.GetCapability, parameters: params })),
      {
        handleCount: 0,
        hasSessions: false,
        command: TPM_CC.GetCapability,
      },
    );
    const r = new TpmReader(res.parameters);
    const out = readGetCapabilityParameters(r);
    r.expectEnd("TPM2_GetCapability");
    return out;
  };

  it("GetCapability(TPM_PROPERTIES): manufacturer and buffer sizes", async () => {
    const { capabilityData } = await getCap(TPM_CAP.TPM_PROPERTIES, TPM_PT.FAMILY_INDICATOR, 64);
    assert.equal(capabilityData.capability, "tpmProperties");
    if (capabilityData.capability !== "tpmProperties") return;
    const props = new Map(capabilityData.properties.map((p) => [p.property, p.value]));
    assert.equal(propertyString(props.get(TPM_PT.FAMILY_INDICATOR)!), "2.0");
    assert.equal(propertyString(props.get(TPM_PT.MANUFACTURER)!), "IBM");
    assert.ok((props.get(TPM_PT.NV_BUFFER_MAX) ?? 0) >= 512);
    assert.ok((props.get(TPM_PT.INPUT_BUFFER) ?? 0) >= 512);
  });

  it("GetCapability(PCRS, HANDLES, ALGS)", async () => {
    const pcrs = await getCap(TPM_CAP.PCRS, 0, 1);
    assert.equal(pcrs.capabilityData.capability, "pcrs");
    if (pcrs.capabilityData.capability === "pcrs") {
      const sha256 = pcrs.capabilityData.assignedPcr.find((s) => s.hashAlg === TPM_ALG.SHA256);
      assert.deepEqual(
        sha256?.pcrs,
        Array.from({ length: 24 }, (_, i) => i),
      );
    }
    const handles = await getCap(TPM_CAP.HANDLES, 0x81000000, 32);
    assert.equal(handles.capabilityData.capability, "handles");
    if (handles.capabilityData.capability === "handles") {
      assert.ok(handles.capabilityData.handles.includes(tpm.ekHandles.rsa));
      assert.ok(handles.capabilityData.handles.includes(tpm.ekHandles.ecc));
    }
    const algs = await getCap(TPM_CAP.ALGS, 0, 128);
    assert.equal(algs.capabilityData.capability, "algs");
    if (algs.capabilityData.capability === "algs") {
      const ids = algs.capabilityData.algorithms.map((a) => a.alg);
      for (const alg of [TPM_ALG.RSA, TPM_ALG.ECC, TPM_ALG.SHA256, TPM_ALG.AES, TPM_ALG.CFB])
        assert.ok(ids.includes(alg));
    }
  });

  it("ReadPublic of the RSA EK: same bytes and Name as tpm2_readpublic", async () => {
    const res = parseResponse(
      await sendRaw(tpm.socketPath, buildCommand({ code: TPM_CC.ReadPublic, handles: [tpm.ekHandles.rsa] })),
      { handleCount: 0, hasSessions: false },
    );
    const r = new TpmReader(res.parameters);
    const pub = readTpm2bPublic(r);
    const name = readName(r, "name");
    readName(r, "qualifiedName");
    r.expectEnd("TPM2_ReadPublic");
    assert.deepEqual(tpmObjectName(pub), name);

    const dir = await mkdtemp(join(tpm.dir, "framing-"));
    await runOk("tpm2_readpublic", ["-c", "0x81010001", "-o", join(dir, "ek.pub"), "-f", "tpmt"], {
      env: tpm.toolsEnv,
    });
    assert.deepEqual(marshalTpmtPublic(pub), await readFile(join(dir, "ek.pub")));
  });

  it("ReadPublic of a missing handle fails with TPM_RC_HANDLE (handle 1)", async () => {
    const buf = await sendRaw(
      tpm.socketPath,
      buildCommand({ code: TPM_CC.ReadPublic, handles: [0x81000999] }),
    );
    assert.throws(
      () => parseResponse(buf, { handleCount: 0, hasSessions: false, command: TPM_CC.ReadPublic }),
      (err: unknown) => err instanceof TpmError && err.is(TPM_RC.HANDLE) && err.handle === 1,
    );
  });

  it("NV_ReadPublic + NV_Read (password session) of the EK certificate index", async () => {
    const index = tpm.ekCertIndexes.rsa;
    const pubRes = parseResponse(
      await sendRaw(tpm.socketPath, buildCommand({ code: TPM_CC.NV_ReadPublic, handles: [index] })),
      { handleCount: 0, hasSessions: false },
    );
    const r = new TpmReader(pubRes.parameters);
    const nv = readTpm2bNvPublic(r);
    const nvName = readName(r, "nvName");
    r.expectEnd("TPM2_NV_ReadPublic");
    assert.equal(nv.nvIndex, index);
    assert.equal(nv.attributes.written, true);
    assert.equal(nv.attributes.platformCreate, true);
    assert.deepEqual(nvIndexName(nv), nvName);

    const chunk = Math.min(nv.dataSize, 512);
    const readRes = parseResponse(
      await sendRaw(
        tpm.socketPath,
        buildCommand({
          code: TPM_CC.NV_Read,
          handles: [TPM_RH.OWNER, index],
          sessions: [passwordAuth()],
          parameters: new TpmWriter().u16(chunk).u16(0).toBuffer(),
        }),
      ),
      { handleCount: 0, hasSessions: true, command: TPM_CC.NV_Read },
    );
    const data = new TpmReader(readRes.parameters).sized("data");
    assert.equal(data.length, chunk);
    assert.equal(data[0], 0x30, "an X.509 certificate starts with a DER SEQUENCE");
    assert.equal(readRes.sessions.length, 1);
    assert.equal(readRes.sessions[0]!.attributes.continueSession, true);
  });

  it("a wrong password fails with TPM_RC_BAD_AUTH or AUTH_FAIL for session 1", async () => {
    const buf = await sendRaw(
      tpm.socketPath,
      buildCommand({
        code: TPM_CC.NV_Read,
        handles: [TPM_RH.OWNER, tpm.ekCertIndexes.rsa],
        sessions: [passwordAuth(Buffer.from("wrong"))],
        parameters: new TpmWriter().u16(16).u16(0).toBuffer(),
      }),
    );
    assert.throws(
      () => parseResponse(buf, { handleCount: 0, hasSessions: true, command: TPM_CC.NV_Read }),
      (err: unknown) =>
        err instanceof TpmError && (err.is(TPM_RC.BAD_AUTH) || err.is(TPM_RC.AUTH_FAIL)) && err.session === 1,
    );
  });
});
