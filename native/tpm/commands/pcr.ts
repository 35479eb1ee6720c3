import { TpmResponseError } from "./errors.js";
import { TPM_CC, describeAlg, type TpmHashAlg } from "../constants.js";
import { TpmWriter } from "../marshal.js";
import {
  readDigestList,
  readPcrSelectionList,
  writePcrSelectionList,
  type PcrSelection,
} from "../structures/pcr.js";
import { readParameters, type Tpm } from "../tpm.js";
import type { PcrValues } from "../pcr-digest.js";

/**
 * TPM2_PCR_Read of every selected PCR. A TPM returns at most 8 digests per call (and may return
 * fewer), saying which ones in pcrSelectionOut; we ask again for the rest until all are read. A
 * PCR the TPM will not return (bank not allocated) is an error, not a silent gap.
 */
export async function pcrRead(
  tpm: Tpm,
  selection: readonly PcrSelection[],
  options: { signal?: AbortSignal } = {},
): Promise<PcrValues<Buffer>> {
  const values = new Map<TpmHashAlg, Map<number, Buffer>>();
  let pending = selection
    .map((s) => ({ hashAlg: s.hashAlg, pcrs: [...new Set(s.pcrs)].sort((a, b) => a - b) }))
    .filter((s) => s.pcrs.length > 0);
  for (const s of pending) values.set(s.hashAlg, new Map());
  while (pending.length > 0) {
    const w = new TpmWriter();
    writePcrSelectionList(w, pending, "pcrSelectionIn");
    const { parameters } = await tpm.execute({
      code: TPM_CC.PCR_Read,
      parameters: w.toBuffer(),
      signal: options.signal,
    });
    const { selected, digests } = readParameters(parameters, "TPM2_PCR_Read", (r) => {
      r.u32("pcrUpdateCounter");
      return {
        selected: readPcrSelectionList(r, "pcrSelectionOut"),
        digests: readDigestList(r, "pcrValues"),
      };
    });
    // Digests come in selection order: banks as listed, PCRs ascending within each bank.
    let i = 0;
    let got = 0;
    for (const s of selected) {
      const bank = values.get(s.hashAlg);
      for (const pcr of s.pcrs) {
        const digest = digests[i++];
        if (digest === undefined) {
          throw new TpmResponseError(
            "TPM_PCR_READ_INVALID",
            "TPM2_PCR_Read returned fewer digests than it selected",
          );
        }
        if (bank === undefined || !pending.some((p) => p.hashAlg === s.hashAlg && p.pcrs.includes(pcr))) {
          throw new TpmResponseError(
            "TPM_PCR_READ_INVALID",
            `TPM2_PCR_Read returned PCR ${pcr} of ${describeAlg(s.hashAlg)}, not asked for`,
          );
        }
        bank.set(pcr, digest);
        got++;
      }
    }
    if (i !== digests.length) {
      throw new TpmResponseError(
        "TPM_PCR_READ_INVALID",
        "TPM2_PCR_Read returned more digests than it selected",
      );
    }
    pending = pending
      .map((p) => ({ hashAlg: p.hashAlg, pcrs: p.pcrs.filter((pcr) => !values.get(p.hashAlg)?.has(pcr)) }))
      .filter((p) => p.pcrs.length > 0);
    if (got === 0 && pending.length > 0) {
      const missing = pending.map((p) => `${describeAlg(p.hashAlg)}:${p.pcrs.join(",")}`).join(" ");
      throw new TpmResponseError(
        "TPM_PCR_UNAVAILABLE",
        `the TPM does not return PCRs ${missing} (bank not allocated?)`,
        { category: "failed_precondition" },
      );
    }
  }
  return values;
}
