import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { run } from "../../test/fixtures/processes.js";
import { verifyCsr } from "../../server/ca/csr.js";
import { TAG, seq, tlv, oid } from "../der/der.js";
import { createEcCsr } from "./csr.js";
import { EcKeyError, ecKeyDer } from "./ec-key-der.js";

const keyPair = (namedCurve: string) => generateKeyPairSync("ec", { namedCurve });

/** `openssl req -verify` over a DER request given on stdin: its exit code and what it prints. */
function opensslVerify(der: Buffer) {
  return run("openssl", ["req", "-inform", "DER", "-verify", "-noout", "-subject"], { input: der });
}

describe("PKCS#10 CSR builder", () => {
  for (const curve of ["prime256v1", "secp384r1", "secp521r1"]) {
    it(`makes a request for a ${curve} key that openssl req -verify accepts, with an empty subject`, async () => {
      const csr = await createEcCsr(keyPair(curve).privateKey);
      const result = await opensslVerify(csr.der);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stderr + result.stdout, /verify OK/);
      assert.match(result.stdout, /^subject=\s*$/m);
    });
  }

  for (const curve of ["prime256v1", "secp384r1"]) {
    it(`makes a ${curve} request the server's CSR parser accepts, carrying exactly this key`, async () => {
      const keys = keyPair(curve);
      const csr = await createEcCsr(keys.privateKey);
      const verified = await verifyCsr(csr.der);
      const expected = keys.publicKey.export({ type: "spki", format: "der" });
      assert.ok(verified.spki.der.equals(expected));
      assert.ok(csr.spki.equals(expected));
    });
  }

  it("puts a given subject Name into the request", async () => {
    const cn = seq(tlv(TAG.set, seq(oid("2.5.4.3"), tlv(TAG.utf8String, Buffer.from("workload")))));
    const result = await opensslVerify(
      (await createEcCsr(keyPair("prime256v1").privateKey, { subject: cn })).der,
    );
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /subject=CN\s*=\s*workload/);
  });

  it("is refused by openssl and the server when signed by another key than the one it carries", async () => {
    const a = keyPair("prime256v1");
    const b = keyPair("prime256v1");
    const csr = await createEcCsr(a.privateKey, { encoded: ecKeyDer(b.privateKey) });
    // openssl 3.0 exits 0 either way: its verdict is in what it prints.
    const openssl = await opensslVerify(csr.der);
    assert.match(openssl.stderr + openssl.stdout, /verify failure/);
    assert.doesNotMatch(openssl.stderr + openssl.stdout, /verify OK/);
    await assert.rejects(verifyCsr(csr.der), { code: "INVALID_CSR" });
  });

  it("refuses keys that are not EC private keys, with a typed error", async () => {
    await assert.rejects(createEcCsr(generateKeyPairSync("ed25519").privateKey), EcKeyError);
    await assert.rejects(createEcCsr(generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey), {
      code: "EC_KEY_UNSUPPORTED",
    });
    await assert.rejects(createEcCsr(keyPair("prime256v1").publicKey), {
      code: "EC_KEY_UNSUPPORTED",
      message: /private key/,
    });
  });
});
