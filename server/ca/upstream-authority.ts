import { createPrivateKey, createPublicKey, sign, X509Certificate, type KeyObject } from "node:crypto";
import { readFile } from "node:fs/promises";
import { validateX509SvidSigningCertificate } from "../../common/spiffe/x509-svid.js";
import { HallmarkError } from "../../common/errors.js";
import { DerReader, TAG, certificateSubject, oid, seq, tlv } from "./der.js";

export interface UpstreamAuthorityFiles {
  /** PEM certificate of the upstream CA that signs the server's CA certificates. */
  certificatePath: string;
  /** PEM private key of that CA (unencrypted PKCS#8, SEC1 or PKCS#1). */
  keyPath: string;
  /**
   * PEM roots relying parties trust, if the upstream CA is itself an intermediate; by default the
   * upstream certificate is the root.
   */
  bundlePath?: string;
}

export class UpstreamAuthorityError extends HallmarkError {}

/**
 * An upstream CA given as PEM files. It signs each new server CA certificate (whose key is still on the
 * token), so X.509-SVIDs chain to the upstream root and the bundle holds that root, not the server's CAs.
 */
export class UpstreamAuthority {
  readonly certificate: Buffer;
  /** DER subject Name: the issuer of the server's CA certificates. */
  readonly subject: Buffer;
  /** The upstream CA's subject key identifier: the AKI of the server's CA certificates. */
  readonly keyIdentifier: Buffer;
  readonly notAfterMs: number;
  readonly algorithmIdentifier: Buffer;
  /** The X.509 roots for the bundle. */
  readonly roots: Buffer[];
  /** Certificates between the server's CA and a root (the upstream CA itself unless it is a root). */
  readonly chain: Buffer[];
  readonly #key: KeyObject;
  readonly #hash: string;

  private constructor(certificate: X509Certificate, key: KeyObject, roots: Buffer[]) {
    this.certificate = certificate.raw;
    this.#key = key;
    this.notAfterMs = new Date(certificate.validTo).getTime();
    this.roots = roots;
    this.chain = roots.some((r) => r.equals(certificate.raw)) ? [] : [certificate.raw];
    const ski = validateX509SvidSigningCertificate(certificate.raw).tbsCertificate.extensions?.find(
      (e) => e.extnID === "2.5.29.14",
    );
    if (ski === undefined) {
      throw new UpstreamAuthorityError(
        "UPSTREAM_NO_SKI",
        "the upstream CA certificate has no subject key identifier",
        { category: "failed_precondition" },
      );
    }
    // extnValue holds a DER OCTET STRING whose contents are the identifier.
    this.keyIdentifier = new DerReader(Buffer.from(ski.extnValue.buffer), "subjectKeyIdentifier").read(
      TAG.octetString,
      "keyIdentifier",
    ).value;
    this.subject = certificateSubject(certificate.raw);
    const details = key.asymmetricKeyDetails;
    if (key.asymmetricKeyType === "ec" && details?.namedCurve === "prime256v1") {
      this.algorithmIdentifier = seq(oid("1.2.840.10045.4.3.2"));
      this.#hash = "sha256";
    } else if (key.asymmetricKeyType === "ec" && details?.namedCurve === "secp384r1") {
      this.algorithmIdentifier = seq(oid("1.2.840.10045.4.3.3"));
      this.#hash = "sha384";
    } else if (key.asymmetricKeyType === "rsa") {
      this.algorithmIdentifier = seq(oid("1.2.840.113549.1.1.11"), tlv(TAG.null));
      this.#hash = "sha256";
    } else {
      throw new UpstreamAuthorityError(
        "UPSTREAM_KEY_UNSUPPORTED",
        `the upstream CA key is ${key.asymmetricKeyType ?? "unknown"}; use EC P-256/P-384 or RSA`,
        { category: "failed_precondition" },
      );
    }
  }

  static async load(files: UpstreamAuthorityFiles): Promise<UpstreamAuthority> {
    const read = async (path: string, what: string): Promise<string> => {
      try {
        return await readFile(path, "utf8");
      } catch (err) {
        throw new UpstreamAuthorityError(
          "UPSTREAM_UNREADABLE",
          `cannot read the upstream CA ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? "error"}`,
          { category: "failed_precondition", cause: err },
        );
      }
    };
    let certificate: X509Certificate;
    try {
      certificate = new X509Certificate(await read(files.certificatePath, "certificate"));
    } catch (err) {
      if (err instanceof UpstreamAuthorityError) throw err;
      throw new UpstreamAuthorityError(
        "UPSTREAM_BAD_CERTIFICATE",
        `${files.certificatePath} is not a PEM certificate`,
        { category: "failed_precondition", cause: err },
      );
    }
    let key: KeyObject;
    try {
      key = createPrivateKey(await read(files.keyPath, "key"));
    } catch (err) {
      if (err instanceof UpstreamAuthorityError) throw err;
      throw new UpstreamAuthorityError(
        "UPSTREAM_BAD_KEY",
        `${files.keyPath} is not an unencrypted PEM private key`,
        { category: "failed_precondition", cause: err },
      );
    }
    if (!createPublicKey(key).equals(certificate.publicKey)) {
      throw new UpstreamAuthorityError(
        "UPSTREAM_KEY_MISMATCH",
        `the key in ${files.keyPath} does not belong to the certificate in ${files.certificatePath}`,
        { category: "failed_precondition" },
      );
    }
    let roots = [certificate.raw];
    if (files.bundlePath !== undefined) {
      const pem = await read(files.bundlePath, "bundle");
      roots = (pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map(
        (p) => new X509Certificate(p).raw,
      );
      if (roots.length === 0)
        throw new UpstreamAuthorityError(
          "UPSTREAM_BAD_BUNDLE",
          `${files.bundlePath} holds no PEM certificates`,
          { category: "failed_precondition" },
        );
    }
    try {
      return new UpstreamAuthority(certificate, key, roots);
    } catch (err) {
      if (err instanceof HallmarkError && !(err instanceof UpstreamAuthorityError)) {
        throw new UpstreamAuthorityError(
          "UPSTREAM_NOT_A_CA",
          `${files.certificatePath} cannot sign CA certificates: ${err.message}`,
          { category: "failed_precondition", cause: err },
        );
      }
      throw err;
    }
  }

  /** A DER signature over `tbs` under `algorithmIdentifier`. */
  sign(tbs: Buffer): Buffer {
    return sign(this.#hash, tbs, this.#key);
  }
}
