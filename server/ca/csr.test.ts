import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import { TAG, bitString, explicit, oid, seq, tlv } from "../../common/der/der.js";
import { verifyCsr } from "./csr.js";

/** A PKCS#10 request built by hand, so that its signatureAlgorithm can say anything. */
function handBuiltCsr(options: {
  publicKey: KeyObject;
  privateKey: KeyObject;
  /** The digest the signature is really made with (null: Ed25519). */
  hash: string | null;
  /** The AlgorithmIdentifier's OID, dotted, and what follows it. */
  algorithm: string;
  parameters?: Buffer;
}): Buffer {
  const info = seq(
    tlv(TAG.integer, Buffer.of(0)),
    seq(),
    options.publicKey.export({ format: "der", type: "spki" }),
    explicit(0),
  );
  const signature = sign(options.hash, info, options.privateKey);
  const algorithm = seq(
    oid(options.algorithm),
    ...(options.parameters === undefined ? [] : [options.parameters]),
  );
  return seq(info, algorithm, bitString(signature));
}

const NULL = tlv(TAG.null);
const ECDSA_SHA256 = "1.2.840.10045.4.3.2";
const ECDSA_SHA384 = "1.2.840.10045.4.3.3";
const RSA_SHA256 = "1.2.840.113549.1.1.11";
const ED25519 = "1.3.101.112";
const p256 = generateKeyPairSync("ec", { namedCurve: "P-256" });
const p384 = generateKeyPairSync("ec", { namedCurve: "P-384" });
const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
const ed25519 = generateKeyPairSync("ed25519");

describe("a CSR's signature algorithm must fit its key", () => {
  describe("accepted", () => {
    const cases = {
      "P-256 with ecdsa-with-SHA256": { ...p256, hash: "sha256", algorithm: ECDSA_SHA256 },
      // openssl req signs with SHA-256 whatever the curve: refusing this would refuse openssl's requests.
      "P-384 with ecdsa-with-SHA256": { ...p384, hash: "sha256", algorithm: ECDSA_SHA256 },
      "P-256 with ecdsa-with-SHA384": { ...p256, hash: "sha384", algorithm: ECDSA_SHA384 },
      "RSA with sha256WithRSAEncryption, NULL parameters": {
        ...rsa,
        hash: "sha256",
        algorithm: RSA_SHA256,
        parameters: NULL,
      },
      "RSA with sha256WithRSAEncryption, parameters absent (RFC 4055 says accept it)": {
        ...rsa,
        hash: "sha256",
        algorithm: RSA_SHA256,
      },
      "Ed25519 with Ed25519": { ...ed25519, hash: null, algorithm: ED25519 },
    };
    for (const [name, csr] of Object.entries(cases)) {
      it(name, async () => {
        const { spki } = await verifyCsr(handBuiltCsr(csr));
        assert.ok(spki.der.equals(csr.publicKey.export({ format: "der", type: "spki" })));
      });
    }
  });

  describe("refused with CSR_SIGNATURE_ALGORITHM_MISMATCH, naming both", () => {
    // Each signature is genuine, made by the request's key: only the label lies about what it is.
    const cases = {
      "an ECDSA signature labelled sha256WithRSAEncryption on a P-256 key": {
        csr: { ...p256, hash: "sha256", algorithm: RSA_SHA256, parameters: NULL },
        names: ["sha256WithRSAEncryption", "ec-p256"],
      },
      "a PKCS#1 signature labelled ecdsa-with-SHA256 on an RSA key": {
        csr: { ...rsa, hash: "sha256", algorithm: ECDSA_SHA256 },
        names: ["ecdsa-with-SHA256", "rsa-2048"],
      },
      "an Ed25519 label on a P-384 key": {
        csr: { ...p384, hash: "sha256", algorithm: ED25519 },
        names: ["Ed25519", "ec-p384"],
      },
      "an ecdsa-with-SHA256 label on an Ed25519 key": {
        csr: { ...ed25519, hash: null, algorithm: ECDSA_SHA256 },
        names: ["ecdsa-with-SHA256", "ed25519"],
      },
    };
    for (const [name, { csr, names }] of Object.entries(cases)) {
      it(name, async () => {
        await assert.rejects(verifyCsr(handBuiltCsr(csr)), (err: Error & { code?: string }) => {
          assert.equal(err.code, "CSR_SIGNATURE_ALGORITHM_MISMATCH");
          for (const n of names) assert.ok(err.message.includes(n), `"${err.message}" names ${n}`);
          return true;
        });
      });
    }
  });

  describe("refused with CSR_UNSUPPORTED_SIGNATURE_ALGORITHM", () => {
    const cases = {
      "ecdsa-with-SHA256 with NULL parameters (RFC 5758: absent)": {
        ...p256,
        hash: "sha256",
        algorithm: ECDSA_SHA256,
        parameters: NULL,
      },
      "Ed25519 with NULL parameters (RFC 8410: absent)": {
        ...ed25519,
        hash: null,
        algorithm: ED25519,
        parameters: NULL,
      },
      "sha256WithRSAEncryption with parameters other than NULL": {
        ...rsa,
        hash: "sha256",
        algorithm: RSA_SHA256,
        parameters: oid("1.2.3"),
      },
      sha1WithRSAEncryption: { ...rsa, hash: "sha1", algorithm: "1.2.840.113549.1.1.5", parameters: NULL },
      "RSASSA-PSS": { ...rsa, hash: "sha256", algorithm: "1.2.840.113549.1.1.10" },
    };
    for (const [name, csr] of Object.entries(cases)) {
      it(name, async () => {
        await assert.rejects(verifyCsr(handBuiltCsr(csr)), { code: "CSR_UNSUPPORTED_SIGNATURE_ALGORITHM" });
      });
    }
  });

  it("a right label over a signature by another key is INVALID_CSR", async () => {
    const other = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const csr = handBuiltCsr({
      publicKey: p256.publicKey,
      privateKey: other.privateKey,
      hash: "sha256",
      algorithm: ECDSA_SHA256,
    });
    await assert.rejects(verifyCsr(csr), { code: "INVALID_CSR", message: /does not verify/ });
  });
});
