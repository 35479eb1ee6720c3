import { HallmarkError } from "../../../common/errors.js";

/**
 * The TPM answered a quote or certification with something the agent must not send on: the wrong
 * kind of attestation, no signature, a certification of another key, or PCRs that kept changing
 * between reading and quoting them.
 */
export type TpmAttestationErrorCode = "TPM_QUOTE_INVALID" | "TPM_PCRS_UNSTABLE" | "TPM_CERTIFY_INVALID";

export class TpmAttestationError extends HallmarkError<TpmAttestationErrorCode> {}
