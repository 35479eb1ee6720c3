import {
  TPM_RC,
  TpmOutcomeUnknownError,
  TpmStaleHandleError,
  TpmTransportError,
  isTpmError,
} from "../../native/tpm/index.js";

/**
 * Whether a failed operation lost its footing because the TPM, or our connection to it, was reset
 * under it, so that reconnecting, starting the TPM again and running the operation anew can help:
 *
 * - the TPM could not be reached, or the connection closed mid-command (swtpm restarted, a device
 *   reopened);
 * - the TPM answers TPM_RC_INITIALIZE: it was reset (power cycle, swtpm's CMD_INIT) and waits
 *   for TPM2_Startup;
 * - a handle the operation obtained was flushed by a resource manager's reset;
 * - any TPM error once the connection was reset during the operation (`connectionReset`): the
 *   objects it had loaded are gone, so a command naming them fails (TPM_RC_HANDLE, ...).
 *
 * A timeout is not among them: a TPM that does not answer would only be waited for again.
 */
export function lostToTpmReset(err: unknown, connectionReset: boolean): boolean {
  if (err instanceof TpmOutcomeUnknownError || err instanceof TpmStaleHandleError) return true;
  if (err instanceof TpmTransportError) return err.code === "TPM_TRANSPORT";
  if (isTpmError(err, TPM_RC.INITIALIZE)) return true;
  return connectionReset && isTpmError(err);
}
