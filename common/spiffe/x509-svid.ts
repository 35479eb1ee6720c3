import { AsnConvert } from "@peculiar/asn1-schema";
import {
  BasicConstraints,
  Certificate,
  KeyUsage,
  KeyUsageFlags,
  SubjectAlternativeName,
  id_ce_basicConstraints,
  id_ce_keyUsage,
  id_ce_subjectAltName,
  type Extension,
} from "@peculiar/asn1-x509";
import { InvalidX509SvidError } from "./errors.js";
import { SpiffeId } from "./spiffe-id.js";

export interface X509SvidInfo {
  spiffeId: SpiffeId;
  certificate: Certificate;
}

/**
 * Checks a leaf certificate against the SPIFFE X509-SVID specification: exactly one URI SAN holding a
 * SPIFFE ID with a path, CA false, a critical key usage with digitalSignature and without keyCertSign or
 * cRLSign. Chain and validity-period checks are the verifier's job; this is about what the certificate says.
 */
export function validateX509Svid(der: Uint8Array): X509SvidInfo {
  const certificate = parseCertificate(der);
  const spiffeId = singleSpiffeId(certificate);
  if (spiffeId === undefined) throw new InvalidX509SvidError("the certificate has no URI SAN");
  if (spiffeId.isRoot)
    throw new InvalidX509SvidError(
      `a leaf SVID's ID must have a path, not just the trust domain (${spiffeId.toString()})`,
    );
  if (isCa(certificate))
    throw new InvalidX509SvidError("a leaf SVID must not be a CA (basicConstraints cA is true)");
  const keyUsage = findExtension(certificate, id_ce_keyUsage);
  if (keyUsage === undefined) throw new InvalidX509SvidError("the key usage extension is missing");
  if (!keyUsage.critical) throw new InvalidX509SvidError("the key usage extension must be critical");
  const usages = decode(keyUsage, KeyUsage, "key usage").toNumber();
  if ((usages & KeyUsageFlags.digitalSignature) === 0)
    throw new InvalidX509SvidError("key usage lacks digitalSignature");
  if (usages & KeyUsageFlags.keyCertSign)
    throw new InvalidX509SvidError("a leaf SVID must not have keyCertSign");
  if (usages & KeyUsageFlags.cRLSign) throw new InvalidX509SvidError("a leaf SVID must not have cRLSign");
  return { spiffeId, certificate };
}

/**
 * Checks a certificate that signs X509-SVIDs: CA true, keyCertSign set, and if it carries a URI SAN, one
 * valid SPIFFE ID.
 */
export function validateX509SvidSigningCertificate(der: Uint8Array): Certificate {
  const certificate = parseCertificate(der);
  if (!isCa(certificate))
    throw new InvalidX509SvidError("a signing certificate must have basicConstraints cA true");
  const keyUsage = findExtension(certificate, id_ce_keyUsage);
  if (
    keyUsage === undefined ||
    (decode(keyUsage, KeyUsage, "key usage").toNumber() & KeyUsageFlags.keyCertSign) === 0
  ) {
    throw new InvalidX509SvidError("a signing certificate must have keyCertSign");
  }
  singleSpiffeId(certificate);
  return certificate;
}

function parseCertificate(der: Uint8Array): Certificate {
  try {
    return AsnConvert.parse(der, Certificate);
  } catch (err) {
    throw new InvalidX509SvidError("not a DER X.509 certificate", err);
  }
}

function findExtension(certificate: Certificate, extnID: string): Extension | undefined {
  const matches = (certificate.tbsCertificate.extensions ?? []).filter((e) => e.extnID === extnID);
  if (matches.length > 1)
    throw new InvalidX509SvidError(`the extension ${extnID} appears ${matches.length} times`);
  return matches[0];
}

function decode<T>(extension: Extension, type: new () => T, what: string): T {
  try {
    return AsnConvert.parse(extension.extnValue.buffer, type);
  } catch (err) {
    throw new InvalidX509SvidError(`the ${what} extension cannot be parsed`, err);
  }
}

/** The one SPIFFE ID in a certificate's URI SAN, if it has one (more than one is an error). */
export function certificateSpiffeId(certificate: Certificate): SpiffeId | undefined {
  return singleSpiffeId(certificate);
}

/** The basicConstraints extension, if present. */
export function certificateBasicConstraints(certificate: Certificate): BasicConstraints | undefined {
  const ext = findExtension(certificate, id_ce_basicConstraints);
  return ext === undefined ? undefined : decode(ext, BasicConstraints, "basic constraints");
}

function singleSpiffeId(certificate: Certificate): SpiffeId | undefined {
  const ext = findExtension(certificate, id_ce_subjectAltName);
  if (ext === undefined) return undefined;
  const uris = decode(ext, SubjectAlternativeName, "subject alternative name")
    .map((name) => name.uniformResourceIdentifier)
    .filter((uri): uri is string => uri !== undefined);
  if (uris.length > 1)
    throw new InvalidX509SvidError(`the certificate has ${uris.length} URI SANs; an SVID has exactly one`);
  const uri = uris[0];
  if (uri === undefined) return undefined;
  try {
    return SpiffeId.parse(uri);
  } catch (err) {
    throw new InvalidX509SvidError(`the URI SAN is not a valid SPIFFE ID: ${(err as Error).message}`, err);
  }
}

function isCa(certificate: Certificate): boolean {
  return certificateBasicConstraints(certificate)?.cA === true;
}
