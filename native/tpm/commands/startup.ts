import { TPM_CC, TPM_SU, type TpmSu } from "../constants.js";
import { TPM_RC, isTpmError } from "../rc.js";
import type { Tpm } from "../tpm.js";

/**
 * TPM2_Startup. Firmware (or swtpm's startup-clear flag) normally did it already; then the TPM
 * answers TPM_RC_INITIALIZE, which is success for us. Returns whether this call started it.
 */
export async function startup(tpm: Tpm, type: TpmSu = TPM_SU.CLEAR): Promise<boolean> {
  try {
    await tpm.execute({ code: TPM_CC.Startup, parameters: Buffer.from([type >> 8, type & 0xff]) });
    return true;
  } catch (err) {
    if (isTpmError(err, TPM_RC.INITIALIZE)) return false;
    throw err;
  }
}
