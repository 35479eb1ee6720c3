import type { Logger } from "../../common/logging/logger.js";
import { formatSelector } from "../../common/selector.js";
import { Publisher } from "../../common/subscription.js";
import { errorMessage } from "../../common/errors.js";
import type { Change, Datastore, Page, PageRequest, RevisionFeed } from "../datastore/index.js";
import type { AttestedNode, RegistrationEntry } from "../datastore/index.js";
import { AuthorizedEntryIndex, type IndexedEntry } from "./authorized-index.js";

/**
 * The server's in-memory view of who may issue what: every entry and attested node, loaded once
 * from the datastore and then kept current from its change log, change by change (the index is
 * never rebuilt unless the log was pruned past what the view had seen).
 *
 * Consumers (Sync streams, SVID issuance) read it synchronously. They learn of changes through
 * `updates`, a latest-value feed of the view's revision, and ask `lastChangeFor(agent)`: the
 * revision at which that agent's authorized entries or its node record last changed. Counters only
 * grow, so a stream that was too slow to see an intermediate revision still sees that it is behind.
 */
export class AuthorizationView {
  readonly #datastore: Datastore;
  readonly #logger: Logger;
  #index = new AuthorizedEntryIndex();
  readonly #entries = new Map<string, RegistrationEntry>();
  readonly #nodes = new Map<string, AttestedNode>();
  readonly #lastChangeFor = new Map<string, number>();
  readonly #updates = new Publisher<number>({
    onListenerError: (err) =>
      this.#logger.error({ err: errorMessage(err) }, "an authorization view listener failed"),
  });
  #revision = 0;
  /** Revision at which every agent's view last changed at once (a full reload). */
  #everyoneChangedAt = 0;
  #catchingUp: Promise<void> | undefined;
  #again = false;
  #closed = false;
  #unsubscribe: (() => void) | undefined;

  private constructor(datastore: Datastore, logger: Logger) {
    this.#datastore = datastore;
    this.#logger = logger;
  }

  static async open(datastore: Datastore, options: { logger: Logger }): Promise<AuthorizationView> {
    const view = new AuthorizationView(datastore, options.logger);
    await view.#reload();
    // A failed catch-up is logged here; the next revision (or a caller's waitFor, which sees the error) retries.
    const subscription = datastore.revisions.subscribe(() =>
      view
        .#catchUp()
        .catch((err: unknown) =>
          view.#logger.error(
            { err: errorMessage(err) },
            "the authorization view could not read the change log",
          ),
        ),
    );
    view.#unsubscribe = () => subscription.close();
    return view;
  }

  /** The datastore revision the view reflects. */
  get revision(): number {
    return this.#revision;
  }

  get updates(): RevisionFeed {
    return this.#updates;
  }

  /** The revision at which `agentId`'s authorized entries or node record last changed. */
  lastChangeFor(agentId: string): number {
    return Math.max(this.#lastChangeFor.get(agentId) ?? 0, this.#everyoneChangedAt);
  }

  /** How many entries and attested nodes the view holds: O(1), for the metrics gauges. */
  counts(): { entries: number; agents: number; bannedAgents: number } {
    // Every node is in the index unless banned (#putNode), so the difference is the banned ones.
    const agents = this.#index.agentCount;
    return { entries: this.#entries.size, agents, bannedAgents: this.#nodes.size - agents };
  }

  /** The attested node, banned or not; undefined when unknown or evicted. */
  node(agentId: string): AttestedNode | undefined {
    return this.#nodes.get(agentId);
  }

  entry(id: string): RegistrationEntry | undefined {
    return this.#entries.get(id);
  }

  /** The workload entries the agent may issue; none for an unknown or banned node. */
  authorizedEntries(agentId: string): RegistrationEntry[] {
    return this.#index.authorizedEntries(agentId).map((e) => this.#entries.get(e.id) as RegistrationEntry);
  }

  isAuthorized(agentId: string, entryId: string): boolean {
    return this.#index.isAuthorized(agentId, entryId);
  }

  /**
   * Resolves once the view reflects at least `revision` (e.g. a write this process just made); rejects
   * with the datastore's error when the change log cannot be read, rather than retrying in a loop.
   */
  async waitFor(revision: number): Promise<void> {
    while (this.#revision < revision && !this.#closed) {
      await this.#catchUp();
      if (this.#revision < revision) await new Promise((resolve) => setImmediate(resolve));
    }
  }

  close(): void {
    this.#closed = true;
    this.#unsubscribe?.();
  }

  /** Applies what the change log holds past the view's revision; one catch-up at a time. */
  #catchUp(): Promise<void> {
    if (this.#catchingUp !== undefined) {
      this.#again = true;
      return this.#catchingUp;
    }
    this.#catchingUp = (async () => {
      try {
        do {
          this.#again = false;
          await this.#applyPending();
        } while (this.#again && !this.#closed);
      } finally {
        this.#catchingUp = undefined;
      }
    })();
    return this.#catchingUp;
  }

  async #applyPending(): Promise<void> {
    for (;;) {
      if (this.#closed) return;
      const result = await this.#datastore.changesSince(this.#revision, { limit: 1000 });
      if (result.status === "resync_needed") {
        this.#logger.warn(
          { reason: result.reason, revision: this.#revision },
          "change log gap: reloading the authorization view",
        );
        await this.#reload();
        return;
      }
      for (const change of result.changes) this.#apply(change);
      if (result.changes.length > 0) this.#updates.publish(this.#revision);
      if (!result.more) {
        // Read in one transaction: nothing up to currentRevision was left out. A revision without a
        // change (a delegation revocation takes one) is reached here, or waitFor would never end.
        this.#revision = Math.max(this.#revision, result.currentRevision);
        return;
      }
    }
  }

  async #reload(): Promise<void> {
    // Both lists are read at a revision; changes after the older of the two are applied on top, and
    // applying a change the lists already hold is harmless (upserts and removals are idempotent).
    const entries = await readAll((page) => this.#datastore.listEntries({}, page));
    const nodes = await readAll((page) => this.#datastore.listAttestedNodes({}, page));
    this.#index = new AuthorizedEntryIndex();
    this.#entries.clear();
    this.#nodes.clear();
    for (const entry of entries.items) this.#putEntry(entry);
    for (const node of nodes.items) this.#putNode(node);
    const revision = Math.min(entries.revision, nodes.revision);
    this.#revision = revision;
    this.#everyoneChangedAt = this.#revision;
    this.#updates.publish(this.#revision);
    await this.#applyPending();
  }

  #apply(change: Change): void {
    const affected = new Set<string>();
    if ("entry" in change) {
      const old = this.#entries.get(change.entry.id);
      if (old !== undefined) for (const a of this.#index.agentsAffectedBy(indexed(old))) affected.add(a);
      if (change.kind === "entry_deleted") {
        this.#entries.delete(change.entry.id);
        this.#index.removeEntry(change.entry.id);
      } else {
        this.#putEntry(change.entry);
        for (const a of this.#index.agentsAffectedBy(indexed(change.entry))) affected.add(a);
      }
    } else {
      const agentId = change.node.spiffeId.toString();
      affected.add(agentId);
      if (change.kind === "node_evicted") {
        this.#nodes.delete(agentId);
        this.#index.removeAgent(agentId);
      } else {
        this.#putNode(change.node);
      }
    }
    this.#revision = Math.max(this.#revision, change.revision);
    for (const agentId of affected) this.#lastChangeFor.set(agentId, change.revision);
  }

  #putEntry(entry: RegistrationEntry): void {
    this.#entries.set(entry.id, entry);
    this.#index.upsertEntry(indexed(entry));
  }

  /** A banned node keeps its record (so its stream can be told) but is authorized for nothing. */
  #putNode(node: AttestedNode): void {
    const agentId = node.spiffeId.toString();
    this.#nodes.set(agentId, node);
    if (node.banned) this.#index.removeAgent(agentId);
    else this.#index.upsertAgent({ agentId, selectors: node.selectors.map(formatSelector) });
  }
}

/** Every record of a paged datastore list, and the oldest revision any page was read at. */
async function readAll<T>(
  list: (page: PageRequest) => Promise<Page<T>>,
): Promise<{ items: T[]; revision: number }> {
  const items: T[] = [];
  let revision = Number.MAX_SAFE_INTEGER;
  let pageToken: string | undefined;
  do {
    const page = await list({ pageSize: 5000, ...(pageToken === undefined ? {} : { pageToken }) });
    items.push(...page.items);
    revision = Math.min(revision, page.revision);
    pageToken = page.nextPageToken;
  } while (pageToken !== undefined);
  return { items, revision };
}

function indexed(entry: RegistrationEntry): IndexedEntry {
  return {
    id: entry.id,
    spiffeId: entry.spiffeId.toString(),
    parentId: entry.parentId.toString(),
    selectors: entry.selectors.map(formatSelector),
    node: entry.node,
  };
}
