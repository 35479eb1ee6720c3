import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { CURVES, curveByNodeName, curveByOidDer } from "./curves.js";

describe("curve table", () => {
  for (const curve of Object.values(CURVES)) {
    it(`${curve.name}: node:crypto agrees on the name, the OID DER and the coordinate size`, () => {
      const { publicKey } = generateKeyPairSync("ec", { namedCurve: curve.name });
      assert.equal(publicKey.asymmetricKeyDetails?.namedCurve, curve.nodeName);
      const spki = publicKey.export({ format: "der", type: "spki" });
      assert.ok(spki.includes(curve.oidDer), "the SPKI carries the namedCurve OID as the table has it");
      const jwk = publicKey.export({ format: "jwk" });
      assert.equal(jwk.crv, curve.name);
      assert.equal(Buffer.from(jwk.x ?? "", "base64url").length, curve.size);
      assert.equal(curveByNodeName(curve.nodeName), curve);
      assert.equal(curveByOidDer(curve.oidDer), curve);
    });
  }

  it("knows no other curve", () => {
    assert.equal(curveByNodeName("secp256k1"), undefined);
    assert.equal(curveByOidDer(Buffer.from("06052b8104000a", "hex")), undefined);
  });
});
