import { X509Certificate, createHash, createPublicKey } from "node:crypto";
import type { KeyObject } from "node:crypto";
import { bytesEqual, fixedWidth } from "../bytes.js";
import { TPM_ECC_CURVE } from "../constants.js";
import { ekTemplateEccP256, ekTemplateEccP384High, ekTemplateRsa2048 } from "../ek-templates.js";
import { TpmFormatError } from "../marshal.js";
import { spkiFromTpmPublic, tpmCurveOfKey, tpmPublicUniqueFromKey } from "../crypto/public-key.js";
import type { TpmsEccPoint, TpmtPublic } from "../structures/public.js";
import { verifyEkCertificateChain, type VerifiedEkChain } from "./ek-chain.js";
import type { EkTrust } from "./ek-trust.js";
import { TpmVerificationError } from "./errors.js";
import { parsePublicField } from "./evidence-fields.js";

/** What the agent sends about its EK: TPM wire bytes and DER certificates. */
export interface EkEvidence {
  /** TPMT_PUBLIC of the EK, as the TPM reports it. */
  readonly ekPublic: Uint8Array;
  /** The DER EK certificate from the TPM's NV index; absent for a TPM shipped without one. */
  readonly ekCertificate?: Uint8Array;
  /** DER intermediates the agent holds for its EK certificate (untrusted: they only help build the chain). */
  readonly ekIntermediates?: readonly Uint8Array[];
}

export interface VerifiedEk {
  readonly ekPublic: TpmtPublic;
  /** The TPM's identity: see ekHash. */
  readonly ekHash: string;
  /** The verified chain to a configured manufacturer root; null without a certificate or configured CAs. */
  readonly chain: VerifiedEkChain | null;
}

/**
 * Names the TPM by its EK and, when the agent sent an EK certificate, checks that the certificate is
 * for exactly this EK and, if manufacturer CAs are configured (`trust`), that it chains to one.
 * Whether an EK without a verified chain may attest (an EK hash allow-list) is the caller's policy.
 */
export function verifyEk(evidence: EkEvidence, options: { trust: EkTrust | null; now: Date }): VerifiedEk {
  const ekPublic = parsePublicField("ekPublic", evidence.ekPublic);
  const hash = ekHash(ekPublic);
  const certificate = evidence.ekCertificate;
  if (certificate === undefined) return { ekPublic, ekHash: hash, chain: null };
  checkEkCertificateMatches(certificate, ekPublic);
  const chain =
    options.trust === null
      ? null
      : verifyEkCertificateChain(certificate, options.trust, {
          intermediates: evidence.ekIntermediates ?? [],
          now: options.now,
        });
  return { ekPublic, ekHash: hash, chain };
}

/** DER SubjectPublicKeyInfo of an EK: the form the EK certificate carries and ekHash is over. */
export function ekSpki(ekPublic: TpmtPublic): Buffer {
  try {
    return spkiFromTpmPublic(ekPublic);
  } catch (err) {
    if (!(err instanceof TpmFormatError)) throw err;
    throw new TpmVerificationError("EK_KEY_UNSUPPORTED", `EK public key is unusable: ${err.message}`, {
      cause: err,
    });
  }
}

/**
 * Lowercase hex SHA-256 of the EK's DER SubjectPublicKeyInfo: the stable identity of a TPM (the
 * agent's SPIFFE ID path ends in it). Equal to
 * `openssl x509 -in ek.pem -pubkey -noout | openssl pkey -pubin -outform der | sha256sum`.
 */
export function ekHash(ekPublic: TpmtPublic): string {
  return createHash("sha256").update(ekSpki(ekPublic)).digest("hex");
}

/**
 * The EK TPMT_PUBLIC for a public key from an EK certificate, using the TCG EK Credential Profile
 * template its type implies (RSA 2048 → L-1, ECC P-256 → L-2, ECC P-384 → H-3). Enough for
 * MakeCredential and ekHash, which use only the key, nameAlg and symmetric; the Name matches the
 * TPM's only when the TPM used that same template.
 */
export function ekPublicFromSpki(spki: Uint8Array | KeyObject): TpmtPublic {
  let key: KeyObject;
  try {
    key =
      spki instanceof Uint8Array
        ? createPublicKey({ key: Buffer.from(spki), format: "der", type: "spki" })
        : spki;
  } catch (err) {
    throw new TpmVerificationError("EK_KEY_UNSUPPORTED", "not a DER SubjectPublicKeyInfo", { cause: err });
  }
  if (key.asymmetricKeyType === "rsa") {
    const bits = key.asymmetricKeyDetails?.modulusLength;
    const exponent = key.asymmetricKeyDetails?.publicExponent;
    if (bits !== 2048 || exponent !== 65537n) {
      throw new TpmVerificationError(
        "EK_KEY_UNSUPPORTED",
        `no EK template for an RSA-${bits} key with exponent ${exponent}`,
      );
    }
    return { ...ekTemplateRsa2048(), unique: keyUnique(key) as Buffer };
  }
  if (key.asymmetricKeyType === "ec") {
    // The curve first: node:crypto cannot export a key on other curves (brainpool, P-224) as JWK.
    const curve = tpmCurveOfKey(key);
    if (curve === TPM_ECC_CURVE.NIST_P256) return { ...ekTemplateEccP256(), unique: eccUnique(key) };
    if (curve === TPM_ECC_CURVE.NIST_P384) return { ...ekTemplateEccP384High(), unique: eccUnique(key) };
    throw new TpmVerificationError(
      "EK_KEY_UNSUPPORTED",
      `no EK template for an EC key on curve ${key.asymmetricKeyDetails?.namedCurve ?? "unknown"}`,
    );
  }
  throw new TpmVerificationError("EK_KEY_UNSUPPORTED", `no EK template for a ${key.asymmetricKeyType} key`);
}

/** A certificate key's TPM `unique`; a key node:crypto cannot export is unsupported, never a crash. */
function keyUnique(key: KeyObject): Buffer | TpmsEccPoint {
  try {
    return tpmPublicUniqueFromKey(key);
  } catch (err) {
    throw new TpmVerificationError("EK_KEY_UNSUPPORTED", "the EK certificate's key cannot be read", {
      cause: err,
    });
  }
}

function eccUnique(key: KeyObject): TpmsEccPoint {
  return keyUnique(key) as TpmsEccPoint;
}

/** The public key of an EK certificate (DER or PEM). */
export function ekCertificatePublicKey(certificate: Uint8Array | string): KeyObject {
  try {
    return new X509Certificate(typeof certificate === "string" ? certificate : Buffer.from(certificate))
      .publicKey;
  } catch (err) {
    throw new TpmVerificationError("EK_CERTIFICATE_INVALID", "the EK certificate cannot be parsed", {
      cause: err,
    });
  }
}

/**
 * Checks that an EK certificate certifies exactly the EK the TPM presented: same key type, same
 * modulus and exponent, or same curve and point. Comparing key material (not SPKI bytes) keeps
 * certificates that encode RSA keys with parameters alike.
 */
export function checkEkCertificateMatches(certificate: Uint8Array | string, ekPublic: TpmtPublic): void {
  const certKey = ekCertificatePublicKey(certificate);
  const mismatch = (why: string): TpmVerificationError =>
    new TpmVerificationError("EK_CERTIFICATE_KEY_MISMATCH", `the EK certificate is for another key: ${why}`);
  if (ekPublic.type === "rsa") {
    if (certKey.asymmetricKeyType !== "rsa")
      throw mismatch(`certificate key is ${certKey.asymmetricKeyType}`);
    const exponent = BigInt(ekPublic.parameters.exponent === 0 ? 65537 : ekPublic.parameters.exponent);
    if (certKey.asymmetricKeyDetails?.publicExponent !== exponent) throw mismatch("RSA exponent differs");
    if (!bytesEqual(keyUnique(certKey) as Buffer, ekPublic.unique)) throw mismatch("RSA modulus differs");
    return;
  }
  if (ekPublic.type === "ecc") {
    if (certKey.asymmetricKeyType !== "ec") throw mismatch(`certificate key is ${certKey.asymmetricKeyType}`);
    if (tpmCurveOfKey(certKey) !== ekPublic.parameters.curveId) throw mismatch("curve differs");
    const point = eccUnique(certKey);
    // TPM coordinates may drop leading zeros (or carry extra ones); the JWK form is exactly the curve size.
    const x = fixedWidth(ekPublic.unique.x, point.x.length);
    const y = fixedWidth(ekPublic.unique.y, point.y.length);
    if (x === undefined || y === undefined || !bytesEqual(point.x, x) || !bytesEqual(point.y, y)) {
      throw mismatch("EC point differs");
    }
    return;
  }
  throw new TpmVerificationError("EK_KEY_UNSUPPORTED", `a ${ekPublic.type} object is not an EK`);
}
