import { abortError } from "../../common/errors.js";
import type { SpiffeBundle } from "../../common/spiffe/bundle.js";
import type { CaManager } from "../ca/index.js";
import type { Datastore, RegistrationEntry } from "../datastore/index.js";
import type { AuthorizationView } from "../registration/authorization-view.js";
import { NodeRequestError } from "../node-auth/node-request-error.js";

/** One message of an agent's Sync stream. */
export interface SyncUpdate {
  /** The datastore revision this state reflects: what the agent resumes from. */
  readonly revision: number;
  /** true: `entries` is the agent's whole authorized set; false: a delta on what it had. */
  readonly full: boolean;
  readonly entries: readonly RegistrationEntry[];
  readonly deletedEntryIds: readonly string[];
  /** In a full state, and whenever the bundle changed. */
  readonly bundle: SpiffeBundle | undefined;
}

export interface AgentSyncDeps {
  readonly view: AuthorizationView;
  readonly datastore: Datastore;
  readonly caManager: Pick<CaManager, "bundle" | "subscribeToBundle">;
}

/**
 * One agent's Sync stream (flow 5): its authorized state, then each change, pushed. Woken by the
 * authorization view's revision feed and the CA's bundle feed (no polling); it looks at what changed
 * only when `lastChangeFor(agent)` moved, so a change to other agents' entries costs this stream one
 * integer comparison, and then reads the change log since its last message (a full comparison only
 * when a node record or a node alias changed). Ends with AGENT_BANNED or
 * AGENT_EVICTED when the agent is banned or evicted.
 */
export async function* agentSync(
  deps: AgentSyncDeps,
  agentId: string,
  fromRevision: number,
  signal: AbortSignal,
  /** Throws when the stream's caller is no longer authenticated (checked at every wake). */
  stillAuthenticated: () => void = () => undefined,
): AsyncGenerator<SyncUpdate> {
  let wake: (() => void) | undefined;
  let dirty = true;
  const poke = (): void => {
    dirty = true;
    wake?.();
  };
  const viewSubscription = deps.view.updates.subscribe(poke);
  const bundleSubscription = deps.caManager.subscribeToBundle(poke);
  signal.addEventListener("abort", poke);
  try {
    const sent = new Map<string, number>();
    let seenChangeAt = deps.view.lastChangeFor(agentId);
    checkNode(deps.view, agentId);
    const first = await initialState(deps, agentId, fromRevision);
    for (const entry of first.entries) sent.set(entry.id, entry.revision);
    if (!first.full) {
      // A resume: `sent` must be all the agent holds, not only what changed.
      for (const entry of deps.view.authorizedEntries(agentId)) sent.set(entry.id, entry.revision);
    }
    let bundleSequence = first.bundle?.sequence;
    let revision = first.revision;
    yield first;
    for (;;) {
      while (!dirty) {
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
      }
      dirty = false;
      if (signal.aborted) throw abortError(signal, "syncing the agent");
      checkNode(deps.view, agentId);
      stillAuthenticated();
      let entries: RegistrationEntry[] = [];
      let deletedEntryIds: string[] = [];
      const changeAt = deps.view.lastChangeFor(agentId);
      if (changeAt > seenChangeAt) {
        seenChangeAt = changeAt;
        // What changed since the last message, from the change log: O(changes), not O(entries).
        const delta = await deltaSince(deps, agentId, revision);
        if (delta !== undefined) {
          revision = delta.revision;
          for (const entry of delta.entries) {
            if (sent.get(entry.id) === entry.revision) continue;
            sent.set(entry.id, entry.revision);
            entries.push(entry);
          }
          for (const id of delta.deletedEntryIds) if (sent.delete(id)) deletedEntryIds.push(id);
        } else {
          revision = deps.view.revision;
          ({ entries, deletedEntryIds } = diffAll(deps.view.authorizedEntries(agentId), sent));
        }
      }
      const bundle = deps.caManager.bundle;
      const bundleChanged = bundle.sequence !== bundleSequence;
      bundleSequence = bundle.sequence;
      if (entries.length > 0 || deletedEntryIds.length > 0 || bundleChanged) {
        yield {
          revision,
          full: false,
          entries,
          deletedEntryIds,
          bundle: bundleChanged ? bundle : undefined,
        };
      }
    }
  } finally {
    viewSubscription.close();
    bundleSubscription.close();
    signal.removeEventListener("abort", poke);
  }
}

/**
 * The full state, or for an agent resuming from `fromRevision` only what changed since (deltaSince).
 */
async function initialState(deps: AgentSyncDeps, agentId: string, fromRevision: number): Promise<SyncUpdate> {
  const delta = fromRevision > 0 ? await deltaSince(deps, agentId, fromRevision) : undefined;
  if (delta === undefined) {
    return {
      revision: deps.view.revision,
      full: true,
      entries: deps.view.authorizedEntries(agentId),
      deletedEntryIds: [],
      bundle: deps.caManager.bundle,
    };
  }
  return { ...delta, full: false, bundle: deps.caManager.bundle };
}

/**
 * The entries changed since `fromRevision` that the agent may issue now, and those changed that it
 * may not (deleted, or no longer authorized). Undefined when only a full comparison can tell: the
 * log was pruned past the revision, the agent's node record changed (its selectors decide
 * node-alias matches), or a node-alias entry changed (either may change which older entries apply).
 */
async function deltaSince(
  deps: AgentSyncDeps,
  agentId: string,
  fromRevision: number,
): Promise<{ revision: number; entries: RegistrationEntry[]; deletedEntryIds: string[] } | undefined> {
  const changed = new Set<string>();
  let from = fromRevision;
  let more = true;
  let readThrough = fromRevision;
  while (more) {
    const since = await deps.datastore.changesSince(from, { limit: 5000 });
    if (since.status === "resync_needed") return undefined;
    for (const change of since.changes) {
      if ("node" in change) {
        if (change.node.spiffeId.toString() === agentId) return undefined;
      } else if (change.entry.node) {
        return undefined;
      } else {
        changed.add(change.entry.id);
      }
    }
    from = since.changes.at(-1)?.revision ?? from;
    more = since.more && since.changes.length > 0;
    readThrough = more ? from : since.currentRevision;
  }
  await deps.view.waitFor(readThrough);
  const entries: RegistrationEntry[] = [];
  const deletedEntryIds: string[] = [];
  for (const id of changed) {
    const entry = deps.view.entry(id);
    if (entry !== undefined && deps.view.isAuthorized(agentId, id)) entries.push(entry);
    else deletedEntryIds.push(id);
  }
  // The revision read through, not the view's (which may be further): a change the view applied
  // meanwhile is then read by the next delta, never skipped (`sent` drops what was already sent).
  return { revision: readThrough, entries, deletedEntryIds };
}

/** Every authorized entry against what was sent: what to send, what to withdraw; `sent` is updated. */
function diffAll(
  now: readonly RegistrationEntry[],
  sent: Map<string, number>,
): { entries: RegistrationEntry[]; deletedEntryIds: string[] } {
  const current = new Map(now.map((e) => [e.id, e]));
  const entries = now.filter((e) => sent.get(e.id) !== e.revision);
  const deletedEntryIds = [...sent.keys()].filter((id) => !current.has(id));
  sent.clear();
  for (const e of now) sent.set(e.id, e.revision);
  return { entries, deletedEntryIds };
}

function checkNode(view: AuthorizationView, agentId: string): void {
  const node = view.node(agentId);
  if (node === undefined) throw new NodeRequestError("AGENT_EVICTED", `${agentId} was evicted: attest again`);
  if (node.banned) throw new NodeRequestError("AGENT_BANNED", `${agentId} is banned`);
}
