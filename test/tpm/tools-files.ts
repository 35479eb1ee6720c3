import {
  digestSize,
  MAX_DIGEST_SIZE,
  MAX_DIGESTS,
  MAX_PCR_BANKS,
  nodeHashName,
  PCR_SELECT_MAX,
  pcrBitmap,
  publicKeyFromTpmPublic,
  type PcrSelection,
  type PcrValues,
  type TpmtPublic,
} from "../../native/tpm/index.js";

/**
 * Files in the forms tpm2-tools and openssl read, made from what our TPM code returns, so the
 * independent implementations can judge our evidence.
 */

/** The AK's public key as a PEM SubjectPublicKeyInfo (`tpm2_checkquote -u`, `openssl dgst -verify`). */
export function akPublicPem(akPublic: TpmtPublic): string {
  return publicKeyFromTpmPublic(akPublic).export({ type: "spki", format: "pem" }).toString();
}

// tpm2-tools' "serialized" PCR file is not TPM marshalling: it is an fwrite of the C structs
// (TSS2 ESAPI layout, little-endian on x86/arm hosts), so it is built with fixed offsets here.
/** TPMS_PCR_SELECTION in memory: hash u16, sizeofSelect u8, pcrSelect[PCR_SELECT_MAX], 1 pad byte. */
const PCR_SELECTION_STRUCT = 2 + 1 + PCR_SELECT_MAX + 1;
/** TPM2B_DIGEST in memory: size u16 and a buffer of sizeof(TPMU_HA). */
const TPM2B_DIGEST_STRUCT = 2 + MAX_DIGEST_SIZE;
const TPML_PCR_SELECTION_STRUCT = 4 + MAX_PCR_BANKS * PCR_SELECTION_STRUCT;
const TPML_DIGEST_STRUCT = 4 + MAX_DIGESTS * TPM2B_DIGEST_STRUCT;

/**
 * The PCR file `tpm2_quote -o` writes by default (`-F serialized`) and `tpm2_checkquote -f` reads
 * without `-l`: TPML_PCR_SELECTION, a u32 count, then that many TPML_DIGEST, each holding up to 8
 * digests in selection order (banks as listed, PCRs ascending), as TPM2_PCR_Read returns them.
 */
export function tpm2ToolsPcrFile(selection: readonly PcrSelection[], values: PcrValues): Buffer {
  if (selection.length > MAX_PCR_BANKS) throw new Error(`more than ${MAX_PCR_BANKS} PCR banks selected`);
  const head = Buffer.alloc(TPML_PCR_SELECTION_STRUCT);
  head.writeUInt32LE(selection.length, 0);
  const digests: Buffer[] = [];
  selection.forEach((sel, i) => {
    const at = 4 + i * PCR_SELECTION_STRUCT;
    const bitmap = pcrBitmap(sel.pcrs, sel.sizeofSelect);
    head.writeUInt16LE(sel.hashAlg, at);
    head.writeUInt8(bitmap.length, at + 2);
    bitmap.copy(head, at + 3);
    for (const pcr of sel.pcrs) {
      const value = values.get(sel.hashAlg)?.get(pcr);
      if (value === undefined || value.length !== digestSize(sel.hashAlg)) {
        throw new Error(`no ${digestSize(sel.hashAlg) ?? "?"}-byte value for PCR ${sel.hashAlg}:${pcr}`);
      }
      digests.push(Buffer.from(value));
    }
  });

  const lists: Buffer[] = [];
  for (let first = 0; first < digests.length; first += MAX_DIGESTS) {
    const chunk = digests.slice(first, first + MAX_DIGESTS);
    const list = Buffer.alloc(TPML_DIGEST_STRUCT);
    list.writeUInt32LE(chunk.length, 0);
    chunk.forEach((d, j) => {
      const at = 4 + j * TPM2B_DIGEST_STRUCT;
      list.writeUInt16LE(d.length, at);
      d.copy(list, at + 2);
    });
    lists.push(list);
  }
  const count = Buffer.alloc(4);
  count.writeUInt32LE(lists.length, 0);
  return Buffer.concat([head, count, ...lists]);
}

/** The `-l` PCR list tpm2-tools takes for `selection`, e.g. "sha256:0,1,2+sha1:7" (SHA-1/SHA-2 banks). */
export function tpm2ToolsPcrList(selection: readonly PcrSelection[]): string {
  return selection.map((s) => `${nodeHashName(s.hashAlg) ?? "?"}:${s.pcrs.join(",")}`).join("+");
}
