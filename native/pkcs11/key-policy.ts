import pkcs11js from "pkcs11js";
import { ecCurveOf, rsaBitsOf, type EcKeyType, type KeyType, type RsaKeyType } from "./key-spec.js";

/**
 * What a server key on the token is: the attributes every key pair is generated with and those a key
 * found on the token must have before it is used (fail closed). One table, so that what generateKey sets
 * and what a later load checks cannot drift apart.
 */
interface AttributeRule {
  readonly type: number;
  readonly name: string;
  readonly value: boolean;
  /** Set in the generation template; the others the token sets itself and a key is only checked for. */
  readonly generated: boolean;
  /** A token that does not know the attribute at all is fine (the capability is then absent). */
  readonly mayBeAbsent: boolean;
}

const rule = (
  type: number,
  name: string,
  value: boolean,
  how: { generated: boolean; mayBeAbsent?: boolean },
): AttributeRule => ({ type, name, value, generated: how.generated, mayBeAbsent: how.mayBeAbsent ?? false });

/**
 * The private half: on the token, behind the login, never readable or extractable, made on the token
 * (CKA_LOCAL: not imported) and good for signing only.
 */
export const PRIVATE_KEY_RULES: readonly AttributeRule[] = [
  rule(pkcs11js.CKA_TOKEN, "CKA_TOKEN", true, { generated: true }),
  rule(pkcs11js.CKA_PRIVATE, "CKA_PRIVATE", true, { generated: true }),
  rule(pkcs11js.CKA_SENSITIVE, "CKA_SENSITIVE", true, { generated: true }),
  rule(pkcs11js.CKA_ALWAYS_SENSITIVE, "CKA_ALWAYS_SENSITIVE", true, { generated: false }),
  rule(pkcs11js.CKA_EXTRACTABLE, "CKA_EXTRACTABLE", false, { generated: true }),
  rule(pkcs11js.CKA_NEVER_EXTRACTABLE, "CKA_NEVER_EXTRACTABLE", true, { generated: false }),
  rule(pkcs11js.CKA_LOCAL, "CKA_LOCAL", true, { generated: false }),
  rule(pkcs11js.CKA_SIGN, "CKA_SIGN", true, { generated: true }),
  rule(pkcs11js.CKA_DECRYPT, "CKA_DECRYPT", false, { generated: true, mayBeAbsent: true }),
  rule(pkcs11js.CKA_UNWRAP, "CKA_UNWRAP", false, { generated: true, mayBeAbsent: true }),
  rule(pkcs11js.CKA_DERIVE, "CKA_DERIVE", false, { generated: true, mayBeAbsent: true }),
];

/** The public half verifies and does nothing else. */
const PUBLIC_KEY_GENERATED: pkcs11js.Template = [
  { type: pkcs11js.CKA_VERIFY, value: true },
  { type: pkcs11js.CKA_ENCRYPT, value: false },
  { type: pkcs11js.CKA_WRAP, value: false },
];

interface Generation {
  readonly mechanism: pkcs11js.Mechanism;
  /** What the public half's template says about the key's curve or size. */
  readonly publicAttributes: pkcs11js.Template;
}

const ecGeneration = (type: EcKeyType): Generation => ({
  mechanism: { mechanism: pkcs11js.CKM_EC_KEY_PAIR_GEN },
  publicAttributes: [{ type: pkcs11js.CKA_EC_PARAMS, value: ecCurveOf(type).oidDer }],
});

const rsaGeneration = (type: RsaKeyType): Generation => ({
  mechanism: { mechanism: pkcs11js.CKM_RSA_PKCS_KEY_PAIR_GEN },
  publicAttributes: [
    { type: pkcs11js.CKA_MODULUS_BITS, value: rsaBitsOf(type) },
    { type: pkcs11js.CKA_PUBLIC_EXPONENT, value: Buffer.from([1, 0, 1]) },
  ],
});

const GENERATION: Readonly<Record<KeyType, Generation>> = {
  "ec-p256": ecGeneration("ec-p256"),
  "ec-p384": ecGeneration("ec-p384"),
  "rsa-2048": rsaGeneration("rsa-2048"),
  "rsa-3072": rsaGeneration("rsa-3072"),
};

export interface KeyPairGeneration {
  mechanism: pkcs11js.Mechanism;
  publicTemplate: pkcs11js.Template;
  privateTemplate: pkcs11js.Template;
}

/** The mechanism and both templates that generate a `type` key pair named `id`. */
export function keyPairGeneration(type: KeyType, id: string, label: string): KeyPairGeneration {
  const common: pkcs11js.Template = [
    { type: pkcs11js.CKA_TOKEN, value: true },
    { type: pkcs11js.CKA_ID, value: Buffer.from(id, "utf8") },
    { type: pkcs11js.CKA_LABEL, value: label },
  ];
  const { mechanism, publicAttributes } = GENERATION[type];
  const generated = PRIVATE_KEY_RULES.filter(
    (r) => r.generated && !common.some((attribute) => attribute.type === r.type),
  );
  return {
    mechanism,
    publicTemplate: [...common, ...PUBLIC_KEY_GENERATED, ...publicAttributes],
    privateTemplate: [...common, ...generated.map((r) => ({ type: r.type, value: r.value }))],
  };
}

/**
 * What is wrong with a private key by the rules, given its attribute values in PRIVATE_KEY_RULES order
 * (undefined: the object does not have the attribute); empty when the key may be used.
 */
export function privateKeyProblems(values: readonly (Buffer | undefined)[]): string[] {
  const problems: string[] = [];
  PRIVATE_KEY_RULES.forEach((r, i) => {
    const value = values[i];
    const flag = value === undefined || value.length === 0 ? undefined : value[0] !== 0;
    if (flag === undefined ? !r.mayBeAbsent : flag !== r.value) problems.push(`${r.name} is not ${r.value}`);
  });
  return problems;
}
