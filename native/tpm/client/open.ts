import { startup } from "../commands/startup.js";
import { openTransport, type OpenTransportOptions, type TpmEndpoint } from "../transport/open.js";
import { Tpm, type TpmOptions } from "../tpm.js";
import { flushLeftovers } from "./transient.js";

/**
 * Opens a TPM ready for use: started (TPM_RC_INITIALIZE is fine), and, where no resource manager
 * cleans up after us, cleared of transient objects and sessions a crashed earlier run left behind.
 */
export async function openTpm(
  endpoint: TpmEndpoint,
  options: TpmOptions & OpenTransportOptions = {},
): Promise<{ tpm: Tpm; flushed: number[] }> {
  const tpm = new Tpm(openTransport(endpoint, options), options);
  try {
    await startup(tpm);
    const flushed = tpm.hasResourceManager ? [] : await flushLeftovers(tpm);
    return { tpm, flushed };
  } catch (err) {
    await tpm.close();
    throw err;
  }
}
