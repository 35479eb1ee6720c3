import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { run } from "../../test/fixtures/processes.js";
import { verifyCsr } from "../../server/ca/csr.js";
import { TAG, seq, tlv, oid } from "../der/der.js";
import { createEcCsr } from "./csr.js";
import { EcKeyError, ecSpki } from "./ec-spki.js";

const keyPair = (namedCurve: string) => generateKeyPairSync("ec", { namedCurve });

/** `openssl req -verify` over a DER request given on stdin: its exit code and what it prints. */
function opensslVerify(der: Buffer) {
  return run("openssl", ["req", "-inform", "DER", "-verify", "-noout", "-subject"], { input: der });
}

describe("PKCS#10 CSR builder", () => {
  for (const curve of ["prime256v1", "secp384r1", "secp521r1"]) {
    it(`makes a request for a ${curve} key that openssl req -verify accepts, with an empty subject`, async () => {
      const csr = await createEcCsr(keyPair(curve));
      const result = await opensslVerify(csr.der);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stderr + result.stdout, /verify OK/);
      assert.match(result.stdout, /^subject=\s*$/m);
    });
  }

  for (const curve of ["prime256v1", "secp384r1"]) {
    it(`makes a ${curve} request the server's CSR parser accepts, carrying exactly this key`, async () => {
      const keys = keyPair(curve);
      const csr = await createEcCsr(keys);
      const verified = await verifyCsr(csr.der);
      const expected = keys.publicKey.export({ type: "spki", format: "der" });
      assert.ok(verified.spki.der.equals(expected));
      assert.ok(csr.spki.equals(expected));
    });
  }

  it("puts a given subject Name into the request", async () => {
    const cn = seq(tlv(TAG.set, seq(oid("2.5.4.3"), tlv(TAG.utf8String, Buffer.from("workload")))));
    const result = await opensslVerify((await createEcCsr(keyPair("prime256v1"), { subject: cn })).der);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /subject=CN\s*=\s*workload/);
  });

  it("is refused by openssl and the server when signed by another key than the one it carries", async () => {
    const a = keyPair("prime256v1");
    const b = keyPair("prime256v1");
    const csr = await createEcCsr({ privateKey: a.privateKey, publicKey: b.publicKey });
    // openssl 3.0 exits 0 either way: its verdict is in what it prints.
    const openssl = await opensslVerify(csr.der);
    assert.match(openssl.stderr + openssl.stdout, /verify failure/);
    assert.doesNotMatch(openssl.stderr + openssl.stdout, /verify OK/);
    await assert.rejects(verifyCsr(csr.der), { code: "INVALID_CSR" });
  });

  it("refuses keys that are not EC, and a pair split across curves, with a typed error", async () => {
    await assert.rejects(createEcCsr(generateKeyPairSync("ed25519")), EcKeyError);
    await assert.rejects(createEcCsr(generateKeyPairSync("rsa", { modulusLength: 2048 })), {
      code: "EC_KEY_UNSUPPORTED",
    });
    const split = { privateKey: keyPair("prime256v1").privateKey, publicKey: keyPair("secp384r1").publicKey };
    await assert.rejects(createEcCsr(split), { code: "EC_KEY_UNSUPPORTED", message: /different curves/ });
  });
});

describe("EC SubjectPublicKeyInfo from a key object", () => {
  it("equals node:crypto's own encoding, also for points whose coordinates start with a zero byte", () => {
    let zeroLed = 0;
    for (let i = 0; i < 4000 && zeroLed < 2; i++) {
      const { publicKey } = keyPair("prime256v1");
      const spki = ecSpki(publicKey);
      assert.ok(spki.equals(publicKey.export({ type: "spki", format: "der" })));
      // The point is the last 65 bytes: 0x04, x, y.
      if (spki[spki.length - 64] === 0 || spki[spki.length - 32] === 0) zeroLed++;
    }
    assert.ok(zeroLed > 0, "no key with a leading zero coordinate in 4000 tries");
  });

  it("refuses a private key: its JWK would put the private scalar in the JS heap", () => {
    const { privateKey }: { privateKey: KeyObject } = keyPair("prime256v1");
    assert.throws(() => ecSpki(privateKey), { code: "EC_KEY_UNSUPPORTED", message: /public key/ });
  });
});
