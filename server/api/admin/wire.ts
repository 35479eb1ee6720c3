/** The admin API's messages to and from the registration layer's types. */
import { status as GrpcStatus } from "@grpc/grpc-js";
import type { Selector, SelectorMatch } from "../../../common/selector.js";
import { toGrpcError } from "../../../common/grpc/status.js";
import { isHallmarkError } from "../../../common/errors.js";
import * as pb from "../../../proto/gen/admin.js";
import type { AttestedNode, DelegationPolicy, RegistrationEntry } from "../../datastore/index.js";
import type { DelegationRequest } from "../../registration/delegation-policy.js";
import type { EntryRequest } from "../../registration/entry-policy.js";
import type { EntryChanges, ItemResult } from "../../registration/registration-service.js";
import { invalidRequest } from "./admin-error.js";

const MATCH_OF: Readonly<Record<number, SelectorMatch>> = {
  [pb.SelectorMatch.SELECTOR_MATCH_UNSPECIFIED]: "superset",
  [pb.SelectorMatch.SELECTOR_MATCH_EXACT]: "exact",
  [pb.SelectorMatch.SELECTOR_MATCH_SUBSET]: "subset",
  [pb.SelectorMatch.SELECTOR_MATCH_SUPERSET]: "superset",
  [pb.SelectorMatch.SELECTOR_MATCH_ANY]: "any",
};

export function toEntryMessage(entry: RegistrationEntry): pb.Entry {
  return {
    id: entry.id,
    spiffeId: entry.spiffeId.toString(),
    parentId: entry.parentId.toString(),
    selectors: entry.selectors.map(toSelectorMessage),
    x509SvidTtlSeconds: msToSeconds(entry.x509SvidTtlMs),
    jwtSvidTtlSeconds: msToSeconds(entry.jwtSvidTtlMs),
    dnsNames: [...entry.dnsNames],
    hint: entry.hint,
    node: entry.node,
    admin: entry.admin,
    revision: entry.revision,
    createdAtMs: entry.createdAtMs,
    updatedAtMs: entry.updatedAtMs,
    delegation: entry.delegation === undefined ? undefined : toDelegationMessage(entry.delegation),
  };
}

function toDelegationMessage(policy: DelegationPolicy): pb.DelegationPolicy {
  return {
    scopes: [...policy.scopes],
    audiences: [...policy.audiences],
    mayDelegateTo: policy.mayDelegateTo.map((id) => id.toString()),
    maxDepth: policy.maxDepth,
  };
}

/** max_depth 0 on the wire: the policy's default (1). */
function fromDelegationMessage(policy: pb.DelegationPolicy | undefined): DelegationRequest | undefined {
  if (policy === undefined) return undefined;
  return {
    scopes: policy.scopes,
    audiences: policy.audiences,
    mayDelegateTo: policy.mayDelegateTo,
    maxDepth: policy.maxDepth === 0 ? undefined : policy.maxDepth,
  };
}

function fromDelegationPatch(
  patch: pb.DelegationPatch | undefined,
  field: string,
): Partial<DelegationRequest> | null | undefined {
  if (patch === undefined) return undefined;
  const given = {
    scopes: patch.scopes?.values,
    audiences: patch.audiences?.values,
    mayDelegateTo: patch.mayDelegateTo?.values,
    maxDepth: patch.maxDepth,
  };
  if (patch.clear) {
    if (Object.values(given).some((v) => v !== undefined)) {
      throw invalidRequest(`${field}.clear`, "removes the policy: give no other delegation field with it");
    }
    return null;
  }
  return given;
}

export function toAgentMessage(node: AttestedNode): pb.Agent {
  return {
    spiffeId: node.spiffeId.toString(),
    ekHash: node.ekHash,
    selectors: node.selectors.map(toSelectorMessage),
    svidSerial: node.svidSerial,
    svidExpiresAtMs: node.svidExpiresAtMs,
    banned: node.banned,
    revision: node.revision,
    createdAtMs: node.createdAtMs,
    updatedAtMs: node.updatedAtMs,
  };
}

function toSelectorMessage(selector: Selector): pb.Selector {
  return { type: selector.type, value: selector.value };
}

export function fromEntryInput(input: pb.EntryInput | undefined, field = "entry"): EntryRequest {
  if (input === undefined) throw invalidRequest(field, "missing");
  return {
    spiffeId: input.spiffeId,
    parentId: input.parentId,
    selectors: input.selectors.map((s) => ({ type: s.type, value: s.value })),
    x509SvidTtlMs: secondsToMs(`${field}.x509_svid_ttl_seconds`, input.x509SvidTtlSeconds),
    jwtSvidTtlMs: secondsToMs(`${field}.jwt_svid_ttl_seconds`, input.jwtSvidTtlSeconds),
    dnsNames: input.dnsNames,
    hint: input.hint,
    node: input.node,
    delegation: fromDelegationMessage(input.delegation),
  };
}

export function fromEntryPatch(patch: pb.EntryPatch | undefined, field = "patch"): EntryChanges {
  if (patch === undefined) throw invalidRequest(field, "missing");
  const ttl = (name: string, value: number | undefined): { ms?: number } =>
    value === undefined ? {} : { ms: secondsToMs(`${field}.${name}`, value) };
  return {
    spiffeId: patch.spiffeId,
    parentId: patch.parentId,
    selectors: patch.selectors?.selectors.map((s) => ({ type: s.type, value: s.value })),
    x509SvidTtlMs: ttl("x509_svid_ttl_seconds", patch.x509SvidTtlSeconds).ms,
    jwtSvidTtlMs: ttl("jwt_svid_ttl_seconds", patch.jwtSvidTtlSeconds).ms,
    dnsNames: patch.dnsNames?.values,
    hint: patch.hint,
    delegation: fromDelegationPatch(patch.delegation, `${field}.delegation`),
  };
}

export function fromSelectorQuery(
  selectors: readonly pb.Selector[],
  match: pb.SelectorMatch,
  field: string,
): { selectors: readonly Selector[]; match: SelectorMatch } | undefined {
  if (selectors.length === 0) return undefined;
  const chosen = MATCH_OF[match];
  if (chosen === undefined) throw invalidRequest("match", `unknown selector match ${match}`);
  for (const [i, s] of selectors.entries()) {
    if (s.type === "" || s.value === "")
      throw invalidRequest(`${field}[${i}]`, "type and value are required");
  }
  return { selectors: selectors.map((s) => ({ type: s.type, value: s.value })), match: chosen };
}

export function pageRequest(pageSize: number, pageToken: string): { pageSize?: number; pageToken?: string } {
  if (!Number.isSafeInteger(pageSize) || pageSize < 0) throw invalidRequest("page_size", "must be 0 or more");
  return {
    pageSize: pageSize === 0 ? undefined : pageSize,
    pageToken: pageToken === "" ? undefined : pageToken,
  };
}

/** 0 on the wire: the server's default TTL. */
function secondsToMs(field: string, seconds: number): number | undefined {
  if (seconds === 0) return undefined;
  if (!Number.isSafeInteger(seconds) || seconds < 0 || seconds > 10 * 365 * 86_400) {
    throw invalidRequest(field, "must be a whole number of seconds, 0 for the server's default");
  }
  return seconds * 1000;
}

function msToSeconds(ms: number | undefined): number {
  return ms === undefined ? 0 : Math.floor(ms / 1000);
}

/** One batch item's outcome, with the status the whole call would have had. */
export function toEntryResult(result: ItemResult<RegistrationEntry>): pb.EntryResult {
  if (result.ok) {
    return {
      status: { code: GrpcStatus.OK, message: "", errorCode: "" },
      entry: toEntryMessage(result.value),
    };
  }
  const grpc = toGrpcError(result.error);
  return {
    status: {
      code: grpc.code,
      message: grpc.details,
      errorCode: isHallmarkError(result.error) ? result.error.code : "INTERNAL",
    },
    entry: undefined,
  };
}
