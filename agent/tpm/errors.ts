import { HallmarkError } from "../../common/errors.js";

/**
 * - AGENT_TPM_UNAVAILABLE: the TPM cannot be reached, or it went away and reconnecting to it (and
 *   starting it again) failed; the cause says what the transport or the TPM answered.
 * - AGENT_TPM_CLOSED: the agent closed its TPM (it is shutting down); nothing more is sent.
 * - AGENT_TPM_SESSION_CLOSED: an attestation session was used after it was closed.
 */
export type AgentTpmErrorCode = "AGENT_TPM_UNAVAILABLE" | "AGENT_TPM_CLOSED" | "AGENT_TPM_SESSION_CLOSED";

export class AgentTpmError extends HallmarkError<AgentTpmErrorCode> {}
