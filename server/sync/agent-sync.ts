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
 * authorization view's revision feed and the CA's bundle feed (no polling); it diffs the agent's
 * authorized entries against what it sent only when `lastChangeFor(agent)` moved, so a change to
 * other agents' entries costs this stream one integer comparison. Ends with AGENT_BANNED or
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
      const entries: RegistrationEntry[] = [];
      const deletedEntryIds: string[] = [];
      const changeAt = deps.view.lastChangeFor(agentId);
      if (changeAt > seenChangeAt) {
        seenChangeAt = changeAt;
        const now = new Map(deps.view.authorizedEntries(agentId).map((e) => [e.id, e]));
        for (const [id, entry] of now) {
          if (sent.get(id) !== entry.revision) entries.push(entry);
        }
        for (const id of sent.keys()) if (!now.has(id)) deletedEntryIds.push(id);
        sent.clear();
        for (const [id, entry] of now) sent.set(id, entry.revision);
      }
      const bundle = deps.caManager.bundle;
      const bundleChanged = bundle.sequence !== bundleSequence;
      bundleSequence = bundle.sequence;
      if (entries.length > 0 || deletedEntryIds.length > 0 || bundleChanged) {
        yield {
          revision: deps.view.revision,
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
 * The full state, or for an agent resuming from `fromRevision` only what changed since: entries
 * changed since then that it may issue now, and those changed that it may not (deleted, or no
 * longer authorized). A full state instead when the log was pruned past the revision, when the
 * agent's node record changed since (its selectors decide node-alias matches), or when a
 * node-alias entry changed (either may change which older entries apply).
 */
async function initialState(deps: AgentSyncDeps, agentId: string, fromRevision: number): Promise<SyncUpdate> {
  const full = (): SyncUpdate => ({
    revision: deps.view.revision,
    full: true,
    entries: deps.view.authorizedEntries(agentId),
    deletedEntryIds: [],
    bundle: deps.caManager.bundle,
  });
  if (fromRevision <= 0) return full();
  const changed = new Set<string>();
  let from = fromRevision;
  for (;;) {
    const since = await deps.datastore.changesSince(from, { limit: 5000 });
    if (since.status === "resync_needed") return full();
    for (const change of since.changes) {
      if ("node" in change) {
        if (change.node.spiffeId.toString() === agentId) return full();
      } else if (change.entry.node) {
        return full();
      } else {
        changed.add(change.entry.id);
      }
    }
    const last = since.changes.at(-1);
    if (!since.more || last === undefined) {
      await deps.view.waitFor(since.currentRevision);
      break;
    }
    from = last.revision;
  }
  const entries: RegistrationEntry[] = [];
  const deletedEntryIds: string[] = [];
  for (const id of changed) {
    const entry = deps.view.entry(id);
    if (entry !== undefined && deps.view.isAuthorized(agentId, id)) entries.push(entry);
    else deletedEntryIds.push(id);
  }
  return {
    revision: deps.view.revision,
    full: false,
    entries,
    deletedEntryIds,
    bundle: deps.caManager.bundle,
  };
}

function checkNode(view: AuthorizationView, agentId: string): void {
  const node = view.node(agentId);
  if (node === undefined) throw new NodeRequestError("AGENT_EVICTED", `${agentId} was evicted: attest again`);
  if (node.banned) throw new NodeRequestError("AGENT_BANNED", `${agentId} is banned`);
}
