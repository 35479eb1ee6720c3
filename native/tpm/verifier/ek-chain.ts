import { KeyUsageFlags } from "@peculiar/asn1-x509";
import { CertificateParseError, ParsedCertificate, oneLineDn } from "./certificate.js";
import type { EkTrust } from "./ek-trust.js";
import { TpmVerificationError, type TpmVerificationCode } from "./errors.js";

/**
 * EK certificate chain verification, by hand: OpenSSL's chain builder (and Go's, and most others)
 * refuses what the TCG EK Credential Profile prescribes, above all an EK certificate whose subject
 * is empty and whose subjectAltName, a directoryName holding the TPM's manufacturer, model and
 * firmware version, is therefore critical (RFC 5280, 4.2.1.6). So the path is built and checked
 * here: every certificate within its validity, every signature, every issuer a CA allowed to sign
 * certificates at that depth, no critical extension that is not understood, and the last issuer a
 * root the operator configured.
 */

/** TCG OIDs (TCG EK Credential Profile, "Object Identifiers"). */
const TCG = {
  /** tcg-kp-EKCertificate: the extended key usage of an EK certificate. */
  kpEkCertificate: "2.23.133.8.1",
  /** tcg-at-tpmManufacturer, tcg-at-tpmModel, tcg-at-tpmVersion: the subjectAltName directoryName attributes. */
  tpmManufacturer: "2.23.133.2.1",
  tpmModel: "2.23.133.2.2",
  tpmVersion: "2.23.133.2.3",
} as const;

/**
 * Extensions a certificate on an EK chain may mark critical: the ones this verifier processes
 * (basicConstraints, keyUsage, extendedKeyUsage, subjectAltName) and the ones the EK profile defines
 * that constrain nothing a verifier must enforce (subjectDirectoryAttributes with the TPM
 * specification, certificatePolicies, key identifiers, AIA, CRL distribution points). Any other
 * critical extension (nameConstraints, policyConstraints, a vendor's own) is refused: RFC 5280, 4.2.
 */
const UNDERSTOOD_EXTENSIONS: ReadonlyMap<string, string> = new Map([
  ["2.5.29.19", "basicConstraints"],
  ["2.5.29.15", "keyUsage"],
  ["2.5.29.37", "extendedKeyUsage"],
  ["2.5.29.17", "subjectAltName"],
  ["2.5.29.9", "subjectDirectoryAttributes"],
  ["2.5.29.32", "certificatePolicies"],
  ["2.5.29.35", "authorityKeyIdentifier"],
  ["2.5.29.14", "subjectKeyIdentifier"],
  ["1.3.6.1.5.5.7.1.1", "authorityInfoAccess"],
  ["2.5.29.31", "cRLDistributionPoints"],
]);

/** EK certificate, intermediates, root: manufacturers use two or three levels. */
const MAX_CHAIN_LENGTH = 6;

/** The TPM a certificate's subjectAltName names (TCG EK Credential Profile, "Subject Alternative Name"). */
export interface TpmDeviceAttributes {
  /** TPMManufacturer, e.g. "id:49465800" (the TCG vendor ID, hex). */
  readonly manufacturer?: string;
  /** TPMModel: the manufacturer's part number. */
  readonly model?: string;
  /** TPMVersion, e.g. "id:00070002" (firmware version). */
  readonly version?: string;
}

export interface VerifiedEkChain {
  /** The chain as DER, from the EK certificate to the configured root. */
  readonly path: readonly Buffer[];
  /** SHA-256 (hex) of the CA certificate that issued the EK certificate: the `tpm:ek_ca:<hex>` selector. */
  readonly issuingCaSha256: string;
  /** SHA-256 (hex) of the configured root the chain ends at. */
  readonly rootSha256: string;
  /** What the EK certificate's subjectAltName says about the TPM; null when it names nothing. */
  readonly tpm: TpmDeviceAttributes | null;
}

export interface EkChainOptions {
  /** Intermediates the agent sent along (untrusted: only a path to a configured root counts). */
  readonly intermediates?: readonly Uint8Array[];
  readonly now: Date;
}

/**
 * Verifies that `ekCertificate` (DER) is an EK certificate of the TCG profile issued, through
 * configured or agent-supplied intermediates, by one of the configured TPM manufacturer roots.
 */
export function verifyEkCertificateChain(
  ekCertificate: Uint8Array,
  trust: EkTrust,
  options: EkChainOptions,
): VerifiedEkChain {
  const leaf = parse(ekCertificate, "the EK certificate");
  const tpm = checkEkProfile(leaf);
  checkCertificate(leaf, options.now);
  const offered = (options.intermediates ?? []).map((der, i) => parse(der, `intermediate ${i}`));
  const pool = [...trust.roots, ...trust.intermediates, ...offered];
  const path = buildPath([leaf], pool, trust, options.now);
  const [, issuer] = path;
  const root = path[path.length - 1];
  if (issuer === undefined || root === undefined) throw new Error("a verified chain has an issuer");
  return { path: path.map((c) => c.der), issuingCaSha256: issuer.sha256, rootSha256: root.sha256, tpm };
}

function parse(der: Uint8Array, what: string): ParsedCertificate {
  try {
    return ParsedCertificate.parse(der);
  } catch (err) {
    if (!(err instanceof CertificateParseError)) throw err;
    throw new TpmVerificationError("EK_CERTIFICATE_INVALID", `${what} cannot be parsed: ${err.message}`, {
      cause: err,
    });
  }
}

function fail(code: TpmVerificationCode, message: string, field?: string): never {
  throw new TpmVerificationError(code, message, { field });
}

/**
 * Tries each certificate in `pool` that names the last certificate's issuer, depth first; returns
 * the first path that ends at a configured root. When none does, the first failure found explains
 * why (a signature, an expired CA, ...); with no candidate issuer at all, the chain is untrusted.
 */
function buildPath(
  path: readonly ParsedCertificate[],
  pool: readonly ParsedCertificate[],
  trust: EkTrust,
  now: Date,
): ParsedCertificate[] {
  const child = path[path.length - 1]!;
  const candidates = pool.filter(
    (c) =>
      !path.some((p) => p.der.equals(c.der)) &&
      ((c.x509.subject !== undefined && child.x509.issuer === c.x509.subject) ||
        child.x509.checkIssued(c.x509)),
  );
  let firstFailure: TpmVerificationError | undefined;
  for (const issuer of candidates) {
    try {
      checkIssuer(child, issuer, path.length - 1, now);
      const extended = [...path, issuer];
      if (trust.isRoot(issuer)) return extended;
      if (extended.length >= MAX_CHAIN_LENGTH) {
        fail("EK_CHAIN_PATH_TOO_LONG", `no configured root within ${MAX_CHAIN_LENGTH} certificates`);
      }
      return buildPath(extended, pool, trust, now);
    } catch (err) {
      if (!(err instanceof TpmVerificationError)) throw err;
      firstFailure ??= err;
    }
  }
  if (firstFailure !== undefined) throw firstFailure;
  return fail(
    "EK_CHAIN_UNTRUSTED",
    `${child.label} was issued by "${oneLineDn(child.x509.issuer)}", which is not a configured TPM manufacturer CA ` +
      "and chains to none",
  );
}

/** `issuer` signed `child`, may sign certificates `intermediatesBelow` CAs deep, and is itself in order. */
function checkIssuer(
  child: ParsedCertificate,
  issuer: ParsedCertificate,
  intermediatesBelow: number,
  now: Date,
): void {
  if (!child.x509.verify(issuer.x509.publicKey)) {
    fail("EK_CHAIN_SIGNATURE_INVALID", `the signature on ${child.label} is not by ${issuer.label}`);
  }
  const constraints = readExtension(issuer, () => issuer.basicConstraints);
  if (constraints?.cA !== true) {
    fail("EK_CHAIN_ISSUER_NOT_CA", `${issuer.label} signed ${child.label} but is not a CA certificate`);
  }
  const usage = readExtension(issuer, () => issuer.keyUsage);
  if (usage !== undefined && (usage & KeyUsageFlags.keyCertSign) === 0) {
    fail("EK_CHAIN_ISSUER_NOT_CA", `${issuer.label} is a CA whose key usage excludes keyCertSign`);
  }
  if (constraints.pathLenConstraint !== undefined && intermediatesBelow > constraints.pathLenConstraint) {
    fail(
      "EK_CHAIN_PATH_TOO_LONG",
      `${issuer.label} allows ${constraints.pathLenConstraint} CA(s) below it, the chain has ${intermediatesBelow}`,
    );
  }
  checkCertificate(issuer, now);
}

/** What every certificate on the chain must satisfy: its validity period, and no critical extension unknown to us. */
function checkCertificate(cert: ParsedCertificate, now: Date): void {
  if (now < cert.notBefore) {
    fail("EK_CHAIN_NOT_YET_VALID", `${cert.label} is not valid before ${cert.notBefore.toISOString()}`);
  }
  if (now > cert.notAfter) {
    fail("EK_CHAIN_EXPIRED", `${cert.label} expired at ${cert.notAfter.toISOString()}`);
  }
  for (const oid of cert.criticalExtensions) {
    if (!UNDERSTOOD_EXTENSIONS.has(oid)) {
      fail(
        "EK_CHAIN_CRITICAL_EXTENSION",
        `${cert.label} has critical extension ${oid}, which is not understood`,
        oid,
      );
    }
  }
}

/**
 * The EK certificate's own profile: an end-entity certificate (not a CA, no certificate signing),
 * for EK use when it says what for (tcg-kp-EKCertificate), and the TPM it names in its SAN.
 */
function checkEkProfile(ek: ParsedCertificate): TpmDeviceAttributes | null {
  if (readExtension(ek, () => ek.basicConstraints)?.cA === true) {
    fail("EK_CERTIFICATE_PROFILE_INVALID", "the EK certificate is a CA certificate", "basicConstraints");
  }
  const usage = readExtension(ek, () => ek.keyUsage);
  if (usage !== undefined && (usage & (KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign)) !== 0) {
    fail("EK_CERTIFICATE_PROFILE_INVALID", "the EK certificate's key may sign certificates", "keyUsage");
  }
  const purposes = readExtension(ek, () => ek.extendedKeyUsage);
  if (purposes !== undefined && !purposes.includes(TCG.kpEkCertificate)) {
    fail(
      "EK_CERTIFICATE_PROFILE_INVALID",
      `the EK certificate's extended key usage (${purposes.join(", ")}) lacks tcg-kp-EKCertificate`,
      "extendedKeyUsage",
    );
  }
  return tpmAttributes(ek);
}

const ATTRIBUTE_NAMES: ReadonlyMap<string, keyof TpmDeviceAttributes> = new Map([
  [TCG.tpmManufacturer, "manufacturer"],
  [TCG.tpmModel, "model"],
  [TCG.tpmVersion, "version"],
]);

/** A value fit for a selector and a log line. */
const ATTRIBUTE_VALUE = /^[\x20-\x7e]{1,128}$/;

function tpmAttributes(ek: ParsedCertificate): TpmDeviceAttributes | null {
  const found: Partial<Record<keyof TpmDeviceAttributes, string>> = {};
  for (const name of readExtension(ek, () => ek.subjectAltName) ?? []) {
    for (const rdn of name.directoryName ?? []) {
      for (const { type, value } of rdn) {
        const key = ATTRIBUTE_NAMES.get(type);
        if (key === undefined) continue;
        const text = value.toString();
        if (found[key] !== undefined || !ATTRIBUTE_VALUE.test(text)) {
          fail(
            "EK_CERTIFICATE_PROFILE_INVALID",
            `the EK certificate's subjectAltName has ${found[key] !== undefined ? "a second" : "an unreadable"} TPM ${key}`,
            "subjectAltName",
          );
        }
        found[key] = text;
      }
    }
  }
  return Object.keys(found).length === 0 ? null : found;
}

function readExtension<T>(cert: ParsedCertificate, read: () => T): T {
  try {
    return read();
  } catch (err) {
    if (!(err instanceof CertificateParseError)) throw err;
    throw new TpmVerificationError("EK_CERTIFICATE_INVALID", `${cert.label}: ${err.message}`, { cause: err });
  }
}
