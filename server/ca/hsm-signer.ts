import { ecdsaRawToDer } from "../../common/der/ecdsa-signature.js";
import type { KeyManager, KeyOperationOptions, ManagedKey } from "./key-manager.js";
import { algorithmIdentifierFor, type CertificateSignatureScheme } from "./signature-algorithm.js";

/** How certificates are signed per key type; PKCS#1 v1.5 for RSA: PSS AlgorithmIdentifiers carry parameters many verifiers mishandle. */
const CERTIFICATE_SCHEMES: Record<ManagedKey["type"], CertificateSignatureScheme> = {
  "ec-p256": "ecdsa-sha256",
  "ec-p384": "ecdsa-sha384",
  "rsa-2048": "rsa-pkcs1-sha256",
  "rsa-3072": "rsa-pkcs1-sha256",
};

/** A key in the key store seen as an X.509 signer: the AlgorithmIdentifier it signs under and DER signatures. */
export class X509HsmSigner {
  readonly key: ManagedKey;
  /** DER AlgorithmIdentifier for TBSCertificate.signature and Certificate.signatureAlgorithm. */
  readonly algorithmIdentifier: Buffer;
  readonly #keyManager: KeyManager;
  readonly #scheme: CertificateSignatureScheme;
  readonly #ecdsa: boolean;

  constructor(keyManager: KeyManager, key: ManagedKey) {
    this.#keyManager = keyManager;
    this.key = key;
    this.#scheme = CERTIFICATE_SCHEMES[key.type];
    this.algorithmIdentifier = algorithmIdentifierFor(this.#scheme);
    this.#ecdsa = this.#scheme.startsWith("ecdsa");
  }

  /** Signs `tbs` in the key store; ECDSA comes back as the DER SEQUENCE X.509 wants. */
  async sign(tbs: Buffer, options: KeyOperationOptions = {}): Promise<Buffer> {
    const raw = await this.#keyManager.sign(this.key, tbs, this.#scheme, options);
    return this.#ecdsa ? ecdsaRawToDer(raw) : raw;
  }
}
