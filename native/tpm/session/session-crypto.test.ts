import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { TPM_ALG } from "../constants.js";
import { TpmSessionError } from "./errors.js";
import { cryptFirstParameter } from "./parameter-encryption.js";
import { sessionValue, trimAuthValue } from "./session-crypto.js";

describe("session arithmetic", () => {
  it("an authValue loses its trailing zero octets, as the TPM stores it", () => {
    assert.deepEqual(trimAuthValue(Buffer.from([1, 0, 2, 0, 0])), Buffer.from([1, 0, 2]));
    assert.deepEqual(trimAuthValue(Buffer.alloc(4)), Buffer.alloc(0));
    assert.deepEqual(sessionValue(Buffer.from([9]), Buffer.from([7, 0])), Buffer.from([9, 7]));
  });

  describe("first-parameter encryption (AES-128-CFB)", () => {
    const key = Buffer.alloc(32, 0x11);
    const newer = Buffer.alloc(32, 0x22);
    const older = Buffer.alloc(32, 0x33);
    // A TPM2B of 20 bytes followed by another parameter that must stay as it is.
    const params = Buffer.concat([Buffer.from([0, 20]), Buffer.alloc(20, 0xab), Buffer.from("rest")]);

    it("changes only the data of the leading TPM2B, and decrypts back", () => {
      const enc = cryptFirstParameter("encrypt", params, TPM_ALG.SHA256, key, newer, older);
      assert.deepEqual(enc.subarray(0, 2), params.subarray(0, 2));
      assert.deepEqual(enc.subarray(22), params.subarray(22));
      assert.notDeepEqual(enc.subarray(2, 22), params.subarray(2, 22));
      assert.deepEqual(cryptFirstParameter("decrypt", enc, TPM_ALG.SHA256, key, newer, older), params);
      // The input is not changed in place: the caller's parameters stay in the clear for it.
      assert.deepEqual(params.subarray(2, 22), Buffer.alloc(20, 0xab));
    });

    it("keys and IVs differ with the nonce order and the authValue", () => {
      const a = cryptFirstParameter("encrypt", params, TPM_ALG.SHA256, key, newer, older);
      const swapped = cryptFirstParameter("encrypt", params, TPM_ALG.SHA256, key, older, newer);
      const otherAuth = cryptFirstParameter(
        "encrypt",
        params,
        TPM_ALG.SHA256,
        Buffer.alloc(33, 0x11),
        newer,
        older,
      );
      assert.notDeepEqual(a, swapped);
      assert.notDeepEqual(a, otherAuth);
    });

    it("refuses a parameter area that does not start with a complete sized buffer", () => {
      for (const bad of [Buffer.alloc(0), Buffer.from([0]), Buffer.from([0, 5, 1, 2])]) {
        assert.throws(
          () => cryptFirstParameter("encrypt", bad, TPM_ALG.SHA256, key, newer, older),
          (err: unknown) => err instanceof TpmSessionError && err.code === "TPM_SESSION_PARAMETER_UNSIZED",
        );
      }
    });
  });
});
