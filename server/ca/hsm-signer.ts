import type { HsmKey, Pkcs11KeyManager } from "../../native/pkcs11/key-manager.js";
import { ecdsaRawToDer } from "../../common/der/ecdsa-signature.js";
import { algorithmIdentifierFor, type CertificateSignatureScheme } from "./signature-algorithm.js";

/** A key on the token seen as an X.509 signer: the AlgorithmIdentifier it signs under and DER signatures. */
export class X509HsmSigner {
  readonly key: HsmKey;
  /** DER AlgorithmIdentifier for TBSCertificate.signature and Certificate.signatureAlgorithm. */
  readonly algorithmIdentifier: Buffer;
  readonly #keyManager: Pkcs11KeyManager;
  readonly #scheme: CertificateSignatureScheme;
  readonly #ecdsa: boolean;

  constructor(keyManager: Pkcs11KeyManager, key: HsmKey) {
    this.#keyManager = keyManager;
    this.key = key;
    // PKCS#1 v1.5 for RSA in certificates: PSS AlgorithmIdentifiers carry parameters many verifiers mishandle.
    this.#scheme =
      key.type === "ec-p256" ? "ecdsa-sha256" : key.type === "ec-p384" ? "ecdsa-sha384" : "rsa-pkcs1-sha256";
    this.algorithmIdentifier = algorithmIdentifierFor(this.#scheme);
    this.#ecdsa = this.#scheme.startsWith("ecdsa");
  }

  /** Signs `tbs` on the token; ECDSA comes back as the DER SEQUENCE X.509 wants. */
  async sign(tbs: Buffer): Promise<Buffer> {
    const raw = await this.#keyManager.sign(this.key, tbs, this.#scheme);
    return this.#ecdsa ? ecdsaRawToDer(raw) : raw;
  }
}
