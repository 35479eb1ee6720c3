import { throwIfAborted } from "../../../common/errors.js";
import { startup } from "../commands/startup.js";
import { openTransport, type OpenTransportOptions, type TpmEndpoint } from "../transport/open.js";
import { Tpm, type TpmOptions } from "../tpm.js";
import { flushLeftovers } from "./transient.js";

export interface OpenTpmOptions extends TpmOptions, OpenTransportOptions {
  /**
   * The caller owns the TPM (the agent at start-up): where no resource manager cleans up after a
   * crash, transient objects and sessions still loaded are a crashed earlier run's, and are flushed.
   * Left false (the default), nothing is flushed: on a shared TPM they may be another client's
   * (a `tpm identify` next to a running agent, tpm2-tools, an operator's own session).
   */
  readonly ownsTpm?: boolean;
  /** The caller's deadline: once it has passed, no further command is sent and the TPM is closed. */
  readonly signal?: AbortSignal;
}

/** Opens a TPM ready for use: started (TPM_RC_INITIALIZE is fine), and cleaned up if we own it. */
export async function openTpm(
  endpoint: TpmEndpoint,
  options: OpenTpmOptions = {},
): Promise<{ tpm: Tpm; flushed: number[] }> {
  throwIfAborted(options.signal, "opening the TPM");
  const tpm = new Tpm(openTransport(endpoint, options), options);
  try {
    await startup(tpm);
    throwIfAborted(options.signal, "opening the TPM");
    const flushed = options.ownsTpm === true && !tpm.hasResourceManager ? await flushLeftovers(tpm) : [];
    return { tpm, flushed };
  } catch (err) {
    await tpm.close();
    throw err;
  }
}
