import { HallmarkError } from "../../../common/errors.js";
import { CertificateParseError, ParsedCertificate, pemCertificates } from "./certificate.js";

/** A configured TPM manufacturer CA the server cannot use: the operator must fix the configuration. */
export type EkTrustErrorCode =
  "EK_TRUST_UNREADABLE" | "EK_TRUST_CERTIFICATE_INVALID" | "EK_TRUST_NOT_A_CA" | "EK_TRUST_NO_ROOT";

export class EkTrustError extends HallmarkError<EkTrustErrorCode> {
  constructor(code: EkTrustErrorCode, message: string, cause?: unknown) {
    super(code, message, { category: "failed_precondition", cause });
  }
}

/** One configured CA certificate and where it came from (a file path, for error messages). */
export interface EkCaCertificate {
  readonly der: Uint8Array;
  readonly source: string;
}

/**
 * The TPM manufacturer CAs an operator configured: roots (self-signed: the trust anchors) and
 * intermediates (used to build a chain, trusted only through a configured root). An EK certificate
 * is accepted only on a chain that ends at one of these roots.
 */
export class EkTrust {
  readonly roots: readonly ParsedCertificate[];
  readonly intermediates: readonly ParsedCertificate[];

  private constructor(roots: ParsedCertificate[], intermediates: ParsedCertificate[]) {
    this.roots = roots;
    this.intermediates = intermediates;
  }

  /** Every certificate must parse and be a CA; at least one must be a self-signed root. */
  static fromCertificates(certificates: readonly EkCaCertificate[]): EkTrust {
    const roots: ParsedCertificate[] = [];
    const intermediates: ParsedCertificate[] = [];
    for (const { der, source } of certificates) {
      let cert: ParsedCertificate;
      try {
        cert = ParsedCertificate.parse(der);
        if (cert.basicConstraints?.cA !== true) {
          throw new EkTrustError(
            "EK_TRUST_NOT_A_CA",
            `${source}: ${cert.label} is not a CA certificate (basicConstraints cA is not true)`,
          );
        }
      } catch (err) {
        if (!(err instanceof CertificateParseError)) throw err;
        throw new EkTrustError("EK_TRUST_CERTIFICATE_INVALID", `${source}: ${err.message}`, err);
      }
      (cert.selfSigned ? roots : intermediates).push(cert);
    }
    if (roots.length === 0) {
      throw new EkTrustError(
        "EK_TRUST_NO_ROOT",
        "no self-signed root among the configured TPM manufacturer CAs: an EK certificate chain must end at one",
      );
    }
    return new EkTrust(roots, intermediates);
  }

  /** The certificates of PEM texts (each may be a bundle); `source` names each text in errors. */
  static fromPem(texts: readonly { readonly pem: string; readonly source: string }[]): EkTrust {
    const certificates: EkCaCertificate[] = [];
    for (const { pem, source } of texts) {
      const ders = pemCertificates(pem);
      if (ders.length === 0) {
        throw new EkTrustError("EK_TRUST_CERTIFICATE_INVALID", `${source}: holds no PEM certificate`);
      }
      certificates.push(
        ...ders.map((der, i) => ({ der, source: ders.length > 1 ? `${source}[${i}]` : source })),
      );
    }
    return EkTrust.fromCertificates(certificates);
  }

  /** True for a configured root, compared by its exact DER bytes. */
  isRoot(cert: ParsedCertificate): boolean {
    return this.roots.some((root) => root.der.equals(cert.der));
  }
}
