import { TpmFormatError } from "../marshal.js";
import type { TpmReader } from "../marshal.js";
import { TPM_ALG, describeAlg, isHashAlg } from "../constants.js";
import type { TpmAlgId, TpmHashAlg } from "../constants.js";

/**
 * Reads a TPMI_ALG_HASH; `allowNull` for the "+" variants (TPMI_ALG_HASH+) that also accept
 * TPM_ALG_NULL.
 */
export function readHashAlg(
  r: TpmReader,
  field: string,
  opts: { allowNull: true },
): TpmHashAlg | typeof TPM_ALG.NULL;
export function readHashAlg(r: TpmReader, field: string, opts?: { allowNull?: false }): TpmHashAlg;
export function readHashAlg(
  r: TpmReader,
  field: string,
  opts: { allowNull?: boolean } = {},
): TpmHashAlg | typeof TPM_ALG.NULL {
  const alg = r.u16(field);
  if (alg === TPM_ALG.NULL && opts.allowNull) return TPM_ALG.NULL;
  if (!isHashAlg(alg))
    throw new TpmFormatError(field, `${describeAlg(alg)} is not a supported hash algorithm`);
  return alg;
}

/** Reads a TPM_ALG_ID that must be one of `allowed` (a TPMI_ALG_* interface type). */
export function readAlgOneOf<A extends TpmAlgId>(r: TpmReader, field: string, allowed: readonly A[]): A {
  const alg = r.u16(field);
  if (!(allowed as readonly number[]).includes(alg)) {
    throw new TpmFormatError(field, `${describeAlg(alg)} is not allowed here`);
  }
  return alg as A;
}
