import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPair, generateKeyPairSync, sign, verify } from "node:crypto";
import { promisify } from "node:util";
import { run } from "../../test/fixtures/processes.js";
import { DerError, TAG, octetString, oid, seq, tlv } from "../der/der.js";
import { EcKeyError, ecKeyDer, ecKeyFromPkcs8, ecPkcs8, ecSpki } from "./ec-key-der.js";

const CURVES = ["prime256v1", "secp384r1", "secp521r1"];
const keyPair = (namedCurve: string) => generateKeyPairSync("ec", { namedCurve });
/*
 * The loops below make thousands of keys, and generateKeyPairSync's job is freed by the garbage
 * collector, whose finalizer takes the key's mutex: a collection during a JWK export of that key
 * (which allocates under the same mutex) deadlocks Node 20 (~1 run in 5 here). An async job is freed
 * right after its callback, so the loops use that.
 */
const generateEc = promisify(generateKeyPair);
const freshP256 = () => generateEc("ec", { namedCurve: "prime256v1" });

describe("EC SubjectPublicKeyInfo from a key object", () => {
  it("equals node:crypto's own encoding on every curve, also for points whose coordinates start with a zero byte", async () => {
    for (const curve of CURVES) assertSameSpki(keyPair(curve).publicKey);
    let zeroLed = 0;
    for (let i = 0; i < 4000 && zeroLed < 2; i++) {
      const { publicKey } = await freshP256();
      const spki = assertSameSpki(publicKey);
      // The point is the last 65 bytes: 0x04, x, y.
      if (spki[spki.length - 64] === 0 || spki[spki.length - 32] === 0) zeroLed++;
    }
    assert.ok(zeroLed > 0, "no key with a leading zero coordinate in 4000 tries");
  });

  it("refuses a private key, and a key that is not EC", () => {
    assert.throws(() => ecSpki(keyPair("prime256v1").privateKey), {
      code: "EC_KEY_UNSUPPORTED",
      message: /public key/,
    });
    assert.throws(() => ecSpki(generateKeyPairSync("ed25519").publicKey), EcKeyError);
  });
});

describe("EC PKCS#8 private keys", () => {
  it("come with the key's SPKI and curve from the same export", () => {
    const { privateKey, publicKey } = keyPair("secp384r1");
    const encoded = ecKeyDer(privateKey);
    assert.equal(encoded.curve.name, "P-384");
    assert.ok(encoded.spki.equals(ecSpki(publicKey)));
    assert.ok(encoded.pkcs8.equals(ecPkcs8(privateKey)));
  });

  it("are written byte for byte as node:crypto (OpenSSL) writes them, on every curve and for short scalars", async () => {
    for (const curve of CURVES) assertSamePkcs8(keyPair(curve).privateKey);
    let short = 0;
    for (let i = 0; i < 4000 && short < 1; i++) {
      const { privateKey } = await freshP256();
      assertSamePkcs8(privateKey);
      if (Buffer.from(privateKey.export({ format: "jwk" }).d as string, "base64url")[0] === 0) short++;
    }
    assert.ok(short > 0, "no scalar with a leading zero byte in 4000 tries");
  });

  it("pass openssl's key check", async () => {
    const result = await run("openssl", ["pkey", "-inform", "DER", "-check", "-noout"], {
      input: ecPkcs8(keyPair("prime256v1").privateKey),
    });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout + result.stderr, /Key is valid/);
  });

  it("are read back into a key that signs for the same public key", () => {
    for (const curve of CURVES) {
      const { privateKey, publicKey } = keyPair(curve);
      const back = ecKeyFromPkcs8(ecPkcs8(privateKey));
      const data = Buffer.from("hallmark");
      assert.ok(verify(null, data, publicKey, sign(null, data, back)), curve);
    }
  });

  it("are read from forms written elsewhere: without the public point, through OpenSSL's decoder", () => {
    const { privateKey, publicKey } = keyPair("prime256v1");
    // RFC 5915 allows ECPrivateKey without its [1] publicKey.
    const d = Buffer.from(privateKey.export({ format: "jwk" }).d as string, "base64url");
    const int = (n: number) => tlv(TAG.integer, Buffer.of(n));
    const noPoint = seq(
      int(0),
      seq(oid("1.2.840.10045.2.1"), oid("1.2.840.10045.3.1.7")),
      octetString(seq(int(1), octetString(d))),
    );
    const back = ecKeyFromPkcs8(noPoint);
    const data = Buffer.from("x");
    assert.ok(verify(null, data, publicKey, sign(null, data, back)));
  });

  it("refuse what is not an EC PKCS#8 key with a typed error", () => {
    assert.throws(() => ecKeyFromPkcs8(Buffer.from("junk")), DerError);
    const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({
      format: "der",
      type: "pkcs8",
    });
    assert.throws(() => ecKeyFromPkcs8(rsa), { code: "EC_KEY_UNSUPPORTED" });
    assert.throws(() => ecPkcs8(keyPair("prime256v1").publicKey), { code: "EC_KEY_UNSUPPORTED" });
  });
});

function assertSameSpki(publicKey: ReturnType<typeof keyPair>["publicKey"]): Buffer {
  const spki = ecSpki(publicKey);
  assert.ok(spki.equals(publicKey.export({ type: "spki", format: "der" })));
  return spki;
}

function assertSamePkcs8(privateKey: ReturnType<typeof keyPair>["privateKey"]): void {
  assert.ok(ecPkcs8(privateKey).equals(privateKey.export({ type: "pkcs8", format: "der" })));
}
