import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { TpmFormatError, TpmReader, TpmWriter } from "../marshal.js";
import { TPM_ALG, TPM_CC, TPM_RS_PW } from "../constants.js";
import {
  cpHash,
  passwordAuth,
  policyAuth,
  readAuthCommand,
  readAuthResponses,
  rpHash,
  sessionAttributes,
  sessionAttributesFromU8,
  sessionAttributesToU8,
  writeAuthArea,
  writeAuthCommand,
  writeAuthResponse,
} from "./sessions.js";

describe("authorization sessions", () => {
  it("password session: TPM_RS_PW, empty nonce, continueSession, password as hmac", () => {
    const w = new TpmWriter();
    writeAuthCommand(w, passwordAuth(Buffer.from("pw")));
    assert.equal(w.toBuffer().toString("hex"), "40000009" + "0000" + "01" + "0002" + "7077");
    assert.equal(passwordAuth().sessionHandle, TPM_RS_PW);
  });

  it("policy session round trip through the auth area", () => {
    const auth = policyAuth(0x03000000, { nonceCaller: Buffer.alloc(16, 1), continueSession: true });
    const w = new TpmWriter();
    writeAuthArea(w, [auth, passwordAuth()]);
    const r = new TpmReader(w.toBuffer());
    const size = r.u32("authorizationSize");
    assert.equal(size, r.remaining);
    assert.deepEqual(readAuthCommand(r), auth);
    assert.deepEqual(readAuthCommand(r), passwordAuth());
    assert.throws(() => writeAuthArea(new TpmWriter(), []), TpmFormatError);
    assert.throws(() => writeAuthArea(new TpmWriter(), [auth, auth, auth, auth]), TpmFormatError);
  });

  it("TPMA_SESSION bits, reserved bits refused", () => {
    const all = sessionAttributes({
      continueSession: true,
      auditExclusive: true,
      auditReset: true,
      decrypt: true,
      encrypt: true,
      audit: true,
    });
    assert.equal(sessionAttributesToU8(all), 0xe7);
    assert.deepEqual(sessionAttributesFromU8(0xe7), all);
    assert.throws(() => sessionAttributesFromU8(0x08), TpmFormatError);
    assert.throws(() => sessionAttributesFromU8(0x10), TpmFormatError);
  });

  it("response sessions: parsed to the end, at most three", () => {
    const one = {
      nonce: Buffer.alloc(32, 2),
      attributes: sessionAttributes({ continueSession: true }),
      hmac: Buffer.alloc(0),
    };
    const w = new TpmWriter();
    writeAuthResponse(w, one);
    writeAuthResponse(w, one);
    assert.deepEqual(readAuthResponses(new TpmReader(w.toBuffer())), [one, one]);
    writeAuthResponse(w, one);
    writeAuthResponse(w, one);
    assert.throws(() => readAuthResponses(new TpmReader(w.toBuffer())), /more than 3/);
  });

  it("cpHash and rpHash follow Part 1's definitions", () => {
    const name = Buffer.alloc(34, 1);
    const params = Buffer.of(1, 2, 3);
    const expectedCp = createHash("sha256")
      .update(Buffer.from("00000158", "hex"))
      .update(name)
      .update(params)
      .digest();
    assert.deepEqual(cpHash(TPM_ALG.SHA256, TPM_CC.Quote, [name], params), expectedCp);
    const expectedRp = createHash("sha256")
      .update(Buffer.from("0000000000000158", "hex"))
      .update(params)
      .digest();
    assert.deepEqual(rpHash(TPM_ALG.SHA256, 0, TPM_CC.Quote, params), expectedRp);
    assert.throws(() => cpHash(TPM_ALG.RSA, 0, [], params), TpmFormatError);
  });
});
