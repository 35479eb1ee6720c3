import { createPrivateKey, createPublicKey, sign, X509Certificate, type KeyObject } from "node:crypto";
import { readFile } from "node:fs/promises";
import {
  certificateBasicConstraints,
  validateX509SvidSigningCertificate,
} from "../../common/spiffe/x509-svid.js";
import { curveByNodeName } from "../../common/crypto/curves.js";
import { HallmarkError } from "../../common/errors.js";
import { DerReader, TAG, certificateSubject } from "../../common/der/der.js";
import { pemCertificates } from "../../common/spiffe/bundle.js";
import {
  algorithmIdentifierFor,
  signatureAlgorithmOf,
  type CertificateSignatureScheme,
} from "./signature-algorithm.js";

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

export type UpstreamAuthorityErrorCode =
  | "UPSTREAM_UNREADABLE"
  | "UPSTREAM_BAD_CERTIFICATE"
  | "UPSTREAM_BAD_KEY"
  | "UPSTREAM_KEY_MISMATCH"
  | "UPSTREAM_KEY_UNSUPPORTED"
  | "UPSTREAM_BAD_BUNDLE"
  | "UPSTREAM_NOT_A_CA"
  | "UPSTREAM_PATH_LEN"
  | "UPSTREAM_NOT_CHAINED"
  | "UPSTREAM_NO_SKI"
  | "UPSTREAM_EXPIRED"
  | "UPSTREAM_EXPIRING";

/** An upstream CA that cannot be loaded, or that cannot sign the next server CA certificate. */
export class UpstreamAuthorityError extends HallmarkError<UpstreamAuthorityErrorCode> {}

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
  readonly #hash: string | null;

  private constructor(certificate: X509Certificate, key: KeyObject, roots: Buffer[]) {
    this.certificate = certificate.raw;
    this.#key = key;
    this.notAfterMs = new Date(certificate.validTo).getTime();
    this.roots = roots;
    this.chain = roots.some((r) => r.equals(certificate.raw)) ? [] : [certificate.raw];
    const parsed = validateX509SvidSigningCertificate(certificate.raw);
    // The server's CA sits below the upstream: with pathLenConstraint 0 no SVID it signs would validate.
    if (certificateBasicConstraints(parsed)?.pathLenConstraint === 0) {
      throw new UpstreamAuthorityError(
        "UPSTREAM_PATH_LEN",
        "the upstream CA certificate has pathLenConstraint 0: it may not sign the server's CA, which is itself a CA",
        { category: "failed_precondition" },
      );
    }
    if (
      this.chain.length > 0 &&
      !roots.some((r) => {
        const root = new X509Certificate(r);
        return certificate.checkIssued(root) && certificate.verify(root.publicKey);
      })
    ) {
      throw new UpstreamAuthorityError(
        "UPSTREAM_NOT_CHAINED",
        "no certificate in the upstream bundle issued the upstream CA certificate: SVIDs would not chain to the bundle",
        { category: "failed_precondition" },
      );
    }
    const ski = parsed.tbsCertificate.extensions?.find((e) => e.extnID === "2.5.29.14");
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
    const scheme = upstreamScheme(key);
    this.algorithmIdentifier = algorithmIdentifierFor(scheme);
    this.#hash = signatureAlgorithmOf(scheme).hash;
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
      roots = pemCertificates(pem).map((der) => new X509Certificate(der).raw);
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

  /**
   * Refuses to sign a server CA certificate that the upstream's own end would cut short: with less than half
   * of `caTtlMs` left, successive CAs would live shorter and shorter; and a successor to the CA that ends at
   * `currentCaNotAfterMs` that would end no later than it. The error names the upstream's NotAfter.
   */
  checkCanSignCa(nowMs: number, caTtlMs: number, currentCaNotAfterMs?: number): void {
    const end = new Date(this.notAfterMs).toISOString();
    if (this.notAfterMs <= nowMs) {
      throw new UpstreamAuthorityError("UPSTREAM_EXPIRED", `the upstream CA certificate expired at ${end}`, {
        category: "failed_precondition",
      });
    }
    if (this.notAfterMs - nowMs < caTtlMs / 2) {
      throw new UpstreamAuthorityError(
        "UPSTREAM_EXPIRING",
        `the upstream CA certificate expires at ${end}, less than half of the CA lifetime (${Math.round(caTtlMs / 60_000)} min) from now; renew it`,
        { category: "failed_precondition" },
      );
    }
    if (
      currentCaNotAfterMs !== undefined &&
      Math.min(nowMs + caTtlMs, this.notAfterMs) <= currentCaNotAfterMs
    ) {
      throw new UpstreamAuthorityError(
        "UPSTREAM_EXPIRING",
        `a new CA would end with the upstream CA certificate at ${end}, no later than the current CA (${new Date(currentCaNotAfterMs).toISOString()}); renew the upstream CA`,
        { category: "failed_precondition" },
      );
    }
  }

  /** A DER signature over `tbs` under `algorithmIdentifier`. */
  sign(tbs: Buffer): Buffer {
    return sign(this.#hash, tbs, this.#key);
  }
}

function upstreamScheme(key: KeyObject): CertificateSignatureScheme {
  const curve = curveByNodeName(key.asymmetricKeyDetails?.namedCurve)?.name;
  if (key.asymmetricKeyType === "ec" && curve === "P-256") return "ecdsa-sha256";
  if (key.asymmetricKeyType === "ec" && curve === "P-384") return "ecdsa-sha384";
  if (key.asymmetricKeyType === "rsa") return "rsa-pkcs1-sha256";
  throw new UpstreamAuthorityError(
    "UPSTREAM_KEY_UNSUPPORTED",
    `the upstream CA key is ${key.asymmetricKeyType ?? "unknown"}; use EC P-256/P-384 or RSA`,
    { category: "failed_precondition" },
  );
}
