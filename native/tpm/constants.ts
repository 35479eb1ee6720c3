/**
 * TPM 2.0 constants, as TCG TPM 2.0 Library Part 2 ("Structures") assigns them.
 * Each table is an `as const` object with a derived union type of its values, so a field typed
 * `TpmAlgId` accepts only assigned identifiers at compile time.
 */

import { CURVES, type Curve } from "../../common/crypto/curves.js";

type ValueOf<T> = T[keyof T];

/** TPM_ALG_ID (Part 2, Table 9 / TCG Algorithm Registry). */
export const TPM_ALG = {
  ERROR: 0x0000,
  RSA: 0x0001,
  TDES: 0x0003,
  SHA1: 0x0004,
  HMAC: 0x0005,
  AES: 0x0006,
  MGF1: 0x0007,
  KEYEDHASH: 0x0008,
  XOR: 0x000a,
  SHA256: 0x000b,
  SHA384: 0x000c,
  SHA512: 0x000d,
  NULL: 0x0010,
  SM3_256: 0x0012,
  SM4: 0x0013,
  RSASSA: 0x0014,
  RSAES: 0x0015,
  RSAPSS: 0x0016,
  OAEP: 0x0017,
  ECDSA: 0x0018,
  ECDH: 0x0019,
  ECDAA: 0x001a,
  SM2: 0x001b,
  ECSCHNORR: 0x001c,
  ECMQV: 0x001d,
  KDF1_SP800_56A: 0x0020,
  KDF2: 0x0021,
  KDF1_SP800_108: 0x0022,
  ECC: 0x0023,
  SYMCIPHER: 0x0025,
  CAMELLIA: 0x0026,
  SHA3_256: 0x0027,
  SHA3_384: 0x0028,
  SHA3_512: 0x0029,
  CMAC: 0x003f,
  CTR: 0x0040,
  OFB: 0x0041,
  CBC: 0x0042,
  CFB: 0x0043,
  ECB: 0x0044,
} as const;
export type TpmAlgName = keyof typeof TPM_ALG;
export type TpmAlgId = ValueOf<typeof TPM_ALG>;

/** TPM_ECC_CURVE (Part 2, Table 10). */
export const TPM_ECC_CURVE = {
  NONE: 0x0000,
  NIST_P192: 0x0001,
  NIST_P224: 0x0002,
  NIST_P256: 0x0003,
  NIST_P384: 0x0004,
  NIST_P521: 0x0005,
  BN_P256: 0x0010,
  BN_P638: 0x0011,
  SM2_P256: 0x0020,
} as const;
export type TpmEccCurveName = keyof typeof TPM_ECC_CURVE;
export type TpmEccCurve = ValueOf<typeof TPM_ECC_CURVE>;

/** TPM_CC (Part 2, Table 12): the command codes hallmark uses, plus their near neighbours. */
export const TPM_CC = {
  NV_UndefineSpaceSpecial: 0x0000011f,
  EvictControl: 0x00000120,
  HierarchyControl: 0x00000121,
  NV_UndefineSpace: 0x00000122,
  Clear: 0x00000126,
  HierarchyChangeAuth: 0x00000129,
  NV_DefineSpace: 0x0000012a,
  PCR_Allocate: 0x0000012b,
  CreatePrimary: 0x00000131,
  NV_Increment: 0x00000134,
  NV_Extend: 0x00000136,
  NV_Write: 0x00000137,
  DictionaryAttackLockReset: 0x00000139,
  PCR_Event: 0x0000013c,
  PCR_Reset: 0x0000013d,
  SelfTest: 0x00000143,
  Startup: 0x00000144,
  Shutdown: 0x00000145,
  StirRandom: 0x00000146,
  ActivateCredential: 0x00000147,
  Certify: 0x00000148,
  PolicyNV: 0x00000149,
  CertifyCreation: 0x0000014a,
  Duplicate: 0x0000014b,
  GetTime: 0x0000014c,
  NV_Read: 0x0000014e,
  NV_ReadLock: 0x0000014f,
  ObjectChangeAuth: 0x00000150,
  PolicySecret: 0x00000151,
  Create: 0x00000153,
  ECDH_ZGen: 0x00000154,
  HMAC: 0x00000155,
  Import: 0x00000156,
  Load: 0x00000157,
  Quote: 0x00000158,
  RSA_Decrypt: 0x00000159,
  Sign: 0x0000015d,
  Unseal: 0x0000015e,
  PolicySigned: 0x00000160,
  ContextLoad: 0x00000161,
  ContextSave: 0x00000162,
  ECDH_KeyGen: 0x00000163,
  EncryptDecrypt: 0x00000164,
  FlushContext: 0x00000165,
  LoadExternal: 0x00000167,
  MakeCredential: 0x00000168,
  NV_ReadPublic: 0x00000169,
  PolicyAuthorize: 0x0000016a,
  PolicyAuthValue: 0x0000016b,
  PolicyCommandCode: 0x0000016c,
  PolicyOR: 0x00000171,
  ReadPublic: 0x00000173,
  RSA_Encrypt: 0x00000174,
  StartAuthSession: 0x00000176,
  VerifySignature: 0x00000177,
  GetCapability: 0x0000017a,
  GetRandom: 0x0000017b,
  GetTestResult: 0x0000017c,
  Hash: 0x0000017d,
  PCR_Read: 0x0000017e,
  PolicyPCR: 0x0000017f,
  PolicyRestart: 0x00000180,
  ReadClock: 0x00000181,
  PCR_Extend: 0x00000182,
  NV_Certify: 0x00000184,
  PolicyGetDigest: 0x00000189,
  TestParms: 0x0000018a,
  PolicyPassword: 0x0000018c,
  CreateLoaded: 0x00000191,
} as const;
export type TpmCcName = keyof typeof TPM_CC;
export type TpmCc = ValueOf<typeof TPM_CC>;

/** TPM_ST (Part 2, Table 19): structure tags. */
export const TPM_ST = {
  RSP_COMMAND: 0x00c4,
  NULL: 0x8000,
  NO_SESSIONS: 0x8001,
  SESSIONS: 0x8002,
  ATTEST_NV: 0x8014,
  ATTEST_COMMAND_AUDIT: 0x8015,
  ATTEST_SESSION_AUDIT: 0x8016,
  ATTEST_CERTIFY: 0x8017,
  ATTEST_QUOTE: 0x8018,
  ATTEST_TIME: 0x8019,
  ATTEST_CREATION: 0x801a,
  ATTEST_NV_DIGEST: 0x801c,
  CREATION: 0x8021,
  VERIFIED: 0x8022,
  AUTH_SECRET: 0x8023,
  HASHCHECK: 0x8024,
  AUTH_SIGNED: 0x8025,
  FU_MANIFEST: 0x8029,
} as const;
export type TpmStName = keyof typeof TPM_ST;
export type TpmSt = ValueOf<typeof TPM_ST>;

/** TPM_SU (Part 2, Table 20): TPM2_Startup / TPM2_Shutdown type. */
export const TPM_SU = {
  CLEAR: 0x0000,
  STATE: 0x0001,
} as const;
export type TpmSu = ValueOf<typeof TPM_SU>;

/** TPM_SE (Part 2, Table 21): session type for TPM2_StartAuthSession. */
export const TPM_SE = {
  HMAC: 0x00,
  POLICY: 0x01,
  TRIAL: 0x03,
} as const;
export type TpmSe = ValueOf<typeof TPM_SE>;

/** TPM_CAP (Part 2, Table 22). */
export const TPM_CAP = {
  ALGS: 0x00000000,
  HANDLES: 0x00000001,
  COMMANDS: 0x00000002,
  PP_COMMANDS: 0x00000003,
  AUDIT_COMMANDS: 0x00000004,
  PCRS: 0x00000005,
  TPM_PROPERTIES: 0x00000006,
  PCR_PROPERTIES: 0x00000007,
  ECC_CURVES: 0x00000008,
  AUTH_POLICIES: 0x00000009,
  ACT: 0x0000000a,
  VENDOR_PROPERTY: 0x00000100,
} as const;
export type TpmCapName = keyof typeof TPM_CAP;
export type TpmCap = ValueOf<typeof TPM_CAP>;

const PT_FIXED = 0x100;
const PT_VAR = 0x200;

/** TPM_PT (Part 2, Table 23): property tags for TPM_CAP_TPM_PROPERTIES. */
export const TPM_PT = {
  NONE: 0x00000000,
  FAMILY_INDICATOR: PT_FIXED + 0,
  LEVEL: PT_FIXED + 1,
  REVISION: PT_FIXED + 2,
  DAY_OF_YEAR: PT_FIXED + 3,
  YEAR: PT_FIXED + 4,
  MANUFACTURER: PT_FIXED + 5,
  VENDOR_STRING_1: PT_FIXED + 6,
  VENDOR_STRING_2: PT_FIXED + 7,
  VENDOR_STRING_3: PT_FIXED + 8,
  VENDOR_STRING_4: PT_FIXED + 9,
  VENDOR_TPM_TYPE: PT_FIXED + 10,
  FIRMWARE_VERSION_1: PT_FIXED + 11,
  FIRMWARE_VERSION_2: PT_FIXED + 12,
  INPUT_BUFFER: PT_FIXED + 13,
  HR_TRANSIENT_MIN: PT_FIXED + 14,
  HR_PERSISTENT_MIN: PT_FIXED + 15,
  HR_LOADED_MIN: PT_FIXED + 16,
  ACTIVE_SESSIONS_MAX: PT_FIXED + 17,
  PCR_COUNT: PT_FIXED + 18,
  PCR_SELECT_MIN: PT_FIXED + 19,
  CONTEXT_GAP_MAX: PT_FIXED + 20,
  NV_COUNTERS_MAX: PT_FIXED + 22,
  NV_INDEX_MAX: PT_FIXED + 23,
  MEMORY: PT_FIXED + 24,
  CLOCK_UPDATE: PT_FIXED + 25,
  CONTEXT_HASH: PT_FIXED + 26,
  CONTEXT_SYM: PT_FIXED + 27,
  CONTEXT_SYM_SIZE: PT_FIXED + 28,
  ORDERLY_COUNT: PT_FIXED + 29,
  MAX_COMMAND_SIZE: PT_FIXED + 30,
  MAX_RESPONSE_SIZE: PT_FIXED + 31,
  MAX_DIGEST: PT_FIXED + 32,
  MAX_OBJECT_CONTEXT: PT_FIXED + 33,
  MAX_SESSION_CONTEXT: PT_FIXED + 34,
  PS_FAMILY_INDICATOR: PT_FIXED + 35,
  PS_LEVEL: PT_FIXED + 36,
  PS_REVISION: PT_FIXED + 37,
  PS_DAY_OF_YEAR: PT_FIXED + 38,
  PS_YEAR: PT_FIXED + 39,
  SPLIT_MAX: PT_FIXED + 40,
  TOTAL_COMMANDS: PT_FIXED + 41,
  LIBRARY_COMMANDS: PT_FIXED + 42,
  VENDOR_COMMANDS: PT_FIXED + 43,
  NV_BUFFER_MAX: PT_FIXED + 44,
  MODES: PT_FIXED + 45,
  MAX_CAP_BUFFER: PT_FIXED + 46,
  PERMANENT: PT_VAR + 0,
  STARTUP_CLEAR: PT_VAR + 1,
  HR_NV_INDEX: PT_VAR + 2,
  HR_LOADED: PT_VAR + 3,
  HR_LOADED_AVAIL: PT_VAR + 4,
  HR_ACTIVE: PT_VAR + 5,
  HR_ACTIVE_AVAIL: PT_VAR + 6,
  HR_TRANSIENT_AVAIL: PT_VAR + 7,
  HR_PERSISTENT: PT_VAR + 8,
  HR_PERSISTENT_AVAIL: PT_VAR + 9,
  NV_COUNTERS: PT_VAR + 10,
  NV_COUNTERS_AVAIL: PT_VAR + 11,
  ALGORITHM_SET: PT_VAR + 12,
  LOADED_CURVES: PT_VAR + 13,
  LOCKOUT_COUNTER: PT_VAR + 14,
  MAX_AUTH_FAIL: PT_VAR + 15,
  LOCKOUT_INTERVAL: PT_VAR + 16,
  LOCKOUT_RECOVERY: PT_VAR + 17,
  NV_WRITE_RECOVERY: PT_VAR + 18,
  AUDIT_COUNTER_0: PT_VAR + 19,
  AUDIT_COUNTER_1: PT_VAR + 20,
} as const;
export type TpmPtName = keyof typeof TPM_PT;
export type TpmPt = ValueOf<typeof TPM_PT>;

/** TPM_HT (Part 2, Table 28): the most significant octet of a TPM_HANDLE. */
export const TPM_HT = {
  PCR: 0x00,
  NV_INDEX: 0x01,
  HMAC_SESSION: 0x02,
  LOADED_SESSION: 0x02,
  POLICY_SESSION: 0x03,
  SAVED_SESSION: 0x03,
  PERMANENT: 0x40,
  TRANSIENT: 0x80,
  PERSISTENT: 0x81,
  AC: 0x90,
} as const;
export type TpmHt = ValueOf<typeof TPM_HT>;

/** TPM_RH (Part 2, Table 29) and TPM_RS_PW: permanent handles. */
export const TPM_RH = {
  OWNER: 0x40000001,
  NULL: 0x40000007,
  /** The password authorization pseudo-session (TPM_RS_PW). */
  RS_PW: 0x40000009,
  LOCKOUT: 0x4000000a,
  ENDORSEMENT: 0x4000000b,
  PLATFORM: 0x4000000c,
  PLATFORM_NV: 0x4000000d,
} as const;
export type TpmRh = ValueOf<typeof TPM_RH>;
export const TPM_RS_PW = TPM_RH.RS_PW;

/** TPM_HC (Part 2, Table 30): handle ranges by type, inclusive. */
export const TPM_HANDLE_RANGE = {
  pcr: { first: 0x00000000, last: 0x0000001f },
  nvIndex: { first: 0x01000000, last: 0x01ffffff },
  hmacSession: { first: 0x02000000, last: 0x02fffffe },
  policySession: { first: 0x03000000, last: 0x03fffffe },
  permanent: { first: 0x40000000, last: 0x4000ffff },
  transient: { first: 0x80000000, last: 0x80fffffe },
  persistent: { first: 0x81000000, last: 0x81ffffff },
  /** Persistent endorsement-hierarchy handles (TCG EK Credential Profile: EKs at 0x81010001...). */
  persistentEndorsement: { first: 0x81010000, last: 0x8101ffff },
} as const;

/** The handle type (most significant octet) of a handle. */
export function handleType(handle: number): number {
  return (handle >>> 24) & 0xff;
}

/** TPM_GENERATED_VALUE (Part 2, Table 7): the magic every TPMS_ATTEST starts with ("\xffTCG"). */
export const TPM_GENERATED_VALUE = 0xff544347;

/** The hash algorithms hallmark understands, with their digest sizes and node:crypto names. */
const HASH_INFO = {
  [TPM_ALG.SHA1]: { digestSize: 20, nodeName: "sha1" },
  [TPM_ALG.SHA256]: { digestSize: 32, nodeName: "sha256" },
  [TPM_ALG.SHA384]: { digestSize: 48, nodeName: "sha384" },
  [TPM_ALG.SHA512]: { digestSize: 64, nodeName: "sha512" },
  [TPM_ALG.SM3_256]: { digestSize: 32, nodeName: "sm3" },
  [TPM_ALG.SHA3_256]: { digestSize: 32, nodeName: "sha3-256" },
  [TPM_ALG.SHA3_384]: { digestSize: 48, nodeName: "sha3-384" },
  [TPM_ALG.SHA3_512]: { digestSize: 64, nodeName: "sha3-512" },
} as const satisfies Partial<Record<TpmAlgId, { digestSize: number; nodeName: string }>>;

export type TpmHashAlg = keyof typeof HASH_INFO;

/** Largest digest of any hash above (sizeof(TPMU_HA)). */
export const MAX_DIGEST_SIZE = 64;

export function isHashAlg(alg: number): alg is TpmHashAlg {
  return Object.hasOwn(HASH_INFO, alg);
}

/** Digest size in bytes of a TPM hash algorithm, or undefined if `alg` is not a known hash. */
export function digestSize(alg: number): number | undefined {
  return isHashAlg(alg) ? HASH_INFO[alg].digestSize : undefined;
}

/** The node:crypto hash name for a TPM hash algorithm, or undefined if `alg` is not a known hash. */
export function nodeHashName(alg: number): string | undefined {
  return isHashAlg(alg) ? HASH_INFO[alg].nodeName : undefined;
}

/** value → name for an `as const` table (the first name wins where two share a value). */
function invert<T extends Record<string, number>>(table: T): Map<number, keyof T & string> {
  const m = new Map<number, keyof T & string>();
  for (const [name, v] of Object.entries(table)) if (!m.has(v)) m.set(v, name);
  return m;
}

const ALG_NAME_BY_ID = invert(TPM_ALG);

/** "SHA256" for 0x000b; undefined for an unassigned id. */
export function algName(alg: number): TpmAlgName | undefined {
  return ALG_NAME_BY_ID.get(alg);
}

/** Algorithm id by name, case-insensitive ("sha256", "SHA256", "rsa"); undefined if unknown. */
export function algIdByName(name: string): TpmAlgId | undefined {
  const key = name.toUpperCase().replace(/-/g, "_");
  return Object.hasOwn(TPM_ALG, key) ? TPM_ALG[key as TpmAlgName] : undefined;
}

/** "0x000b (SHA256)": how error messages name an algorithm field. */
export function describeAlg(alg: number): string {
  const name = algName(alg);
  const hex = `0x${alg.toString(16).padStart(4, "0")}`;
  return name === undefined ? hex : `${hex} (${name})`;
}

/**
 * The NIST curves hallmark supports, by TPM_ECC_CURVE id, onto the one curve table
 * (common/crypto/curves.ts) that names them for node:crypto, JOSE, X.509 and PKCS#11.
 */
const CURVE_BY_TPM_ID: ReadonlyMap<number, Curve> = new Map([
  [TPM_ECC_CURVE.NIST_P256, CURVES["P-256"]],
  [TPM_ECC_CURVE.NIST_P384, CURVES["P-384"]],
  [TPM_ECC_CURVE.NIST_P521, CURVES["P-521"]],
]);

/** The curve a TPM_ECC_CURVE id names, or undefined for a curve hallmark does not support (BN, SM2, P-192...). */
export function curveOfTpmId(curveId: number): Curve | undefined {
  return CURVE_BY_TPM_ID.get(curveId);
}

/** The TPM_ECC_CURVE id of a supported curve. */
export function tpmIdOfCurve(curve: Curve): number {
  for (const [id, c] of CURVE_BY_TPM_ID) if (c.name === curve.name) return id;
  // CURVE_BY_TPM_ID maps every entry of CURVES.
  throw new RangeError(`curve ${curve.name} has no TPM_ECC_CURVE id`);
}

const CC_NAME_BY_CODE = invert(TPM_CC);

/** "TPM2_Quote" for 0x158; "TPM2_CC_0x..." for a code not in the table. */
export function commandName(code: number): string {
  const name = CC_NAME_BY_CODE.get(code);
  return name === undefined ? `TPM2_CC_0x${code.toString(16).padStart(8, "0")}` : `TPM2_${name}`;
}

const CAP_NAME_BY_ID = invert(TPM_CAP);

export function capName(cap: number): TpmCapName | undefined {
  return CAP_NAME_BY_ID.get(cap);
}

const PT_NAME_BY_ID = invert(TPM_PT);

export function ptName(pt: number): TpmPtName | undefined {
  return PT_NAME_BY_ID.get(pt);
}
