/**
 * What one Sync message changes in the cache: a pure function of the message and the cache's current
 * entries, so the rules (what gets a new SVID, what keeps its SVID, what goes) are tested exhaustively.
 */
import type { SpiffeBundle } from "../../common/spiffe/bundle.js";
import type { AgentEntry, CacheUpdate } from "./agent-entry.js";
import { WorkloadCacheError } from "./workload-cache-error.js";

/**
 * - `added`: a new entry; request an SVID at once.
 * - `reissue`: a new revision of the same SPIFFE ID (DNS names, TTL, selectors...): request a new SVID
 *   at once and serve the current one until it arrives, so workloads see no gap.
 * - `replace`: the SPIFFE ID itself changed: the current SVID names an identity the entry no longer
 *   grants, so it is withdrawn at once, as for a deleted entry.
 */
export type EntryChange = "added" | "reissue" | "replace";

export interface UpdatePlan {
  /** Entries whose revision is new to the cache; unchanged ones (a resync) are not listed. */
  readonly upserts: readonly { entry: AgentEntry; change: EntryChange }[];
  /** Ids to drop, all of them present in the cache. */
  readonly removed: readonly string[];
  readonly bundleChanged: boolean;
}

/** The cache's current state as the plan reads it. */
export interface CurrentEntries {
  get(id: string): AgentEntry | undefined;
  /** Read only for a full update. */
  keys(): Iterable<string>;
}

/**
 * The plan for `update`, or an INVALID_CACHE_UPDATE error naming what is wrong (then nothing is to be
 * applied). An incremental update costs in proportion to its own size, not the cache's.
 */
export function planUpdate(
  update: CacheUpdate,
  current: CurrentEntries,
  currentBundle: SpiffeBundle | undefined,
): UpdatePlan {
  checkUpdate(update);
  const upserts: { entry: AgentEntry; change: EntryChange }[] = [];
  for (const entry of update.entries) {
    const change = changeOf(current.get(entry.id), entry);
    if (change !== "unchanged") upserts.push({ entry, change });
  }
  const removed: string[] = [];
  if (update.full) {
    const kept = new Set(update.entries.map((e) => e.id));
    for (const id of current.keys()) if (!kept.has(id)) removed.push(id);
  } else {
    for (const id of update.deletedEntryIds) if (current.get(id) !== undefined) removed.push(id);
  }
  const bundleChanged = update.bundle !== undefined && !sameBundle(currentBundle, update.bundle);
  return { upserts, removed, bundleChanged };
}

/** How `next` differs from what the cache holds for its id. The revision alone says whether it changed. */
export function changeOf(held: AgentEntry | undefined, next: AgentEntry): EntryChange | "unchanged" {
  if (held === undefined) return "added";
  if (held.revision === next.revision) return "unchanged";
  return held.spiffeId.toString() === next.spiffeId.toString() ? "reissue" : "replace";
}

/** Whether two bundles say the same: sequence, trust domain, X.509 roots and JWT keys. */
export function sameBundle(a: SpiffeBundle | undefined, b: SpiffeBundle): boolean {
  if (a === undefined) return false;
  if (a === b) return true;
  return (
    a.sequence === b.sequence &&
    a.refreshHintSeconds === b.refreshHintSeconds &&
    a.trustDomain.name === b.trustDomain.name &&
    a.x509Authorities.length === b.x509Authorities.length &&
    a.x509Authorities.every((der, i) => b.x509Authorities[i]?.equals(der) === true) &&
    a.jwtAuthorities.length === b.jwtAuthorities.length &&
    a.jwtAuthorities.every((k, i) => {
      const other = b.jwtAuthorities[i];
      return other !== undefined && other.keyId === k.keyId && other.publicKey.equals(k.publicKey);
    })
  );
}

function checkUpdate(update: CacheUpdate): void {
  const invalid = (reason: string): never => {
    throw new WorkloadCacheError("INVALID_CACHE_UPDATE", `cannot apply the Sync update: ${reason}`);
  };
  if (update.full && update.deletedEntryIds.length > 0)
    invalid("a full update replaces the whole set and cannot also delete entries");
  const seen = new Set<string>();
  for (const entry of update.entries) {
    if (typeof entry.id !== "string" || entry.id === "") invalid("an entry has an empty id");
    if (seen.has(entry.id)) invalid(`entry ${entry.id} appears twice`);
    seen.add(entry.id);
    if (!Number.isSafeInteger(entry.revision) || entry.revision < 0)
      invalid(`entry ${entry.id} has revision ${entry.revision}, not a non-negative integer`);
    for (const field of ["x509SvidTtlSeconds", "jwtSvidTtlSeconds"] as const) {
      if (!Number.isSafeInteger(entry[field]) || entry[field] < 0)
        invalid(`entry ${entry.id} has ${field} ${entry[field]}, not a non-negative integer`);
    }
  }
  for (const id of update.deletedEntryIds) {
    if (seen.has(id)) invalid(`entry ${id} is both updated and deleted`);
  }
}
