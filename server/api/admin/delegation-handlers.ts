import { systemClock, type Clock } from "../../../common/clock.js";
import type { Logger } from "../../../common/logging/logger.js";
import { SpiffeId } from "../../../common/spiffe/index.js";
import type * as pb from "../../../proto/gen/admin.js";
import type { AuditCaller } from "../../audit/audit-event.js";
import type { AuditSink } from "../../audit/audit-log.js";
import type {
  DelegationStore,
  ElevationFilter,
  IssuedDelegationToken,
  Revocation,
} from "../../datastore/delegation.js";
import { REVOCATION_KINDS } from "../../datastore/delegation-checks.js";
import { DatastoreError } from "../../datastore/errors.js";
import type { Revoker } from "../../delegation/ports.js";
import { invalidRequest } from "./admin-error.js";
import type { AdminMethod } from "./admin-handlers.js";
import { DelegationAdminError } from "./delegation-admin-error.js";
import {
  elevationStateOf,
  isRevocationKind,
  toDelegationTokenMessage,
  toElevationRequestMessage,
  toRevocationMessage,
} from "./delegation-wire.js";
import { decideElevation, noElevationRequest, type ElevationVerdict } from "./elevation-decision.js";

/** An approval holds at most this long: a person re-approves daily, never "for good". */
export const MAX_APPROVAL_TTL_SECONDS = 24 * 3600;
/** Elevation requests one list answers: the default and the most. */
export const DEFAULT_REQUEST_LIST_LIMIT = 100;
export const MAX_REQUEST_LIST_LIMIT = 1000;
/** Delegation tokens one list (or a token's descendants) answers: the default and the most. */
export const DEFAULT_TOKEN_LIST_LIMIT = 1000;
export const MAX_TOKEN_LIST_LIMIT = 10_000;
/** Ids, jtis, users and SPIFFE IDs: at most this many bytes (UTF-8), as the datastore keeps them. */
const MAX_VALUE_BYTES = 1024;
/** Notes: at most this many characters (the datastore keeps up to 1024). */
const MAX_NOTE_LENGTH = 1000;

const REQUEST_STATUSES = ["pending", "approved", "denied", "expired", "all"] as const;
type RequestStatusFilter = (typeof REQUEST_STATUSES)[number];

export interface DelegationAdminDeps {
  audit: AuditSink;
  logger: Logger;
  clock?: Clock;
  /** The datastore's delegation records: requests, issued tokens, revocations. */
  datastore: DelegationStore;
  /** The revocation service; absent (no `delegation` block): RevokeDelegation answers DELEGATION_NOT_CONFIGURED. */
  revoker?: Revoker;
}

/** The operator's side of delegation (docs/delegation.md "Operating delegation"). */
export function delegationMethods(deps: DelegationAdminDeps) {
  const clock = deps.clock ?? systemClock;
  const store = deps.datastore;
  const revocationsInForce = async (nowMs: number): Promise<readonly Revocation[]> => {
    const since = await store.revocationsSince(0, nowMs);
    // Nothing is ahead of 0: a reset here is a datastore fault, and an empty view would hide revocations.
    if (since.status === "reset") {
      throw new DatastoreError("QUERY_FAILED", "the datastore answered a reset to revocations since 0");
    }
    return since.revocations;
  };
  const decide = async (
    id: string,
    verdict: ElevationVerdict,
    note: string,
    nowMs: number,
    caller: AuditCaller,
  ) =>
    toElevationRequestMessage(
      await decideElevation(
        { store, audit: deps.audit, logger: deps.logger },
        { id, verdict, note: note === "" ? undefined : note, nowMs, caller },
      ),
      nowMs,
    );

  return {
    listElevationRequests: (async (req) => {
      const status = requestStatusOf(req.status);
      const limit = limitOf(req.limit, DEFAULT_REQUEST_LIST_LIMIT, MAX_REQUEST_LIST_LIMIT);
      const nowMs = clock.nowMs();
      // The datastore lists no expired request as pending, and has no filter for expired ones.
      const filter: ElevationFilter = status === "all" || status === "expired" ? {} : { status };
      const found = await store.listElevationRequests(filter, limit + 1);
      const shown = found
        .slice(0, limit)
        .filter((r) => status === "all" || elevationStateOf(r, nowMs) === status);
      return {
        requests: shown.map((r) => toElevationRequestMessage(r, nowMs)),
        truncated: found.length > limit,
        nowMs,
      };
    }) satisfies AdminMethod<pb.ListElevationRequestsRequest, pb.ListElevationRequestsResponse>,
    getElevationRequest: (async (req) => {
      const id = textOf("id", req.id);
      const request = await store.getElevationRequest(id);
      if (request === undefined) throw noElevationRequest(id);
      return toElevationRequestMessage(request, clock.nowMs());
    }) satisfies AdminMethod<pb.GetElevationRequestRequest, pb.ElevationRequest>,
    approveElevation: (async (req, caller) => {
      const id = textOf("id", req.id);
      const ttlSeconds = approvalTtlOf(req.ttlSeconds);
      const note = noteOf(req.note);
      const nowMs = clock.nowMs();
      const verdict = { decision: "approved", approvedUntilMs: nowMs + ttlSeconds * 1000 } as const;
      return decide(id, verdict, note, nowMs, caller);
    }) satisfies AdminMethod<pb.ApproveElevationRequest, pb.ElevationRequest>,
    denyElevation: (async (req, caller) =>
      decide(
        textOf("id", req.id),
        { decision: "denied" },
        noteOf(req.note),
        clock.nowMs(),
        caller,
      )) satisfies AdminMethod<pb.DenyElevationRequest, pb.ElevationRequest>,
    listDelegationTokens: (async (req) => {
      const limit = limitOf(req.limit, DEFAULT_TOKEN_LIST_LIMIT, MAX_TOKEN_LIST_LIMIT);
      const filter = {
        subject: optionalTextOf("by_subject", req.bySubject),
        actor: req.byAgent === "" ? undefined : spiffeIdOf("by_agent", req.byAgent),
        chainId: optionalTextOf("by_chain_id", req.byChainId),
      };
      const nowMs = clock.nowMs();
      const found = await store.listDelegationTokens(
        { ...filter, ...(req.includeExpired ? {} : { liveAtMs: nowMs }) },
        limit + 1,
      );
      const revocations = await revocationsInForce(nowMs);
      return {
        tokens: found.slice(0, limit).map((t) => toDelegationTokenMessage(t, revocations)),
        truncated: found.length > limit,
        nowMs,
      };
    }) satisfies AdminMethod<pb.ListDelegationTokensRequest, pb.ListDelegationTokensResponse>,
    getDelegationToken: (async (req) => {
      const jti = textOf("jti", req.jti);
      const token = await store.getDelegationToken(jti);
      if (token === undefined) {
        throw new DatastoreError("NOT_FOUND", `no delegation token has the jti ${JSON.stringify(jti)}`);
      }
      const ancestors: IssuedDelegationToken[] = [];
      const missingAncestors: string[] = [];
      for (const ancestorJti of token.ancestors) {
        const ancestor = await store.getDelegationToken(ancestorJti);
        if (ancestor === undefined) missingAncestors.push(ancestorJti);
        else ancestors.push(ancestor);
      }
      const lineage = await store.listDelegationTokens({ lineageOf: jti }, MAX_TOKEN_LIST_LIMIT + 1);
      const nowMs = clock.nowMs();
      const revocations = await revocationsInForce(nowMs);
      const message = (t: IssuedDelegationToken) => toDelegationTokenMessage(t, revocations);
      return {
        token: message(token),
        ancestors: ancestors.map(message),
        missingAncestors,
        descendants: lineage
          .filter((t) => t.jti !== jti)
          .slice(0, MAX_TOKEN_LIST_LIMIT)
          .map(message),
        nowMs,
      };
    }) satisfies AdminMethod<pb.GetDelegationTokenRequest, pb.DelegationTokenDetail>,
    revokeDelegation: (async (req, caller) => {
      if (!isRevocationKind(req.kind)) {
        throw invalidRequest(
          "kind",
          `${JSON.stringify(req.kind)} is not one of ${REVOCATION_KINDS.join(", ")}`,
        );
      }
      const value =
        req.kind === "agent" ? spiffeIdOf("value", req.value).toString() : textOf("value", req.value);
      if (deps.revoker === undefined) {
        throw new DelegationAdminError(
          "DELEGATION_NOT_CONFIGURED",
          "delegation is not configured: this server has no delegation endpoint, so no delegation token to revoke " +
            "(add a `delegation` block to the server's configuration)",
        );
      }
      return toRevocationMessage(await deps.revoker.revoke({ kind: req.kind, value }, caller));
    }) satisfies AdminMethod<pb.RevokeDelegationRequest, pb.Revocation>,
  };
}

function requestStatusOf(status: string): RequestStatusFilter {
  if (status === "") return "pending";
  if (!(REQUEST_STATUSES as readonly string[]).includes(status)) {
    throw invalidRequest("status", `${JSON.stringify(status)} is not one of ${REQUEST_STATUSES.join(", ")}`);
  }
  return status as RequestStatusFilter;
}

function limitOf(limit: number, defaultLimit: number, max: number): number {
  if (limit === 0) return defaultLimit;
  if (!Number.isSafeInteger(limit) || limit < 0 || limit > max) {
    throw invalidRequest("limit", `must be 1 to ${max}, or 0 for ${defaultLimit}`);
  }
  return limit;
}

function approvalTtlOf(seconds: number): number {
  if (!Number.isSafeInteger(seconds) || seconds <= 0 || seconds > MAX_APPROVAL_TTL_SECONDS) {
    throw invalidRequest(
      "ttl_seconds",
      `an approval holds 1 s to ${MAX_APPROVAL_TTL_SECONDS / 3600} h (${MAX_APPROVAL_TTL_SECONDS} s); got ${seconds}`,
    );
  }
  return seconds;
}

function textOf(field: string, value: string): string {
  if (value === "") throw invalidRequest(field, "required");
  return boundedText(field, value, MAX_VALUE_BYTES);
}

function optionalTextOf(field: string, value: string): string | undefined {
  return value === "" ? undefined : boundedText(field, value, MAX_VALUE_BYTES);
}

function noteOf(note: string): string {
  if (note.length > MAX_NOTE_LENGTH) {
    throw invalidRequest("note", `at most ${MAX_NOTE_LENGTH} characters (got ${note.length})`);
  }
  return boundedText("note", note, 4 * MAX_NOTE_LENGTH);
}

function boundedText(field: string, value: string, maxBytes: number): string {
  const bytes = Buffer.byteLength(value);
  if (bytes > maxBytes) throw invalidRequest(field, `at most ${maxBytes} bytes (got ${bytes})`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(value)) throw invalidRequest(field, "control characters are not allowed");
  return value;
}

function spiffeIdOf(field: string, value: string): SpiffeId {
  const text = textOf(field, value);
  try {
    return SpiffeId.parse(text);
  } catch (err) {
    throw invalidRequest(field, `${JSON.stringify(value)} is not a SPIFFE ID: ${(err as Error).message}`);
  }
}
