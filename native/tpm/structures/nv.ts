import type { TpmReader, TpmWriter } from "../marshal.js";
import { TpmFormatError } from "../marshal.js";
import { TPM_HT, handleType } from "../constants.js";
import type { TpmHashAlg } from "../constants.js";
import { readHashAlg } from "./alg.js";
import { readTpm2b, writeTpm2b } from "./buffers.js";
import { marshalWith, unmarshalExact } from "./codec.js";
import { flagCodec } from "./flags.js";
import { nameFromPublicArea } from "./public.js";

// TPMA_NV (Part 2, 13.4): single-bit flags plus the 4-bit TPM_NT field in bits 4..7.
const NV_ATTRIBUTE_BITS = {
  ppWrite: 0,
  ownerWrite: 1,
  authWrite: 2,
  policyWrite: 3,
  policyDelete: 10,
  writeLocked: 11,
  writeAll: 12,
  writeDefine: 13,
  writeStClear: 14,
  globalLock: 15,
  ppRead: 16,
  ownerRead: 17,
  authRead: 18,
  policyRead: 19,
  noDA: 25,
  orderly: 26,
  clearStClear: 27,
  readLocked: 28,
  written: 29,
  platformCreate: 30,
  readStClear: 31,
} as const;

/** TPM_NT (Part 2, Table 206): the kind of NV index. */
export const TPM_NT = {
  ORDINARY: 0x0,
  COUNTER: 0x1,
  BITS: 0x2,
  EXTEND: 0x4,
  PIN_FAIL: 0x8,
  PIN_PASS: 0x9,
} as const;
export type TpmNt = (typeof TPM_NT)[keyof typeof TPM_NT];

export type NvAttributeName = keyof typeof NV_ATTRIBUTE_BITS;
export type NvAttributes = Readonly<Record<NvAttributeName, boolean>> & { readonly nt: TpmNt };

const NT_SHIFT = 4;
const NT_MASK = 0xf << NT_SHIFT;
const NV_FLAGS = flagCodec("TPMA_NV", NV_ATTRIBUTE_BITS, NT_MASK);
const NT_VALUES = new Set<number>(Object.values(TPM_NT));

export function nvAttributes(set: Partial<Record<NvAttributeName, boolean>> & { nt?: TpmNt }): NvAttributes {
  return { ...NV_FLAGS.build(set), nt: set.nt ?? TPM_NT.ORDINARY };
}

export function nvAttributesToU32(a: NvAttributes): number {
  return (NV_FLAGS.toInt(a) | (a.nt << NT_SHIFT)) >>> 0;
}

export function nvAttributesFromU32(v: number, field = "TPMA_NV"): NvAttributes {
  const flags = NV_FLAGS.fromInt(v, field);
  const nt = (v & NT_MASK) >>> NT_SHIFT;
  if (!NT_VALUES.has(nt)) throw new TpmFormatError(`${field}.TPM_NT`, `${nt} is not an NV index type`);
  return { ...flags, nt: nt as TpmNt };
}

/** TPMS_NV_PUBLIC (Part 2, 13.5). */
export interface TpmsNvPublic {
  readonly nvIndex: number;
  readonly nameAlg: TpmHashAlg;
  readonly attributes: NvAttributes;
  readonly authPolicy: Buffer;
  readonly dataSize: number;
}

export function readNvPublic(r: TpmReader, field = "TPMS_NV_PUBLIC"): TpmsNvPublic {
  const nvIndex = r.u32(`${field}.nvIndex`);
  if (handleType(nvIndex) !== TPM_HT.NV_INDEX) {
    throw new TpmFormatError(
      `${field}.nvIndex`,
      `0x${nvIndex.toString(16).padStart(8, "0")} is not an NV index handle`,
    );
  }
  return {
    nvIndex,
    nameAlg: readHashAlg(r, `${field}.nameAlg`),
    attributes: nvAttributesFromU32(r.u32(`${field}.attributes`), `${field}.attributes`),
    authPolicy: readTpm2b(r, "DIGEST", `${field}.authPolicy`),
    dataSize: r.u16(`${field}.dataSize`),
  };
}

export function writeNvPublic(w: TpmWriter, nv: TpmsNvPublic, field = "TPMS_NV_PUBLIC"): void {
  w.u32(nv.nvIndex).u16(nv.nameAlg).u32(nvAttributesToU32(nv.attributes));
  writeTpm2b(w, "DIGEST", nv.authPolicy, `${field}.authPolicy`);
  w.u16(nv.dataSize);
}

/** TPM2B_NV_PUBLIC. */
export function readTpm2bNvPublic(r: TpmReader, field = "TPM2B_NV_PUBLIC"): TpmsNvPublic {
  return r.sizedStruct(field, (inner) => readNvPublic(inner, `${field}.nvPublic`)) as TpmsNvPublic;
}

export function writeTpm2bNvPublic(w: TpmWriter, nv: TpmsNvPublic): void {
  w.sizedStruct((inner) => writeNvPublic(inner, nv));
}

export function unmarshalNvPublic(buf: Uint8Array): TpmsNvPublic {
  return unmarshalExact(buf, "TPMS_NV_PUBLIC", (r) => readNvPublic(r));
}

export function marshalNvPublic(nv: TpmsNvPublic): Buffer {
  return marshalWith(nv, (w, v) => writeNvPublic(w, v));
}

/** The Name of an NV index: nameAlg || H_nameAlg(marshalled TPMS_NV_PUBLIC). */
export function nvIndexName(nv: TpmsNvPublic): Buffer {
  return nameFromPublicArea(nv.nameAlg, marshalNvPublic(nv));
}
