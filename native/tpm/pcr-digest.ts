import { createHash } from "node:crypto";
import { describeAlg, digestSize, nodeHashName, type TpmHashAlg } from "./constants.js";
import { TpmFormatError } from "./marshal.js";
import type { PcrSelection } from "./structures/pcr.js";

/** PCR values by bank, then by index: what TPM2_PCR_Read returns and a quote vouches for. */
export type PcrValues<V extends Uint8Array = Uint8Array> = ReadonlyMap<TpmHashAlg, ReadonlyMap<number, V>>;

/**
 * TPMS_QUOTE_INFO.pcrDigest (TCG TPM 2.0 Part 3, 18.4): H_hashAlg of the selected PCR values
 * concatenated in selection order (banks as listed, PCRs ascending in each). `hashAlg` is the
 * signing scheme's hash, not the banks'. Throws TpmFormatError when a selected PCR has no value or
 * one that is not its bank's digest size, so a gap can never hash to a matching digest.
 */
export function pcrCompositeDigest(
  hashAlg: number,
  selection: readonly PcrSelection[],
  values: PcrValues,
): Buffer {
  const hash = nodeHashName(hashAlg);
  if (hash === undefined) throw new TpmFormatError("pcrDigest", `${describeAlg(hashAlg)} is not a hash`);
  const h = createHash(hash);
  for (const sel of selection) {
    const size = digestSize(sel.hashAlg);
    for (const pcr of sel.pcrs) {
      const value = values.get(sel.hashAlg)?.get(pcr);
      const field = `PCR ${nodeHashName(sel.hashAlg) ?? describeAlg(sel.hashAlg)}:${pcr}`;
      if (value === undefined) throw new TpmFormatError(field, "has no value");
      if (value.length !== size) {
        throw new TpmFormatError(field, `value is ${value.length} bytes, the bank's digest is ${size}`);
      }
      h.update(value);
    }
  }
  return h.digest();
}
