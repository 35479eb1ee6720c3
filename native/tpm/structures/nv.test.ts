import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { TpmFormatError, TpmReader, TpmWriter } from "../marshal.js";
import { TPM_ALG } from "../constants.js";
import {
  TPM_NT,
  marshalNvPublic,
  nvAttributes,
  nvAttributesFromU32,
  nvAttributesToU32,
  nvIndexName,
  readTpm2bNvPublic,
  unmarshalNvPublic,
  writeTpm2bNvPublic,
} from "./nv.js";

// The EK certificate index as swtpm_setup defines it, per tpm2_nvreadpublic:
// ppwrite|writedefine|ppread|ownerread|authread|no_da|written|platformcreate.
const EK_CERT_ATTRS = 0x62072001;

describe("TPMA_NV", () => {
  it("decodes the EK certificate index attributes", () => {
    const a = nvAttributesFromU32(EK_CERT_ATTRS);
    assert.equal(a.ppWrite, true);
    assert.equal(a.writeDefine, true);
    assert.equal(a.ppRead, true);
    assert.equal(a.ownerRead, true);
    assert.equal(a.authRead, true);
    assert.equal(a.noDA, true);
    assert.equal(a.written, true);
    assert.equal(a.platformCreate, true);
    assert.equal(a.ownerWrite, false);
    assert.equal(a.nt, TPM_NT.ORDINARY);
    assert.equal(nvAttributesToU32(a), EK_CERT_ATTRS);
  });

  it("carries TPM_NT in bits 4..7 and refuses reserved bits and unknown index types", () => {
    assert.equal(nvAttributesToU32(nvAttributes({ nt: TPM_NT.COUNTER, authWrite: true })), 0x14);
    assert.equal(nvAttributesFromU32(0x94).nt, TPM_NT.PIN_PASS);
    assert.throws(() => nvAttributesFromU32(0x30), /TPM_NT/);
    assert.throws(() => nvAttributesFromU32(0x100), TpmFormatError);
    assert.throws(() => nvAttributesFromU32(0x00100000), TpmFormatError);
  });
});

describe("TPMS_NV_PUBLIC", () => {
  const nv = {
    nvIndex: 0x01c00002,
    nameAlg: TPM_ALG.SHA256,
    attributes: nvAttributesFromU32(EK_CERT_ATTRS),
    authPolicy: Buffer.alloc(0),
    dataSize: 1000,
  } as const;

  it("known answer: bytes and Name", () => {
    const bytes = marshalNvPublic(nv);
    assert.equal(bytes.toString("hex"), "01c00002" + "000b" + "62072001" + "0000" + "03e8");
    assert.deepEqual(unmarshalNvPublic(bytes), nv);
    // tpm2_nvreadpublic's Name for swtpm's RSA EK certificate index holding a 1016-byte certificate.
    assert.equal(
      nvIndexName({ ...nv, dataSize: 1016 }).toString("hex"),
      "000b03f3ac4467316d2d26a0ac4bbaf1236a9cae50fb1f70cf2e42e422cd2108b5d2",
    );
  });

  it("TPM2B_NV_PUBLIC round trip; a non-NV handle is refused", () => {
    const w = new TpmWriter();
    writeTpm2bNvPublic(w, nv);
    assert.deepEqual(readTpm2bNvPublic(new TpmReader(w.toBuffer())), nv);
    const bad = marshalNvPublic(nv);
    bad.writeUInt32BE(0x81010001, 0);
    assert.throws(() => unmarshalNvPublic(bad), /not an NV index/);
  });
});
