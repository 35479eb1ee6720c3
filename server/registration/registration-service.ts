import { randomUUID } from "node:crypto";
import { errorMessage, isHallmarkError } from "../../common/errors.js";
import type { Logger } from "../../common/logging/logger.js";
import type { Selector, SelectorMatch } from "../../common/selector.js";
import type { AuditCaller, AuditEvent } from "../audit/audit-event.js";
import type { AuditSink } from "../audit/audit-log.js";
import type {
  AttestedNode,
  BatchResult,
  Datastore,
  DelegationPolicy,
  EntryContent,
  EntryFilter,
  NodeFilter,
  Page,
  PageRequest,
  RegistrationEntry,
} from "../datastore/index.js";
import { DatastoreError } from "../datastore/errors.js";
import type { EntryPolicy } from "./entry-policy.js";
import { type CheckedEntry, type EntryRequest } from "./entry-policy.js";
import { RegistrationError } from "./registration-error.js";
import { widens, type DelegationRequest } from "./delegation-policy.js";
import { findDelegators } from "./delegators.js";

/** The fields of an entry an update may change; absent ones keep the entry's value. */
export interface EntryChanges {
  readonly spiffeId?: string;
  readonly parentId?: string;
  readonly selectors?: readonly Selector[];
  readonly x509SvidTtlMs?: number;
  readonly jwtSvidTtlMs?: number;
  readonly dnsNames?: readonly string[];
  readonly hint?: string;
  /** The fields given replace the policy's; null removes the policy. */
  readonly delegation?: Partial<DelegationRequest> | null;
}

export interface EntryUpdateRequest {
  readonly id: string;
  /** The revision the caller read; undefined: whatever is current. */
  readonly revision?: number;
  readonly changes: EntryChanges;
}

export interface EntryQuery {
  readonly spiffeId?: string;
  readonly parentId?: string;
  readonly selectors?: { readonly selectors: readonly Selector[]; readonly match: SelectorMatch };
}

export interface AgentQuery {
  readonly banned?: boolean;
  readonly selectors?: { readonly selectors: readonly Selector[]; readonly match: SelectorMatch };
}

/** Each item of a batch succeeds or fails on its own. */
export type ItemResult<T> = { ok: true; value: T } | { ok: false; error: unknown };

export const MAX_BATCH_SIZE = 500;

export interface RegistrationServiceOptions {
  datastore: Datastore;
  policy: EntryPolicy;
  audit: AuditSink;
  logger: Logger;
  /** Entry IDs (default: random UUIDs). */
  newId?: () => string;
}

/**
 * Every write an operator makes to entries and agents. Each is checked by the EntryPolicy, then
 * audited, then written: the audit line is in the log before the change can take effect, and a
 * change that cannot be audited is refused (AUDIT_WRITE_FAILED) with nothing written (fail closed).
 * A write the datastore then refuses (a duplicate, a stale revision) is recorded as `admin_refused`
 * with the same entry or agent, so a reader of the log can tell that it did not happen.
 */
export class RegistrationService {
  readonly policy: EntryPolicy;
  readonly #datastore: Datastore;
  readonly #audit: AuditSink;
  readonly #logger: Logger;
  readonly #newId: () => string;

  constructor(options: RegistrationServiceOptions) {
    this.policy = options.policy;
    this.#datastore = options.datastore;
    this.#audit = options.audit;
    this.#logger = options.logger;
    this.#newId = options.newId ?? randomUUID;
  }

  async createEntry(request: EntryRequest, caller: AuditCaller): Promise<RegistrationEntry> {
    const [result] = await this.createEntries([request], caller);
    return unwrap(result);
  }

  /** Checks every item, audits the valid ones, then writes them in one transaction. */
  async createEntries(
    requests: readonly EntryRequest[],
    caller: AuditCaller,
  ): Promise<ItemResult<RegistrationEntry>[]> {
    checkBatch("entries", requests.length);
    const results: ItemResult<RegistrationEntry>[] = [];
    const pending: { index: number; id: string; entry: CheckedEntry }[] = [];
    for (const request of requests) {
      try {
        const entry = this.policy.check(request);
        pending.push({ index: results.length, id: this.#newId(), entry });
        results.push({ ok: false, error: undefined });
      } catch (err) {
        results.push({ ok: false, error: err });
      }
    }
    for (const { id, entry } of pending) this.#record(entryEvent("entry_created", id, entry, caller));
    const written = await this.#datastore.createEntries(pending.map(({ id, entry }) => ({ id, ...entry })));
    pending.forEach(({ index, id, entry }, i) => {
      results[index] = this.#settle("CreateEntry", written[i], caller, {
        entryId: id,
        spiffeId: entry.spiffeId,
      });
    });
    return results;
  }

  getEntry(id: string): Promise<RegistrationEntry> {
    return this.#existingEntry(id);
  }

  listEntries(query: EntryQuery, page: PageRequest = {}): Promise<Page<RegistrationEntry>> {
    const filter: EntryFilter = {
      spiffeId: query.spiffeId ? this.policy.spiffeId("by_spiffe_id", query.spiffeId) : undefined,
      parentId: query.parentId ? this.policy.spiffeId("by_parent_id", query.parentId) : undefined,
      selectors: query.selectors,
    };
    return this.#datastore.listEntries(filter, page);
  }

  async updateEntry(update: EntryUpdateRequest, caller: AuditCaller): Promise<RegistrationEntry> {
    const [result] = await this.updateEntries([update], caller);
    return unwrap(result);
  }

  async updateEntries(
    updates: readonly EntryUpdateRequest[],
    caller: AuditCaller,
  ): Promise<ItemResult<RegistrationEntry>[]> {
    checkBatch("updates", updates.length);
    const results: ItemResult<RegistrationEntry>[] = [];
    const pending: { index: number; id: string; revision: number; entry: CheckedEntry }[] = [];
    for (const update of updates) {
      try {
        const current = await this.#existingEntry(update.id);
        const entry = this.policy.check(merged(current, update.changes));
        if (widens(current.delegation, entry.delegation))
          await this.#refuseWideningOfDelegate(current, entry);
        pending.push({
          index: results.length,
          id: current.id,
          revision: update.revision ?? current.revision,
          entry,
        });
        results.push({ ok: false, error: undefined });
      } catch (err) {
        results.push({ ok: false, error: err });
      }
    }
    for (const { id, entry } of pending) this.#record(entryEvent("entry_updated", id, entry, caller));
    const written = await this.#datastore.updateEntries(
      pending.map(({ id, revision, entry }) => ({ id, revision, set: entryContent(entry) })),
    );
    pending.forEach(({ index, id, entry }, i) => {
      results[index] = this.#settle("UpdateEntry", written[i], caller, {
        entryId: id,
        spiffeId: entry.spiffeId,
      });
    });
    return results;
  }

  async deleteEntry(id: string, caller: AuditCaller): Promise<RegistrationEntry> {
    const [result] = await this.deleteEntries([id], caller);
    return unwrap(result);
  }

  async deleteEntries(ids: readonly string[], caller: AuditCaller): Promise<ItemResult<RegistrationEntry>[]> {
    checkBatch("ids", ids.length);
    const results: ItemResult<RegistrationEntry>[] = [];
    const pending: { index: number; entry: RegistrationEntry }[] = [];
    for (const id of ids) {
      try {
        const entry = await this.#existingEntry(id);
        pending.push({ index: results.length, entry });
        results.push({ ok: false, error: undefined });
      } catch (err) {
        results.push({ ok: false, error: err });
      }
    }
    for (const { entry } of pending) this.#record(entryEvent("entry_deleted", entry.id, entry, caller));
    const written = await this.#datastore.deleteEntries(pending.map(({ entry }) => entry.id));
    pending.forEach(({ index, entry }, i) => {
      results[index] = this.#settle("DeleteEntry", written[i], caller, {
        entryId: entry.id,
        spiffeId: entry.spiffeId,
      });
    });
    return results;
  }

  listAgents(query: AgentQuery, page: PageRequest = {}): Promise<Page<AttestedNode>> {
    const filter: NodeFilter = { banned: query.banned, selectors: query.selectors };
    return this.#datastore.listAttestedNodes(filter, page);
  }

  getAgent(agentId: string): Promise<AttestedNode> {
    return this.#existingAgent(agentId);
  }

  banAgent(agentId: string, caller: AuditCaller): Promise<AttestedNode> {
    return this.#agentWrite("BanAgent", "agent_banned", agentId, caller, (id) =>
      this.#datastore.setNodeBanned(id, true),
    );
  }

  unbanAgent(agentId: string, caller: AuditCaller): Promise<AttestedNode> {
    return this.#agentWrite("UnbanAgent", "agent_unbanned", agentId, caller, (id) =>
      this.#datastore.setNodeBanned(id, false),
    );
  }

  evictAgent(agentId: string, caller: AuditCaller): Promise<AttestedNode> {
    return this.#agentWrite("EvictAgent", "agent_evicted", agentId, caller, (id) =>
      this.#datastore.evictAttestedNode(id),
    );
  }

  async #agentWrite(
    method: string,
    type: "agent_banned" | "agent_unbanned" | "agent_evicted",
    agentId: string,
    caller: AuditCaller,
    write: (id: AttestedNode["spiffeId"]) => Promise<AttestedNode>,
  ): Promise<AttestedNode> {
    const node = await this.#existingAgent(agentId);
    this.#record({ type, agentId: node.spiffeId.toString(), caller });
    try {
      return await write(node.spiffeId);
    } catch (err) {
      this.#recordRefusal(method, err, caller, { agentId: node.spiffeId.toString() });
      throw err;
    }
  }

  /**
   * hallmark's entries have no parent chain of policies (an entry's parent is an agent or node
   * alias), so "widening" means: giving more to an entry that another entry already delegates to.
   * That operator approved passing delegations on to the entry as it was; a wider sub-agent must be
   * approved again, by removing it from the delegator's may_delegate_to first and naming it anew.
   */
  async #refuseWideningOfDelegate(current: RegistrationEntry, next: CheckedEntry): Promise<void> {
    const delegators = await findDelegators(this.#datastore, [current.spiffeId, next.spiffeId]);
    const others = delegators.filter((entry) => entry.id !== current.id);
    if (others.length === 0) return;
    throw new RegistrationError(
      "DELEGATION_WIDENED",
      "delegation",
      `the update widens the policy of ${next.spiffeId.toString()}, which entry ${others
        .map((e) => `${e.id} (${e.spiffeId.toString()})`)
        .join(", ")} may delegate to: remove it from that may_delegate_to first, then name it again`,
    );
  }

  async #existingEntry(id: string): Promise<RegistrationEntry> {
    if (typeof id !== "string" || id === "") {
      throw new RegistrationError("INVALID_ENTRY_ID", "id", "give the entry's id");
    }
    const entry = await this.#datastore.getEntry(id);
    if (entry === undefined)
      throw new DatastoreError("NOT_FOUND", `no entry has the id ${JSON.stringify(id)}`);
    return entry;
  }

  async #existingAgent(agentId: string): Promise<AttestedNode> {
    const id = this.policy.agentId(agentId);
    const node = await this.#datastore.getAttestedNode(id);
    if (node === undefined) throw new DatastoreError("NOT_FOUND", `no attested agent ${id.toString()}`);
    return node;
  }

  /** Fail closed: an event that cannot be recorded stops the operation before anything is written. */
  #record(event: AuditEvent): void {
    this.#audit.record(event);
  }

  #settle(
    method: string,
    result: BatchResult<RegistrationEntry> | undefined,
    caller: AuditCaller,
    subject: { entryId: string; spiffeId: { toString(): string } },
  ): ItemResult<RegistrationEntry> {
    if (result?.ok) return { ok: true, value: result.value };
    const error = result?.error ?? new DatastoreError("QUERY_FAILED", "the datastore returned no result");
    this.#recordRefusal(method, error, caller, { entryId: subject.entryId });
    return { ok: false, error };
  }

  /** Best effort: the change was not made, so nothing depends on this line being written. */
  #recordRefusal(
    method: string,
    err: unknown,
    caller: AuditCaller,
    subject: { entryId?: string; agentId?: string },
  ): void {
    try {
      this.#audit.record({
        type: "admin_refused",
        method,
        reason: isHallmarkError(err) ? err.code : "INTERNAL",
        ...subject,
        caller,
      });
    } catch (auditErr) {
      this.#logger.error(
        { method, reason: errorMessage(err), auditError: errorMessage(auditErr) },
        "could not audit a refused write",
      );
    }
  }
}

function checkBatch(field: string, size: number): void {
  if (size > MAX_BATCH_SIZE) {
    throw new RegistrationError(
      "BATCH_TOO_LARGE",
      field,
      `${size} items; at most ${MAX_BATCH_SIZE} per request`,
    );
  }
}

function unwrap<T>(result: ItemResult<T> | undefined): T {
  if (result === undefined) throw new DatastoreError("QUERY_FAILED", "no result");
  if (!result.ok) throw result.error;
  return result.value;
}

function merged(current: RegistrationEntry, changes: EntryChanges): EntryRequest {
  return {
    spiffeId: changes.spiffeId ?? current.spiffeId.toString(),
    parentId: changes.parentId ?? current.parentId.toString(),
    selectors: changes.selectors ?? current.selectors,
    x509SvidTtlMs: changes.x509SvidTtlMs ?? current.x509SvidTtlMs,
    jwtSvidTtlMs: changes.jwtSvidTtlMs ?? current.jwtSvidTtlMs,
    dnsNames: changes.dnsNames ?? current.dnsNames,
    hint: changes.hint ?? current.hint,
    node: current.node,
    delegation: mergedDelegation(current.delegation, changes.delegation),
  };
}

function mergedDelegation(
  current: DelegationPolicy | undefined,
  changes: Partial<DelegationRequest> | null | undefined,
): DelegationRequest | undefined {
  if (changes === null) return undefined;
  if (changes === undefined && current === undefined) return undefined;
  return {
    scopes: changes?.scopes ?? current?.scopes ?? [],
    audiences: changes?.audiences ?? current?.audiences ?? [],
    mayDelegateTo: changes?.mayDelegateTo ?? current?.mayDelegateTo.map((id) => id.toString()) ?? [],
    maxDepth: changes?.maxDepth ?? current?.maxDepth,
  };
}

function entryContent(entry: CheckedEntry): Partial<EntryContent> {
  return { ...entry };
}

function entryEvent(
  type: "entry_created" | "entry_updated" | "entry_deleted",
  entryId: string,
  entry: Pick<CheckedEntry, "spiffeId" | "parentId" | "delegation">,
  caller: AuditCaller,
): AuditEvent {
  const policy = entry.delegation;
  return {
    type,
    entryId,
    spiffeId: entry.spiffeId.toString(),
    parentId: entry.parentId.toString(),
    ...(policy === undefined
      ? {}
      : {
          delegation: {
            scopes: policy.scopes,
            audiences: policy.audiences,
            mayDelegateTo: policy.mayDelegateTo.map((id) => id.toString()),
            maxDepth: policy.maxDepth,
          },
        }),
    caller,
  };
}
