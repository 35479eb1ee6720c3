import type { SpiffeId } from "../../common/spiffe/index.js";
import type { Selector } from "../../common/selector.js";
import { invalidRecord } from "./errors.js";
import {
  checkEkHash,
  checkSelectorSet,
  checkSerial,
  checkSpiffeId,
  checkSpki,
  checkTimestamp,
} from "./validate.js";

/** What a successful TPM attestation proved about a host, recorded when its agent's SVID is issued. */
export interface NodeAttestation {
  /** `spiffe://<td>/hallmark/agent/tpm/<ek hash>`. */
  readonly spiffeId: SpiffeId;
  /** SHA-256 of the EK public key (DER SPKI), lower-case hex. */
  readonly ekHash: string;
  /** The TPM-held agent key, DER SubjectPublicKeyInfo: the only key that proves this agent. */
  readonly agentKey: Buffer;
  /** Serial of the agent's current X509-SVID, lower-case hex. */
  readonly svidSerial: string;
  readonly svidExpiresAtMs: number;
  /** The node selectors (canonical set). */
  readonly selectors: readonly Selector[];
}

export interface AttestedNode extends NodeAttestation {
  /** A banned node may not attest until unbanned; its SVID is refused at once. */
  readonly banned: boolean;
  /** The change-log revision of the node's last write. */
  readonly revision: number;
  readonly createdAtMs: number;
  readonly updatedAtMs: number;
}

export function checkNodeAttestation(input: NodeAttestation): NodeAttestation {
  if (typeof input !== "object" || input === null) throw invalidRecord("node", "not an object");
  return Object.freeze({
    spiffeId: checkSpiffeId("node spiffeId", input.spiffeId),
    ekHash: checkEkHash(input.ekHash),
    agentKey: checkSpki(input.agentKey),
    svidSerial: checkSerial(input.svidSerial),
    svidExpiresAtMs: checkTimestamp("node svidExpiresAtMs", input.svidExpiresAtMs),
    selectors: checkSelectorSet("node selectors", input.selectors),
  });
}
