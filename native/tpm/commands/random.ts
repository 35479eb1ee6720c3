import { TPM_CC } from "../constants.js";
import { TpmWriter } from "../marshal.js";
import { readTpm2b } from "../structures/buffers.js";
import { readParameters, type Tpm } from "../tpm.js";
import { TpmArgumentError, TpmResponseError } from "./errors.js";

/** TPM2_GetRandom; the TPM returns at most one digest's worth per call, so this loops. */
export async function getRandom(tpm: Tpm, length: number): Promise<Buffer> {
  if (!Number.isInteger(length) || length < 0 || length > 0xffff) {
    throw new TpmArgumentError("TPM_RANDOM_LENGTH", `GetRandom length must be 0..65535, got ${length}`);
  }
  const parts: Buffer[] = [];
  let have = 0;
  while (have < length) {
    const want = Math.min(length - have, 64);
    const { parameters } = await tpm.execute({
      code: TPM_CC.GetRandom,
      parameters: new TpmWriter().u16(want).toBuffer(),
    });
    const bytes = readParameters(parameters, "TPM2_GetRandom", (r) => readTpm2b(r, "DIGEST", "randomBytes"));
    // Zero bytes would loop forever; a TPM that has entropy returns at least one.
    if (bytes.length === 0)
      throw new TpmResponseError("TPM_RANDOM_EMPTY", "TPM2_GetRandom returned no bytes");
    parts.push(bytes);
    have += bytes.length;
  }
  return Buffer.concat(parts).subarray(0, length);
}
