import { describeAlg, digestSize, type TpmHashAlg } from "../constants.js";
import { TpmFormatError, type TpmReader, type TpmWriter } from "../marshal.js";
import type { PcrValues } from "../pcr-digest.js";
import { readTpm2b, writeTpm2b } from "./buffers.js";
import { marshalWith, unmarshalExact } from "./codec.js";
import {
  MAX_PCR_BANKS,
  PCR_SELECT_MAX,
  readPcrSelectionList,
  writePcrSelectionList,
  type PcrSelection,
} from "./pcr.js";

/**
 * PCR values as they travel from agent to verifier, in TPM marshalling: the selection they cover
 * (TPML_PCR_SELECTION, banks in order, PCRs ascending in each) then a UINT32 count and each selected
 * PCR's value as a TPM2B_DIGEST, in selection order — what TPM2_PCR_Read reports, without its
 * 8-digest limit per call. The encoding is canonical: each bank once, every selected PCR exactly one
 * value of its bank's digest size, nothing after.
 */

/** Every PCR of every bank: 16 banks of 32 PCRs. */
const MAX_PCR_VALUES = MAX_PCR_BANKS * PCR_SELECT_MAX * 8;

export function readPcrValues(r: TpmReader, field = "PCR values"): PcrValues<Buffer> {
  const selection = readPcrSelectionList(r, `${field}.selection`);
  const count = r.u32(`${field}.count`);
  const selected = selection.reduce((n, s) => n + s.pcrs.length, 0);
  if (count !== selected || count > MAX_PCR_VALUES) {
    throw new TpmFormatError(`${field}.count`, `${count} values for ${selected} selected PCRs`);
  }
  const values = new Map<TpmHashAlg, Map<number, Buffer>>();
  for (const [i, sel] of selection.entries()) {
    if (values.has(sel.hashAlg)) {
      throw new TpmFormatError(
        `${field}.selection[${i}]`,
        `bank ${describeAlg(sel.hashAlg)} is listed twice`,
      );
    }
    const bank = new Map<number, Buffer>();
    values.set(sel.hashAlg, bank);
    for (const pcr of sel.pcrs) {
      const name = `${field}.${describeAlg(sel.hashAlg)}[${pcr}]`;
      const value = readTpm2b(r, "DIGEST", name);
      if (value.length !== digestSize(sel.hashAlg)) {
        throw new TpmFormatError(
          name,
          `${value.length} bytes; the bank's digest is ${digestSize(sel.hashAlg)}`,
        );
      }
      bank.set(pcr, value);
    }
  }
  return values;
}

export function writePcrValues(w: TpmWriter, values: PcrValues, field = "PCR values"): void {
  const selection: PcrSelection[] = [...values].map(([hashAlg, bank]) => ({
    hashAlg,
    pcrs: [...bank.keys()].sort((a, b) => a - b),
  }));
  writePcrSelectionList(w, selection, `${field}.selection`);
  w.u32(selection.reduce((n, s) => n + s.pcrs.length, 0));
  for (const { hashAlg, pcrs } of selection) {
    for (const pcr of pcrs) {
      const name = `${field}.${describeAlg(hashAlg)}[${pcr}]`;
      const value = values.get(hashAlg)?.get(pcr) ?? Buffer.alloc(0);
      if (value.length !== digestSize(hashAlg)) {
        throw new TpmFormatError(name, `${value.length} bytes; the bank's digest is ${digestSize(hashAlg)}`);
      }
      writeTpm2b(w, "DIGEST", value, name);
    }
  }
}

export function unmarshalPcrValues(buf: Uint8Array): PcrValues<Buffer> {
  return unmarshalExact(buf, "PCR values", (r) => readPcrValues(r));
}

export function marshalPcrValues(values: PcrValues): Buffer {
  return marshalWith(values, (w, v) => writePcrValues(w, v));
}
