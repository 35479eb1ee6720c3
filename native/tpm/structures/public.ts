import { createHash } from "node:crypto";
import type { TpmReader, TpmWriter } from "../marshal.js";
import { TpmFormatError } from "../marshal.js";
import { TPM_ALG, describeAlg, nodeHashName } from "../constants.js";
import type { TpmHashAlg } from "../constants.js";
import { readAlgOneOf, readHashAlg } from "./alg.js";
import { readTpm2b, writeTpm2b } from "./buffers.js";
import { marshalWith, unmarshalExact } from "./codec.js";
import { flagCodec } from "./flags.js";

// ---------------------------------------------------------------------------------------------
// TPMA_OBJECT (Part 2, 8.3)

const OBJECT_ATTRIBUTE_BITS = {
  fixedTPM: 1,
  stClear: 2,
  fixedParent: 4,
  sensitiveDataOrigin: 5,
  userWithAuth: 6,
  adminWithPolicy: 7,
  firmwareLimited: 8,
  svnLimited: 9,
  noDA: 10,
  encryptedDuplication: 11,
  restricted: 16,
  decrypt: 17,
  /** "sign" for asymmetric keys, "encrypt" for symmetric ones: one bit, two names in the spec. */
  signEncrypt: 18,
  x509sign: 19,
} as const;

export type ObjectAttributeName = keyof typeof OBJECT_ATTRIBUTE_BITS;
/** TPMA_OBJECT as named flags. */
export type ObjectAttributes = Readonly<Record<ObjectAttributeName, boolean>>;

const OBJECT_ATTRIBUTES = flagCodec("TPMA_OBJECT", OBJECT_ATTRIBUTE_BITS);

/** Builds TPMA_OBJECT from the flags that are set; every other flag is clear. */
export const objectAttributes = OBJECT_ATTRIBUTES.build;
export const objectAttributesToU32 = OBJECT_ATTRIBUTES.toInt;
/** Decodes TPMA_OBJECT; a reserved bit set is a format error (a TPM never returns one). */
export const objectAttributesFromU32 = OBJECT_ATTRIBUTES.fromInt;
/** Names of the set flags, in bit order: for logs and error messages. */
export const objectAttributeList = OBJECT_ATTRIBUTES.list;

// ---------------------------------------------------------------------------------------------
// TPMT_SYM_DEF_OBJECT / TPMT_SYM_DEF (Part 2, 11.1.6, 11.1.7)

const SYM_BLOCK_CIPHERS = [TPM_ALG.AES, TPM_ALG.SM4, TPM_ALG.CAMELLIA, TPM_ALG.TDES] as const;
const SYM_MODES = [TPM_ALG.CTR, TPM_ALG.OFB, TPM_ALG.CBC, TPM_ALG.CFB, TPM_ALG.ECB, TPM_ALG.NULL] as const;

export type SymBlockCipher = (typeof SYM_BLOCK_CIPHERS)[number];
export type SymMode = (typeof SYM_MODES)[number];

export type TpmtSymDefObject =
  | { readonly algorithm: typeof TPM_ALG.NULL }
  | { readonly algorithm: SymBlockCipher; readonly keyBits: number; readonly mode: SymMode };

/** TPMT_SYM_DEF also allows XOR, whose "key bits" member is a hash algorithm and which has no mode. */
export type TpmtSymDef =
  TpmtSymDefObject | { readonly algorithm: typeof TPM_ALG.XOR; readonly hashAlg: TpmHashAlg };

export const SYM_NULL: TpmtSymDefObject = { algorithm: TPM_ALG.NULL };
/** AES-128-CFB: the parameter-encryption / storage-key symmetric of the TCG default templates. */
export const SYM_AES_128_CFB: TpmtSymDefObject = { algorithm: TPM_ALG.AES, keyBits: 128, mode: TPM_ALG.CFB };

/** Reads TPMT_SYM_DEF_OBJECT (`allowNull` for the "+" form); `allowXor` reads TPMT_SYM_DEF instead. */
export function readSymDef(
  r: TpmReader,
  field: string,
  opts: { allowNull: boolean; allowXor: true },
): TpmtSymDef;
export function readSymDef(
  r: TpmReader,
  field: string,
  opts: { allowNull: boolean; allowXor?: false },
): TpmtSymDefObject;
export function readSymDef(
  r: TpmReader,
  field: string,
  opts: { allowNull: boolean; allowXor?: boolean },
): TpmtSymDef {
  const allowed: number[] = [...SYM_BLOCK_CIPHERS];
  if (opts.allowNull) allowed.push(TPM_ALG.NULL);
  if (opts.allowXor) allowed.push(TPM_ALG.XOR);
  const algorithm = readAlgOneOf(r, `${field}.algorithm`, allowed as (SymBlockCipher | 0x10 | 0x0a)[]);
  if (algorithm === TPM_ALG.NULL) return { algorithm };
  if (algorithm === TPM_ALG.XOR) return { algorithm, hashAlg: readHashAlg(r, `${field}.keyBits.xor`) };
  const keyBits = r.u16(`${field}.keyBits`);
  const mode = readAlgOneOf(r, `${field}.mode`, SYM_MODES);
  return { algorithm, keyBits, mode };
}

export function writeSymDef(w: TpmWriter, sym: TpmtSymDef): void {
  w.u16(sym.algorithm);
  if (sym.algorithm === TPM_ALG.NULL) return;
  if (sym.algorithm === TPM_ALG.XOR) {
    w.u16(sym.hashAlg);
    return;
  }
  w.u16(sym.keyBits).u16(sym.mode);
}

// ---------------------------------------------------------------------------------------------
// Asymmetric and KDF schemes (Part 2, 11.2)

/** Schemes whose details are a TPMS_SCHEME_HASH. */
export type HashScheme =
  | typeof TPM_ALG.RSASSA
  | typeof TPM_ALG.RSAPSS
  | typeof TPM_ALG.OAEP
  | typeof TPM_ALG.ECDSA
  | typeof TPM_ALG.ECDH
  | typeof TPM_ALG.SM2
  | typeof TPM_ALG.ECSCHNORR
  | typeof TPM_ALG.ECMQV;
const RSA_SCHEMES = [TPM_ALG.RSASSA, TPM_ALG.RSAPSS, TPM_ALG.RSAES, TPM_ALG.OAEP, TPM_ALG.NULL] as const;
const ECC_SCHEMES = [
  TPM_ALG.ECDSA,
  TPM_ALG.ECDH,
  TPM_ALG.ECDAA,
  TPM_ALG.SM2,
  TPM_ALG.ECSCHNORR,
  TPM_ALG.ECMQV,
  TPM_ALG.NULL,
] as const;
const KDF_SCHEMES = [
  TPM_ALG.MGF1,
  TPM_ALG.KDF1_SP800_56A,
  TPM_ALG.KDF2,
  TPM_ALG.KDF1_SP800_108,
  TPM_ALG.NULL,
] as const;

export type RsaSchemeAlg = (typeof RSA_SCHEMES)[number];
export type EccSchemeAlg = (typeof ECC_SCHEMES)[number];
export type KdfSchemeAlg = (typeof KDF_SCHEMES)[number];

/** TPMT_RSA_SCHEME / TPMT_ECC_SCHEME: NULL and RSAES carry no details, ECDAA a hash and a count. */
export type TpmtAsymScheme =
  | { readonly scheme: typeof TPM_ALG.NULL | typeof TPM_ALG.RSAES }
  | { readonly scheme: HashScheme; readonly hashAlg: TpmHashAlg }
  | { readonly scheme: typeof TPM_ALG.ECDAA; readonly hashAlg: TpmHashAlg; readonly count: number };

export type TpmtKdfScheme =
  | { readonly scheme: typeof TPM_ALG.NULL }
  | { readonly scheme: Exclude<KdfSchemeAlg, typeof TPM_ALG.NULL>; readonly hashAlg: TpmHashAlg };

export const SCHEME_NULL = { scheme: TPM_ALG.NULL } as const;

function readAsymScheme(r: TpmReader, field: string, allowed: readonly number[]): TpmtAsymScheme {
  const scheme = readAlgOneOf(r, `${field}.scheme`, allowed as (RsaSchemeAlg | EccSchemeAlg)[]);
  if (scheme === TPM_ALG.NULL || scheme === TPM_ALG.RSAES) return { scheme };
  const hashAlg = readHashAlg(r, `${field}.details.hashAlg`);
  if (scheme === TPM_ALG.ECDAA) return { scheme, hashAlg, count: r.u16(`${field}.details.count`) };
  return { scheme, hashAlg };
}

function writeAsymScheme(w: TpmWriter, s: TpmtAsymScheme): void {
  w.u16(s.scheme);
  if (!("hashAlg" in s)) return;
  w.u16(s.hashAlg);
  if ("count" in s) w.u16(s.count);
}

export function readKdfScheme(r: TpmReader, field: string): TpmtKdfScheme {
  const scheme = readAlgOneOf(r, `${field}.scheme`, KDF_SCHEMES);
  if (scheme === TPM_ALG.NULL) return { scheme };
  return { scheme, hashAlg: readHashAlg(r, `${field}.details.hashAlg`) };
}

export function writeKdfScheme(w: TpmWriter, s: TpmtKdfScheme): void {
  w.u16(s.scheme);
  if (s.scheme !== TPM_ALG.NULL) w.u16(s.hashAlg);
}

/** TPMT_KEYEDHASH_SCHEME: HMAC (a hash), XOR (a hash and a KDF) or NULL. */
export type TpmtKeyedHashScheme =
  | { readonly scheme: typeof TPM_ALG.NULL }
  | { readonly scheme: typeof TPM_ALG.HMAC; readonly hashAlg: TpmHashAlg }
  | {
      readonly scheme: typeof TPM_ALG.XOR;
      readonly hashAlg: TpmHashAlg;
      readonly kdf: Exclude<KdfSchemeAlg, typeof TPM_ALG.NULL>;
    };

function readKeyedHashScheme(r: TpmReader, field: string): TpmtKeyedHashScheme {
  const scheme = readAlgOneOf(r, `${field}.scheme`, [TPM_ALG.HMAC, TPM_ALG.XOR, TPM_ALG.NULL]);
  if (scheme === TPM_ALG.NULL) return { scheme };
  const hashAlg = readHashAlg(r, `${field}.details.hashAlg`);
  if (scheme === TPM_ALG.HMAC) return { scheme, hashAlg };
  const kdf = readAlgOneOf(r, `${field}.details.kdf`, [
    TPM_ALG.MGF1,
    TPM_ALG.KDF1_SP800_56A,
    TPM_ALG.KDF2,
    TPM_ALG.KDF1_SP800_108,
  ]);
  return { scheme, hashAlg, kdf };
}

function writeKeyedHashScheme(w: TpmWriter, s: TpmtKeyedHashScheme): void {
  w.u16(s.scheme);
  if (s.scheme === TPM_ALG.NULL) return;
  w.u16(s.hashAlg);
  if (s.scheme === TPM_ALG.XOR) w.u16(s.kdf);
}

// ---------------------------------------------------------------------------------------------
// TPMT_PUBLIC (Part 2, 12.2.4)

export interface TpmsRsaParms {
  readonly symmetric: TpmtSymDefObject;
  readonly scheme: TpmtAsymScheme;
  readonly keyBits: number;
  /** 0 means the default exponent 65537 (and is what a TPM reports for it). */
  readonly exponent: number;
}

export interface TpmsEccParms {
  readonly symmetric: TpmtSymDefObject;
  readonly scheme: TpmtAsymScheme;
  readonly curveId: number;
  readonly kdf: TpmtKdfScheme;
}

export interface TpmsEccPoint {
  readonly x: Buffer;
  readonly y: Buffer;
}

interface TpmtPublicCommon {
  /** TPMI_ALG_HASH+: NULL only for objects without a Name (e.g. loaded with LoadExternal). */
  readonly nameAlg: TpmHashAlg | typeof TPM_ALG.NULL;
  readonly objectAttributes: ObjectAttributes;
  readonly authPolicy: Buffer;
}

export interface TpmtPublicRsa extends TpmtPublicCommon {
  readonly type: "rsa";
  readonly parameters: TpmsRsaParms;
  /** TPM2B_PUBLIC_KEY_RSA: the modulus, big-endian (empty in a template). */
  readonly unique: Buffer;
}

export interface TpmtPublicEcc extends TpmtPublicCommon {
  readonly type: "ecc";
  readonly parameters: TpmsEccParms;
  readonly unique: TpmsEccPoint;
}

export interface TpmtPublicKeyedHash extends TpmtPublicCommon {
  readonly type: "keyedhash";
  readonly parameters: { readonly scheme: TpmtKeyedHashScheme };
  readonly unique: Buffer;
}

export interface TpmtPublicSymCipher extends TpmtPublicCommon {
  readonly type: "symcipher";
  readonly parameters: { readonly symmetric: TpmtSymDefObject };
  readonly unique: Buffer;
}

export type TpmtPublic = TpmtPublicRsa | TpmtPublicEcc | TpmtPublicKeyedHash | TpmtPublicSymCipher;
export type TpmObjectType = TpmtPublic["type"];

const TYPE_ALG = {
  rsa: TPM_ALG.RSA,
  ecc: TPM_ALG.ECC,
  keyedhash: TPM_ALG.KEYEDHASH,
  symcipher: TPM_ALG.SYMCIPHER,
} as const satisfies Record<TpmObjectType, number>;

export function readTpmtPublic(r: TpmReader, field = "TPMT_PUBLIC"): TpmtPublic {
  const typeAlg = readAlgOneOf(r, `${field}.type`, Object.values(TYPE_ALG));
  const nameAlg = readHashAlg(r, `${field}.nameAlg`, { allowNull: true });
  const objectAttributes = objectAttributesFromU32(
    r.u32(`${field}.objectAttributes`),
    `${field}.objectAttributes`,
  );
  const authPolicy = readTpm2b(r, "DIGEST", `${field}.authPolicy`);
  const common = { nameAlg, objectAttributes, authPolicy };
  const p = `${field}.parameters`;
  const u = `${field}.unique`;
  switch (typeAlg) {
    case TPM_ALG.RSA: {
      const parameters: TpmsRsaParms = {
        symmetric: readSymDef(r, `${p}.symmetric`, { allowNull: true }),
        scheme: readAsymScheme(r, `${p}.scheme`, RSA_SCHEMES),
        keyBits: r.u16(`${p}.keyBits`),
        exponent: r.u32(`${p}.exponent`),
      };
      return { type: "rsa", ...common, parameters, unique: readTpm2b(r, "PUBLIC_KEY_RSA", `${u}.rsa`) };
    }
    case TPM_ALG.ECC: {
      const parameters: TpmsEccParms = {
        symmetric: readSymDef(r, `${p}.symmetric`, { allowNull: true }),
        scheme: readAsymScheme(r, `${p}.scheme`, ECC_SCHEMES),
        curveId: r.u16(`${p}.curveID`),
        kdf: readKdfScheme(r, `${p}.kdf`),
      };
      const x = readTpm2b(r, "ECC_PARAMETER", `${u}.ecc.x`);
      const y = readTpm2b(r, "ECC_PARAMETER", `${u}.ecc.y`);
      return { type: "ecc", ...common, parameters, unique: { x, y } };
    }
    case TPM_ALG.KEYEDHASH: {
      const scheme = readKeyedHashScheme(r, `${p}.scheme`);
      return {
        type: "keyedhash",
        ...common,
        parameters: { scheme },
        unique: readTpm2b(r, "DIGEST", `${u}.keyedHash`),
      };
    }
    case TPM_ALG.SYMCIPHER: {
      const symmetric = readSymDef(r, `${p}.sym`, { allowNull: false });
      return {
        type: "symcipher",
        ...common,
        parameters: { symmetric },
        unique: readTpm2b(r, "DIGEST", `${u}.sym`),
      };
    }
  }
  // readAlgOneOf admits only the four types above.
  throw new TpmFormatError(`${field}.type`, `${describeAlg(typeAlg)} is not an object type`);
}

export function writeTpmtPublic(w: TpmWriter, pub: TpmtPublic, field = "TPMT_PUBLIC"): void {
  w.u16(TYPE_ALG[pub.type]).u16(pub.nameAlg).u32(objectAttributesToU32(pub.objectAttributes));
  writeTpm2b(w, "DIGEST", pub.authPolicy, `${field}.authPolicy`);
  switch (pub.type) {
    case "rsa":
      writeSymDef(w, pub.parameters.symmetric);
      writeAsymScheme(w, pub.parameters.scheme);
      w.u16(pub.parameters.keyBits).u32(pub.parameters.exponent);
      writeTpm2b(w, "PUBLIC_KEY_RSA", pub.unique, `${field}.unique.rsa`);
      return;
    case "ecc":
      writeSymDef(w, pub.parameters.symmetric);
      writeAsymScheme(w, pub.parameters.scheme);
      w.u16(pub.parameters.curveId);
      writeKdfScheme(w, pub.parameters.kdf);
      writeTpm2b(w, "ECC_PARAMETER", pub.unique.x, `${field}.unique.ecc.x`);
      writeTpm2b(w, "ECC_PARAMETER", pub.unique.y, `${field}.unique.ecc.y`);
      return;
    case "keyedhash":
      writeKeyedHashScheme(w, pub.parameters.scheme);
      writeTpm2b(w, "DIGEST", pub.unique, `${field}.unique.keyedHash`);
      return;
    case "symcipher":
      writeSymDef(w, pub.parameters.symmetric);
      writeTpm2b(w, "DIGEST", pub.unique, `${field}.unique.sym`);
      return;
  }
}

/** Parses a complete TPMT_PUBLIC; trailing bytes are an error. */
export function unmarshalTpmtPublic(buf: Uint8Array): TpmtPublic {
  return unmarshalExact(buf, "TPMT_PUBLIC", (r) => readTpmtPublic(r));
}

/**
 * The canonical marshalling. The encoding has no optional or redundant bytes, so for anything
 * `unmarshalTpmtPublic` accepted this returns exactly the input bytes — the bytes a Name is over.
 */
export function marshalTpmtPublic(pub: TpmtPublic): Buffer {
  return marshalWith(pub, (w, v) => writeTpmtPublic(w, v));
}

/** TPM2B_PUBLIC: the TPMT_PUBLIC inside a UINT16 size (never empty when read). */
export function readTpm2bPublic(r: TpmReader, field = "TPM2B_PUBLIC"): TpmtPublic {
  return r.sizedStruct(field, (inner) => readTpmtPublic(inner, `${field}.publicArea`)) as TpmtPublic;
}

/**
 * A TPM2B_PUBLIC from a response, with the exact TPMT_PUBLIC bytes inside it (what the TPM hashed
 * for the object's Name), so a caller can check a reported Name against them.
 */
export function readTpm2bPublicWithBytes(
  r: TpmReader,
  field = "TPM2B_PUBLIC",
): { public: TpmtPublic; publicArea: Buffer } {
  const publicArea = r.sized(field);
  if (publicArea.length === 0) throw new TpmFormatError(field, "is empty");
  return {
    public: unmarshalExact(publicArea, `${field}.publicArea`, (inner) =>
      readTpmtPublic(inner, `${field}.publicArea`),
    ),
    publicArea,
  };
}

export function writeTpm2bPublic(w: TpmWriter, pub: TpmtPublic): void {
  w.sizedStruct((inner) => writeTpmtPublic(inner, pub));
}

export function unmarshalTpm2bPublic(buf: Uint8Array): TpmtPublic {
  return unmarshalExact(buf, "TPM2B_PUBLIC", (r) => readTpm2bPublic(r));
}

export function marshalTpm2bPublic(pub: TpmtPublic): Buffer {
  return marshalWith(pub, writeTpm2bPublic);
}

// ---------------------------------------------------------------------------------------------
// Names

/** The Name of an object (Part 1, 16): nameAlg (UINT16) || H_nameAlg(marshalled TPMT_PUBLIC). */
export function tpmObjectName(pub: TpmtPublic): Buffer {
  return nameFromPublicArea(pub.nameAlg, marshalTpmtPublic(pub));
}

/** The Name over already-marshalled TPMT_PUBLIC bytes (exactly what the TPM hashed). */
export function nameFromPublicArea(nameAlg: number, publicArea: Uint8Array): Buffer {
  const hash = nodeHashName(nameAlg);
  if (hash === undefined) {
    throw new TpmFormatError("TPMT_PUBLIC.nameAlg", `${describeAlg(nameAlg)} cannot compute a Name`);
  }
  const prefix = Buffer.alloc(2);
  prefix.writeUInt16BE(nameAlg);
  return Buffer.concat([prefix, createHash(hash).update(publicArea).digest()]);
}
