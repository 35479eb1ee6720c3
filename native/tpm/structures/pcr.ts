import type { TpmReader, TpmWriter } from "../marshal.js";
import { TpmFormatError } from "../marshal.js";
import { describeAlg, digestSize } from "../constants.js";
import type { TpmHashAlg } from "../constants.js";
import { readHashAlg } from "./alg.js";
import { readTpm2b, writeTpm2b } from "./buffers.js";
import { marshalWith, unmarshalExact, writeList } from "./codec.js";

/** PCR_SELECT_MIN: every TPM accepts (and a reference TPM returns) at least 3 octets: PCRs 0-23. */
export const PCR_SELECT_MIN = 3;
/** PCR_SELECT_MAX for up to 32 PCRs (TCG PC Client TPMs have 24). */
export const PCR_SELECT_MAX = 4;
/** HASH_COUNT bound for TPML_PCR_SELECTION / TPML_DIGEST_VALUES: one entry per PCR bank. */
export const MAX_PCR_BANKS = 16;
/** TPML_DIGEST holds at most 8 digests (Part 2, 10.9.3). */
export const MAX_DIGESTS = 8;

/** TPMS_PCR_SELECTION: one bank and the PCR indexes selected in it (ascending, no duplicates). */
export interface PcrSelection {
  readonly hashAlg: TpmHashAlg;
  readonly pcrs: readonly number[];
  /**
   * Octets in the bitmap. Kept so a parsed selection re-marshals byte-exactly; when absent on write,
   * the smallest size that holds the highest PCR (at least PCR_SELECT_MIN) is used.
   */
  readonly sizeofSelect?: number;
}

export function readPcrSelection(r: TpmReader, field = "TPMS_PCR_SELECTION"): PcrSelection {
  const hashAlg = readHashAlg(r, `${field}.hash`);
  const sizeofSelect = r.u8(`${field}.sizeofSelect`);
  if (sizeofSelect > PCR_SELECT_MAX) {
    throw new TpmFormatError(
      `${field}.sizeofSelect`,
      `${sizeofSelect} exceeds PCR_SELECT_MAX ${PCR_SELECT_MAX}`,
    );
  }
  const bitmap = r.bytes(`${field}.pcrSelect`, sizeofSelect);
  return { hashAlg, pcrs: pcrIndexesFromBitmap(bitmap), sizeofSelect };
}

export function writePcrSelection(w: TpmWriter, sel: PcrSelection, field = "TPMS_PCR_SELECTION"): void {
  w.u16(sel.hashAlg);
  const bitmap = pcrBitmap(sel.pcrs, sel.sizeofSelect, field);
  w.u8(bitmap.length).bytes(bitmap);
}

/** The pcrSelect bitmap: PCR n is bit (n mod 8) of octet (n div 8). */
export function pcrBitmap(pcrs: readonly number[], sizeofSelect?: number, field = "pcrSelect"): Buffer {
  let highest = 0;
  for (const pcr of pcrs) {
    if (!Number.isInteger(pcr) || pcr < 0 || pcr >= PCR_SELECT_MAX * 8) {
      throw new TpmFormatError(field, `PCR index ${pcr} is out of range 0..${PCR_SELECT_MAX * 8 - 1}`);
    }
    highest = Math.max(highest, (pcr >> 3) + 1);
  }
  const size = sizeofSelect ?? Math.max(PCR_SELECT_MIN, highest);
  if (size < highest || size > PCR_SELECT_MAX) {
    throw new TpmFormatError(field, `sizeofSelect ${size} cannot hold the selected PCRs`);
  }
  const bitmap = Buffer.alloc(size);
  for (const pcr of pcrs) bitmap[pcr >> 3]! |= 1 << (pcr & 7);
  return bitmap;
}

export function pcrIndexesFromBitmap(bitmap: Uint8Array): number[] {
  const pcrs: number[] = [];
  for (let i = 0; i < bitmap.length * 8; i++) if ((bitmap[i >> 3]! >> (i & 7)) & 1) pcrs.push(i);
  return pcrs;
}

/** TPML_PCR_SELECTION. */
export function readPcrSelectionList(r: TpmReader, field = "TPML_PCR_SELECTION"): PcrSelection[] {
  return r.list(field, MAX_PCR_BANKS, (rr, i) => readPcrSelection(rr, `${field}.pcrSelections[${i}]`));
}

export function writePcrSelectionList(
  w: TpmWriter,
  sels: readonly PcrSelection[],
  field = "TPML_PCR_SELECTION",
): void {
  writeList(w, field, MAX_PCR_BANKS, sels, (ww, s, i) =>
    writePcrSelection(ww, s, `${field}.pcrSelections[${i}]`),
  );
}

export function unmarshalPcrSelectionList(buf: Uint8Array): PcrSelection[] {
  return unmarshalExact(buf, "TPML_PCR_SELECTION", (r) => readPcrSelectionList(r));
}

export function marshalPcrSelectionList(sels: readonly PcrSelection[]): Buffer {
  return marshalWith(sels, (w, v) => writePcrSelectionList(w, v));
}

/** TPML_DIGEST: up to eight TPM2B_DIGESTs (what TPM2_PCR_Read returns). */
export function readDigestList(r: TpmReader, field = "TPML_DIGEST"): Buffer[] {
  return r.list(field, MAX_DIGESTS, (rr, i) => readTpm2b(rr, "DIGEST", `${field}.digests[${i}]`));
}

export function writeDigestList(w: TpmWriter, digests: readonly Uint8Array[], field = "TPML_DIGEST"): void {
  writeList(w, field, MAX_DIGESTS, digests, (ww, d, i) =>
    writeTpm2b(ww, "DIGEST", d, `${field}.digests[${i}]`),
  );
}

export function unmarshalDigestList(buf: Uint8Array): Buffer[] {
  return unmarshalExact(buf, "TPML_DIGEST", (r) => readDigestList(r));
}

/** TPMT_HA: a hash algorithm and a digest of exactly that algorithm's size. */
export interface TpmtHa {
  readonly hashAlg: TpmHashAlg;
  readonly digest: Buffer;
}

export function readTpmtHa(r: TpmReader, field = "TPMT_HA"): TpmtHa {
  const hashAlg = readHashAlg(r, `${field}.hashAlg`);
  return { hashAlg, digest: r.bytes(`${field}.digest`, digestSize(hashAlg) ?? 0) };
}

export function writeTpmtHa(w: TpmWriter, ha: TpmtHa, field = "TPMT_HA"): void {
  if (ha.digest.length !== digestSize(ha.hashAlg)) {
    throw new TpmFormatError(
      field,
      `a ${describeAlg(ha.hashAlg)} digest cannot be ${ha.digest.length} bytes`,
    );
  }
  w.u16(ha.hashAlg).bytes(ha.digest);
}

/** TPML_DIGEST_VALUES (TPM2_PCR_Extend): one TPMT_HA per bank. */
export function readDigestValues(r: TpmReader, field = "TPML_DIGEST_VALUES"): TpmtHa[] {
  return r.list(field, MAX_PCR_BANKS, (rr, i) => readTpmtHa(rr, `${field}.digests[${i}]`));
}

export function writeDigestValues(
  w: TpmWriter,
  values: readonly TpmtHa[],
  field = "TPML_DIGEST_VALUES",
): void {
  writeList(w, field, MAX_PCR_BANKS, values, (ww, v, i) => writeTpmtHa(ww, v, `${field}.digests[${i}]`));
}
