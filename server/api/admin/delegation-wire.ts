/** The admin API's delegation messages to and from the datastore's delegation records. */
import type * as pb from "../../../proto/gen/admin.js";
import type {
  ElevationRequest,
  IssuedDelegationToken,
  Revocation,
  RevocationKind,
} from "../../datastore/delegation.js";
import { REVOCATION_KINDS } from "../../datastore/delegation-checks.js";
import { revocationsCovering } from "./revocation-coverage.js";

/** `expired`: still pending in the datastore, but past its deadline, so no longer decidable. */
export type ElevationRequestState = ElevationRequest["status"] | "expired";

export function elevationStateOf(request: ElevationRequest, nowMs: number): ElevationRequestState {
  return request.status === "pending" && request.expiresAtMs <= nowMs ? "expired" : request.status;
}

export function toElevationRequestMessage(request: ElevationRequest, nowMs: number): pb.ElevationRequest {
  return {
    id: request.id,
    subject: request.subject,
    subjectIssuer: request.subjectIssuer,
    actor: request.actor.toString(),
    entryId: request.entryId,
    scopes: [...request.scopes],
    audiences: [...request.audiences],
    reason: request.reason,
    requestedTtlSeconds: Math.ceil(request.requestedTtlMs / 1000),
    createdAtMs: request.createdAtMs,
    expiresAtMs: request.expiresAtMs,
    status: elevationStateOf(request, nowMs),
    decidedAtMs: request.decidedAtMs ?? 0,
    decidedBy: request.decidedBy ?? "",
    note: request.note ?? "",
    approvedUntilMs: request.approvedUntilMs ?? 0,
  };
}

export function toRevocationMessage(revocation: Revocation): pb.Revocation {
  return {
    id: revocation.id,
    kind: revocation.kind,
    value: revocation.value,
    revokedAtMs: revocation.revokedAtMs,
    expiresAtMs: revocation.expiresAtMs,
  };
}

/** The token with the revocations in force that cover it. */
export function toDelegationTokenMessage(
  token: IssuedDelegationToken,
  revocations: readonly Revocation[],
): pb.DelegationToken {
  return {
    jti: token.jti,
    chainId: token.chainId,
    ancestors: [...token.ancestors],
    depth: token.depth,
    subject: token.subject,
    subjectIssuer: token.subjectIssuer,
    actors: token.actors.map((actor) => actor.toString()),
    entryId: token.entryId,
    audiences: [...token.audiences],
    scopes: [...token.scopes],
    issuedAtMs: token.issuedAtMs,
    expiresAtMs: token.expiresAtMs,
    elevationId: token.elevationId ?? "",
    revokedBy: revocationsCovering(token, revocations).map(toRevocationMessage),
  };
}

export function isRevocationKind(kind: string): kind is RevocationKind {
  return (REVOCATION_KINDS as readonly string[]).includes(kind);
}
