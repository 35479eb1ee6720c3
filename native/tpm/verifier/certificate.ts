import { X509Certificate, createHash } from "node:crypto";
import { HallmarkError } from "../../../common/errors.js";
import { AsnConvert } from "@peculiar/asn1-schema";
import {
  BasicConstraints,
  Certificate,
  ExtendedKeyUsage,
  KeyUsage,
  SubjectAlternativeName,
  id_ce_basicConstraints,
  id_ce_extKeyUsage,
  id_ce_keyUsage,
  id_ce_subjectAltName,
  type Extension,
} from "@peculiar/asn1-x509";

/**
 * An X.509 certificate read twice: by node:crypto (OpenSSL: signature checks, issuer matching) and
 * by @peculiar/asn1-x509 (the extensions, which node:crypto does not expose, and whose criticality
 * and contents the TPM EK profile needs judged by hand). Parsing failures are CertificateParseErrors,
 * which callers turn into their own codes (a refused EK certificate, an unusable configured CA).
 */
export class CertificateParseError extends HallmarkError<"CERTIFICATE_INVALID"> {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super("CERTIFICATE_INVALID", message, { category: "invalid_argument", cause: options.cause });
  }
}

export class ParsedCertificate {
  readonly der: Buffer;
  readonly x509: X509Certificate;
  readonly asn: Certificate;
  readonly #extensions: ReadonlyMap<string, Extension>;

  private constructor(der: Buffer, x509: X509Certificate, asn: Certificate) {
    this.der = der;
    this.x509 = x509;
    this.asn = asn;
    const extensions = new Map<string, Extension>();
    for (const ext of asn.tbsCertificate.extensions ?? []) {
      if (extensions.has(ext.extnID)) {
        throw new CertificateParseError(`extension ${ext.extnID} appears twice (RFC 5280, 4.2)`);
      }
      extensions.set(ext.extnID, ext);
    }
    this.#extensions = extensions;
  }

  static parse(der: Uint8Array): ParsedCertificate {
    const bytes = Buffer.from(der);
    let x509: X509Certificate;
    let asn: Certificate;
    try {
      x509 = new X509Certificate(bytes);
      asn = AsnConvert.parse(bytes, Certificate);
    } catch (err) {
      throw new CertificateParseError(`not a DER X.509 certificate: ${(err as Error).message}`, {
        cause: err,
      });
    }
    return new ParsedCertificate(bytes, x509, asn);
  }

  /** How error messages name this certificate: its subject, or its issuer and serial when the subject is empty. */
  get label(): string {
    const subject = oneLineDn(this.x509.subject);
    if (subject !== "") return `"${subject}"`;
    return `serial ${this.x509.serialNumber.toLowerCase()} of "${oneLineDn(this.x509.issuer)}"`;
  }

  /** Lowercase hex SHA-256 of the DER certificate (`openssl x509 -noout -fingerprint -sha256`, unpunctuated). */
  get sha256(): string {
    return createHash("sha256").update(this.der).digest("hex");
  }

  get notBefore(): Date {
    return this.asn.tbsCertificate.validity.notBefore.getTime();
  }

  get notAfter(): Date {
    return this.asn.tbsCertificate.validity.notAfter.getTime();
  }

  /** Self-issued and self-signed: a root. */
  get selfSigned(): boolean {
    return this.x509.checkIssued(this.x509) && this.x509.verify(this.x509.publicKey);
  }

  /** OIDs of the extensions marked critical. */
  get criticalExtensions(): string[] {
    return [...this.#extensions.values()].filter((e) => e.critical).map((e) => e.extnID);
  }

  get basicConstraints(): BasicConstraints | undefined {
    return this.#decode(id_ce_basicConstraints, BasicConstraints);
  }

  /** The KeyUsageFlags bits, when the certificate restricts its key's usage. */
  get keyUsage(): number | undefined {
    return this.#decode(id_ce_keyUsage, KeyUsage)?.toNumber();
  }

  get extendedKeyUsage(): readonly string[] | undefined {
    const eku = this.#decode(id_ce_extKeyUsage, ExtendedKeyUsage);
    return eku === undefined ? undefined : [...eku];
  }

  get subjectAltName(): SubjectAlternativeName | undefined {
    return this.#decode(id_ce_subjectAltName, SubjectAlternativeName);
  }

  #decode<T>(oid: string, type: new () => T): T | undefined {
    const ext = this.#extensions.get(oid);
    if (ext === undefined) return undefined;
    try {
      return AsnConvert.parse(ext.extnValue.buffer, type);
    } catch (err) {
      throw new CertificateParseError(`extension ${oid} cannot be parsed: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }
}

export { pemCertificates } from "../../../common/spiffe/bundle.js";

/**
 * "C=DE, O=Infineon, CN=..." from node:crypto's multi-line distinguished name; "" for an empty one,
 * which node:crypto reports as undefined (an EK certificate's subject usually is empty).
 */
export function oneLineDn(dn: string | undefined): string {
  return (dn ?? "").split("\n").filter(Boolean).join(", ");
}
