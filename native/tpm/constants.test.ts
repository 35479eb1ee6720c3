import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { CURVES } from "../../common/crypto/curves.js";
import {
  TPM_ALG,
  TPM_CC,
  TPM_ECC_CURVE,
  TPM_HT,
  algIdByName,
  algName,
  commandName,
  curveOfTpmId,
  describeAlg,
  digestSize,
  handleType,
  nodeHashName,
  ptName,
  tpmIdOfCurve,
  TPM_PT,
} from "./constants.js";

describe("TPM constants", () => {
  it("algorithm ids and names map both ways", () => {
    assert.equal(TPM_ALG.SHA256, 0x000b);
    assert.equal(TPM_ALG.ECC, 0x0023);
    assert.equal(algName(0x0023), "ECC");
    assert.equal(algIdByName("sha256"), TPM_ALG.SHA256);
    assert.equal(algIdByName("SHA3-256"), TPM_ALG.SHA3_256);
    assert.equal(algIdByName("md5"), undefined);
    assert.equal(algName(0x7777), undefined);
    assert.equal(describeAlg(0x000b), "0x000b (SHA256)");
  });

  it("digest sizes agree with node:crypto for every hash", () => {
    for (const alg of [
      TPM_ALG.SHA1,
      TPM_ALG.SHA256,
      TPM_ALG.SHA384,
      TPM_ALG.SHA512,
      TPM_ALG.SHA3_256,
      TPM_ALG.SHA3_384,
      TPM_ALG.SHA3_512,
    ]) {
      assert.equal(createHash(nodeHashName(alg)!).digest().length, digestSize(alg), describeAlg(alg));
    }
    assert.equal(digestSize(TPM_ALG.RSA), undefined);
    assert.equal(nodeHashName(TPM_ALG.NULL), undefined);
  });

  it("curves, commands, handles, properties", () => {
    assert.equal(curveOfTpmId(TPM_ECC_CURVE.NIST_P384), CURVES["P-384"]);
    assert.equal(tpmIdOfCurve(CURVES["P-521"]), TPM_ECC_CURVE.NIST_P521);
    assert.equal(curveOfTpmId(TPM_ECC_CURVE.BN_P256), undefined);
    assert.equal(commandName(TPM_CC.Quote), "TPM2_Quote");
    assert.equal(TPM_CC.Quote, 0x158);
    assert.equal(TPM_CC.ActivateCredential, 0x147);
    assert.equal(commandName(0x1ff), "TPM2_CC_0x000001ff");
    assert.equal(handleType(0x81010001), TPM_HT.PERSISTENT);
    assert.equal(handleType(0x01c00002), TPM_HT.NV_INDEX);
    assert.equal(TPM_PT.NV_BUFFER_MAX, 0x12c);
    assert.equal(TPM_PT.FIRMWARE_VERSION_1, 0x10b);
    assert.equal(ptName(0x105), "MANUFACTURER");
  });
});
