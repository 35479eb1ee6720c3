import type { HsmKey, Pkcs11KeyManager } from "../../native/pkcs11/key-manager.js";
import { ecdsaRawToDer } from "../../native/pkcs11/ecdsa-signature.js";
import type { SignatureScheme } from "../../native/pkcs11/key-spec.js";
import { TAG, oid, seq, tlv } from "./der.js";

/** A key on the token seen as an X.509 signer: the AlgorithmIdentifier it signs under and DER signatures. */
export class X509HsmSigner {
  readonly key: HsmKey;
  /** DER AlgorithmIdentifier for TBSCertificate.signature and Certificate.signatureAlgorithm. */
  readonly algorithmIdentifier: Buffer;
  readonly #keyManager: Pkcs11KeyManager;
  readonly #scheme: SignatureScheme;
  readonly #ecdsa: boolean;

  constructor(keyManager: Pkcs11KeyManager, key: HsmKey) {
    this.#keyManager = keyManager;
    this.key = key;
    switch (key.type) {
      case "ec-p256":
        this.#scheme = "ecdsa-sha256";
        this.algorithmIdentifier = seq(oid("1.2.840.10045.4.3.2"));
        break;
      case "ec-p384":
        this.#scheme = "ecdsa-sha384";
        this.algorithmIdentifier = seq(oid("1.2.840.10045.4.3.3"));
        break;
      case "rsa-2048":
      case "rsa-3072":
        // PKCS#1 v1.5 in certificates: PSS AlgorithmIdentifiers carry parameters many verifiers mishandle.
        this.#scheme = "rsa-pkcs1-sha256";
        this.algorithmIdentifier = seq(oid("1.2.840.113549.1.1.11"), tlv(TAG.null));
        break;
    }
    this.#ecdsa = this.#scheme.startsWith("ecdsa");
  }

  /** Signs `tbs` on the token; ECDSA comes back as the DER SEQUENCE X.509 wants. */
  async sign(tbs: Buffer): Promise<Buffer> {
    const raw = await this.#keyManager.sign(this.key, tbs, this.#scheme);
    return this.#ecdsa ? ecdsaRawToDer(raw) : raw;
  }
}
