import type { Clock } from "../../common/clock.js";
import type { RandomSource } from "../../common/random.js";
import { errorMessage, isHallmarkError } from "../../common/errors.js";
import { parseSelector } from "../../common/selector.js";
import { SpiffeId, type TrustDomain } from "../../common/spiffe/index.js";
import {
  challengeTpm,
  verifyTpmResponse,
  type PendingTpmAttestation,
  type TpmAttestorPolicy,
} from "../../attestors/node/tpm/server.js";
import {
  decodeTpmAttestationRequest,
  decodeTpmChallengeResponse,
  encodeTpmChallenge,
} from "../../attestors/node/tpm/evidence.js";
import type { AuditCaller } from "../audit/audit-event.js";
import type { AuditSink } from "../audit/audit-log.js";
import type { CaManager, IssuedX509Svid } from "../ca/index.js";
import type { Datastore } from "../datastore/index.js";
import type { AuthorizationView } from "../registration/authorization-view.js";
import type { TpmAttestorConfig } from "../config/server-config.js";
import { NodeRequestError } from "../node-auth/node-request-error.js";
import { checkPcrPolicy } from "./attestation-policy.js";

export interface AgentAttestorDeps {
  readonly trustDomain: TrustDomain;
  readonly tpmConfig: TpmAttestorConfig;
  readonly policy: TpmAttestorPolicy;
  readonly agentSvidTtlMs: number;
  readonly caManager: CaManager;
  readonly datastore: Datastore;
  readonly view: AuthorizationView;
  readonly audit: AuditSink;
  readonly clock: Clock;
  readonly random: RandomSource;
}

export interface AttestedAgent {
  readonly agentId: SpiffeId;
  readonly svid: IssuedX509Svid;
  readonly selectors: readonly string[];
}

/**
 * TPM node attestation as the server runs it (flow 1 of the design), between the wire and the
 * verifier: step one judges the EK and AK and returns the encoded challenge; step two verifies the
 * answer, the PCR policy, issues the agent's X509-SVID for the TPM-held key the AK certified, and
 * records the node (a ban wins, checked in the datastore's transaction). Every outcome is audited,
 * a refusal with its typed error code.
 */
export class AgentAttestor {
  constructor(private readonly deps: AgentAttestorDeps) {}

  begin(requestBytes: Buffer, caller: AuditCaller): { challenge: Buffer; pending: PendingTpmAttestation } {
    try {
      const request = decodeTpmAttestationRequest(requestBytes);
      const { challenge, pending } = challengeTpm(request, this.deps.policy, this.deps);
      return { challenge: encodeTpmChallenge(challenge), pending };
    } catch (err) {
      this.refused(err, caller);
      throw err;
    }
  }

  async complete(
    pending: PendingTpmAttestation,
    responseBytes: Buffer,
    caller: AuditCaller,
    options: { signal?: AbortSignal } = {},
  ): Promise<AttestedAgent> {
    const agentId = SpiffeId.fromSegments(this.deps.trustDomain, "hallmark", "agent", "tpm", pending.ekHash);
    try {
      const result = verifyTpmResponse(pending, decodeTpmChallengeResponse(responseBytes));
      checkPcrPolicy(this.deps.tpmConfig, result.pcrValues);
      // Refused here before signing anything; the datastore checks again in the write's transaction.
      if (this.deps.view.node(agentId.toString())?.banned === true)
        throw new NodeRequestError(
          "AGENT_BANNED",
          `${agentId.toString()} is banned: unban it to let it attest`,
        );
      const svid = await this.deps.caManager.issueX509Svid(
        { spiffeId: agentId, publicKey: result.agentKeySpki, ttlMs: this.deps.agentSvidTtlMs },
        options,
      );
      const node = await this.deps.datastore.upsertAttestedNode({
        spiffeId: agentId,
        ekHash: result.ekHash,
        agentKey: result.agentKeySpki,
        svidSerial: svid.serial,
        svidExpiresAtMs: svid.notAfter.getTime(),
        selectors: result.selectors.map(parseSelector),
      });
      // The agent's next calls are checked against the view: it must know this attestation first.
      await this.deps.view.waitFor(node.revision);
      this.deps.audit.record({
        type: "attestation",
        result: "accepted",
        agentId: agentId.toString(),
        ekHash: pending.ekHash,
        caller,
      });
      this.deps.audit.record({
        type: "svid_issued",
        svidType: "x509",
        spiffeId: agentId.toString(),
        serial: svid.serial,
        expiresAt: svid.notAfter.toISOString(),
        agentId: agentId.toString(),
      });
      return { agentId, svid, selectors: result.selectors };
    } catch (err) {
      this.refused(err, caller, pending.ekHash, agentId.toString());
      throw err;
    }
  }

  /** Audits a refused attestation: by the verifier, the datastore, or the stream (a step's deadline). */
  refused(err: unknown, caller: AuditCaller, ekHash?: string, agentId?: string): void {
    this.deps.audit.record({
      type: "attestation",
      result: "refused",
      reason: isHallmarkError(err) ? err.code : "INTERNAL",
      detail: errorMessage(err),
      ...(ekHash === undefined ? {} : { ekHash }),
      ...(agentId === undefined ? {} : { agentId }),
      caller,
    });
  }
}
