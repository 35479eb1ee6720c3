import type { AuditCaller } from "../../audit/audit-event.js";
import type * as pb from "../../../proto/gen/admin.js";
import type { CaManager } from "../../ca/index.js";
import type { Datastore } from "../../datastore/index.js";
import { healthReport } from "../../health/health-report.js";
import type { RegistrationService } from "../../registration/registration-service.js";
import { invalidRequest } from "./admin-error.js";
import { delegationMethods, type DelegationAdminDeps } from "./delegation-handlers.js";
import {
  fromEntryInput,
  fromEntryPatch,
  fromSelectorQuery,
  pageRequest,
  toAgentMessage,
  toEntryMessage,
  toEntryResult,
} from "./wire.js";

export interface AdminHandlerDeps extends DelegationAdminDeps {
  registration: RegistrationService;
  ca: Pick<CaManager, "bundle" | "bundleJson" | "bundlePem" | "health">;
  datastore: Pick<Datastore, "currentRevision"> & DelegationAdminDeps["datastore"];
}

/** One method of the admin API: a checked request and the kernel-named caller in, the reply out. */
export type AdminMethod<Req, Res> = (request: Req, caller: AuditCaller) => Promise<Res>;

/** The admin API's methods, with gRPC left out: the edge (admin-api.ts) authorizes and maps errors. */
export function adminMethods(deps: AdminHandlerDeps) {
  const { registration, ca } = deps;
  return {
    createEntry: (async (req, caller) =>
      toEntryMessage(
        await registration.createEntry(fromEntryInput(req.entry), caller),
      )) satisfies AdminMethod<pb.CreateEntryRequest, pb.Entry>,
    batchCreateEntries: (async (req, caller) => ({
      results: (
        await registration.createEntries(
          req.entries.map((e, i) => fromEntryInput(e, `entries[${i}]`)),
          caller,
        )
      ).map(toEntryResult),
    })) satisfies AdminMethod<pb.BatchCreateEntriesRequest, pb.BatchEntryResponse>,
    getEntry: (async (req) =>
      toEntryMessage(await registration.getEntry(requireText("id", req.id)))) satisfies AdminMethod<
      pb.GetEntryRequest,
      pb.Entry
    >,
    listEntries: (async (req) => {
      const page = await registration.listEntries(
        {
          spiffeId: req.bySpiffeId || undefined,
          parentId: req.byParentId || undefined,
          selectors: fromSelectorQuery(req.bySelectors, req.match, "by_selectors"),
        },
        pageRequest(req.pageSize, req.pageToken),
      );
      return { entries: page.items.map(toEntryMessage), nextPageToken: page.nextPageToken ?? "" };
    }) satisfies AdminMethod<pb.ListEntriesRequest, pb.ListEntriesResponse>,
    updateEntry: (async (req, caller) =>
      toEntryMessage(await registration.updateEntry(updateOf(req, "patch"), caller))) satisfies AdminMethod<
      pb.UpdateEntryRequest,
      pb.Entry
    >,
    batchUpdateEntries: (async (req, caller) => ({
      results: (
        await registration.updateEntries(
          req.updates.map((u, i) => updateOf(u, `updates[${i}].patch`)),
          caller,
        )
      ).map(toEntryResult),
    })) satisfies AdminMethod<pb.BatchUpdateEntriesRequest, pb.BatchEntryResponse>,
    deleteEntry: (async (req, caller) =>
      toEntryMessage(
        await registration.deleteEntry(requireText("id", req.id), caller),
      )) satisfies AdminMethod<pb.DeleteEntryRequest, pb.Entry>,
    batchDeleteEntries: (async (req, caller) => ({
      results: (await registration.deleteEntries(req.ids, caller)).map(toEntryResult),
    })) satisfies AdminMethod<pb.BatchDeleteEntriesRequest, pb.BatchEntryResponse>,
    listAgents: (async (req) => {
      const page = await registration.listAgents(
        { banned: req.byBanned, selectors: fromSelectorQuery(req.bySelectors, req.match, "by_selectors") },
        pageRequest(req.pageSize, req.pageToken),
      );
      return { agents: page.items.map(toAgentMessage), nextPageToken: page.nextPageToken ?? "" };
    }) satisfies AdminMethod<pb.ListAgentsRequest, pb.ListAgentsResponse>,
    getAgent: (async (req) =>
      toAgentMessage(
        await registration.getAgent(requireText("spiffe_id", req.spiffeId)),
      )) satisfies AdminMethod<pb.AgentRequest, pb.Agent>,
    banAgent: (async (req, caller) =>
      toAgentMessage(
        await registration.banAgent(requireText("spiffe_id", req.spiffeId), caller),
      )) satisfies AdminMethod<pb.AgentRequest, pb.Agent>,
    unbanAgent: (async (req, caller) =>
      toAgentMessage(
        await registration.unbanAgent(requireText("spiffe_id", req.spiffeId), caller),
      )) satisfies AdminMethod<pb.AgentRequest, pb.Agent>,
    evictAgent: (async (req, caller) =>
      toAgentMessage(
        await registration.evictAgent(requireText("spiffe_id", req.spiffeId), caller),
      )) satisfies AdminMethod<pb.AgentRequest, pb.Agent>,
    getBundle: (() =>
      Promise.resolve({
        trustDomain: ca.bundle.trustDomain.name,
        pem: ca.bundlePem(),
        spiffeJson: ca.bundleJson(),
        sequence: ca.bundle.sequence,
      })) satisfies AdminMethod<pb.GetBundleRequest, pb.Bundle>,
    getHealth: (async () => {
      const report = await healthReport(deps);
      return {
        healthy: report.healthy,
        caHealthy: report.ca.healthy,
        caConsecutiveFailures: report.ca.consecutiveFailures,
        caLastError: report.ca.lastError ? `${report.ca.lastError.code}: ${report.ca.lastError.message}` : "",
        datastoreReachable: report.datastore.reachable,
        datastoreError: report.datastore.error ?? "",
      };
    }) satisfies AdminMethod<pb.GetHealthRequest, pb.Health>,
    ...delegationMethods(deps),
  };
}

export type AdminMethods = ReturnType<typeof adminMethods>;

function requireText(field: string, value: string): string {
  if (value === "") throw invalidRequest(field, "required");
  return value;
}

function updateOf(
  req: pb.UpdateEntryRequest,
  patchField: string,
): { id: string; revision: number | undefined; changes: ReturnType<typeof fromEntryPatch> } {
  if (!Number.isSafeInteger(req.revision) || req.revision < 0) {
    throw invalidRequest("revision", "must be 0 (current) or the revision read");
  }
  return {
    id: requireText("id", req.id),
    revision: req.revision === 0 ? undefined : req.revision,
    changes: fromEntryPatch(req.patch, patchField),
  };
}
