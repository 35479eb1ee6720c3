import { createHash, generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import { CURVES } from "../../common/crypto/curves.js";
import {
  TAG,
  bitString,
  explicit,
  extension,
  octetString,
  oid,
  seq,
  time,
  tlv,
  unsignedInteger,
} from "../../common/der/der.js";

/**
 * Hand-made certificates for EK chain tests: every field under the test's control (an empty
 * subject, a critical SAN with TPM attributes, extensions no library would write, validity in the
 * past), built with the tree's DER writer and signed with node:crypto.
 */

export interface CertKey {
  readonly publicKey: KeyObject;
  readonly privateKey: KeyObject;
}

export function newKey(kind: "ec" | "rsa" = "ec"): CertKey {
  return kind === "rsa"
    ? generateKeyPairSync("rsa", { modulusLength: 2048 })
    : generateKeyPairSync("ec", { namedCurve: CURVES["P-256"].nodeName });
}

/** A distinguished name: one RDN per entry, each holding one or more attributes; [] is the empty name. */
export type Dn = readonly (readonly (readonly [type: string, value: string])[])[];

export const cn = (value: string): Dn => [[["2.5.4.3", value]]];

function name(dn: Dn): Buffer {
  return seq(
    ...dn.map((rdn) =>
      tlv(TAG.set, ...rdn.map(([type, value]) => seq(oid(type), tlv(TAG.utf8String, Buffer.from(value))))),
    ),
  );
}

export interface CertSpec {
  readonly subject: Dn;
  readonly key: CertKey;
  /** The signer; a self-signed certificate when absent. */
  readonly issuer?: { readonly subject: Dn; readonly key: CertKey };
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly extensions: readonly Buffer[];
  readonly serial?: number;
}

const ECDSA_SHA256 = seq(oid("1.2.840.10045.4.3.2"));
const RSA_SHA256 = seq(oid("1.2.840.113549.1.1.11"), Buffer.from([TAG.null, 0]));

let nextSerial = 1;

/** The DER certificate `spec` describes. */
export function makeCert(spec: CertSpec): Buffer {
  const issuer = spec.issuer ?? { subject: spec.subject, key: spec.key };
  const algorithm = issuer.key.privateKey.asymmetricKeyType === "rsa" ? RSA_SHA256 : ECDSA_SHA256;
  const tbs = seq(
    explicit(0, unsignedInteger(Buffer.from([2]))),
    unsignedInteger(Buffer.from((spec.serial ?? nextSerial++).toString(16).padStart(8, "0"), "hex")),
    algorithm,
    name(issuer.subject),
    seq(time(spec.notBefore.getTime()), time(spec.notAfter.getTime())),
    name(spec.subject),
    spec.key.publicKey.export({ type: "spki", format: "der" }),
    ...(spec.extensions.length > 0 ? [explicit(3, seq(...spec.extensions))] : []),
  );
  return seq(tbs, algorithm, bitString(sign("sha256", tbs, issuer.key.privateKey)));
}

export function basicConstraints(ca: boolean, pathLen?: number, critical = true): Buffer {
  const fields: Buffer[] = ca ? [Buffer.from([TAG.boolean, 1, 0xff])] : [];
  if (pathLen !== undefined) fields.push(unsignedInteger(Buffer.from([pathLen])));
  return extension(oid("2.5.29.19"), critical, seq(...fields));
}

const KEY_USAGE_BITS = {
  digitalSignature: 0,
  keyEncipherment: 2,
  keyAgreement: 4,
  keyCertSign: 5,
  cRLSign: 6,
} as const;

/** keyUsage as a DER named-bit BIT STRING (trailing zero bits dropped). */
export function keyUsage(usages: readonly (keyof typeof KEY_USAGE_BITS)[], critical = true): Buffer {
  let bits = 0;
  for (const u of usages) bits |= 0x80 >> KEY_USAGE_BITS[u];
  let unused = 0;
  while (unused < 7 && (bits & (1 << unused)) === 0) unused++;
  return extension(oid("2.5.29.15"), critical, bitString(Buffer.from([bits]), unused));
}

export const TCG_KP_EK_CERTIFICATE = "2.23.133.8.1";

export function extendedKeyUsage(purposes: readonly string[], critical = false): Buffer {
  return extension(oid("2.5.29.37"), critical, seq(...purposes.map((p) => oid(p))));
}

/** The EK profile's subjectAltName: a directoryName with TPM manufacturer, model and version in one RDN. */
export function tpmSubjectAltName(
  tpm: { manufacturer: string; model: string; version: string },
  critical = true,
): Buffer {
  const dn = name([
    [
      ["2.23.133.2.1", tpm.manufacturer],
      ["2.23.133.2.2", tpm.model],
      ["2.23.133.2.3", tpm.version],
    ],
  ]);
  return extension(oid("2.5.29.17"), critical, seq(tlv(0xa4, dn)));
}

/** subjectDirectoryAttributes with tcg-at-tpmSpecification (family "2.0", level 0, revision 138). */
export function tpmSpecificationAttributes(critical: boolean): Buffer {
  const spec = seq(
    tlv(TAG.utf8String, Buffer.from("2.0")),
    unsignedInteger(Buffer.of(0)),
    unsignedInteger(Buffer.of(138)),
  );
  return extension(oid("2.5.29.9"), critical, seq(seq(oid("2.23.133.2.16"), tlv(TAG.set, spec))));
}

/** An extension nobody understands. */
export function unknownExtension(extnId: string, critical: boolean): Buffer {
  return extension(oid(extnId), critical, octetString(Buffer.from("hallmark-test")));
}

export function subjectKeyIdentifier(key: CertKey): Buffer {
  return extension(oid("2.5.29.14"), false, octetString(keyId(key)));
}

export function authorityKeyIdentifier(issuer: CertKey): Buffer {
  return extension(oid("2.5.29.35"), false, seq(tlv(0x80, keyId(issuer))));
}

function keyId(key: CertKey): Buffer {
  return createHash("sha1")
    .update(key.publicKey.export({ type: "spki", format: "der" }))
    .digest();
}
