/**
 * Which registration entries each agent may issue, kept in memory and updated change by change.
 *
 * An entry is authorized for an agent when its parent is the agent's ID, or a node-alias entry
 * whose selectors are all among the agent's node selectors, or (recursively) another entry already
 * authorized for it. Nothing is materialised per agent (1,000 agents × 100,000 entries would be
 * 10^8 memberships); instead the index keeps the edges (children by parent ID, entries by SPIFFE
 * ID, which aliases each agent matches) so that:
 *
 * - each change costs O(1) map updates, or O(agents) for a node-alias entry, O(aliases) for an agent;
 * - `authorizedEntries(agent)` costs the size of its answer;
 * - `agentsAffectedBy(entry)` (whose Sync stream must hear of a change) walks up the parent chain.
 */
export interface IndexedEntry {
  readonly id: string;
  readonly spiffeId: string;
  readonly parentId: string;
  /** Canonical `type:value` strings (see common/selector.ts). */
  readonly selectors: readonly string[];
  /** A node-alias entry: its selectors are node selectors, its SPIFFE ID a parent for workloads. */
  readonly node: boolean;
}

export interface IndexedAgent {
  readonly agentId: string;
  /** The node selectors attestation proved, canonical strings. */
  readonly selectors: readonly string[];
}

export class AuthorizedEntryIndex {
  readonly #entries = new Map<string, IndexedEntry>();
  readonly #childrenByParent = new Map<string, Set<string>>();
  readonly #entriesBySpiffeId = new Map<string, Set<string>>();
  readonly #aliases = new Map<string, IndexedEntry>();
  readonly #agents = new Map<string, ReadonlySet<string>>();
  readonly #aliasesOfAgent = new Map<string, Set<string>>();
  readonly #agentsOfAlias = new Map<string, Set<string>>();

  get entryCount(): number {
    return this.#entries.size;
  }

  get agentCount(): number {
    return this.#agents.size;
  }

  getEntry(id: string): IndexedEntry | undefined {
    return this.#entries.get(id);
  }

  upsertEntry(entry: IndexedEntry): void {
    if (this.#entries.has(entry.id)) this.removeEntry(entry.id);
    this.#entries.set(entry.id, entry);
    addTo(this.#childrenByParent, entry.parentId, entry.id);
    addTo(this.#entriesBySpiffeId, entry.spiffeId, entry.id);
    if (!entry.node) return;
    this.#aliases.set(entry.id, entry);
    const matching = new Set<string>();
    for (const [agentId, selectors] of this.#agents) {
      if (isSubset(entry.selectors, selectors)) {
        matching.add(agentId);
        addTo(this.#aliasesOfAgent, agentId, entry.id);
      }
    }
    this.#agentsOfAlias.set(entry.id, matching);
  }

  removeEntry(id: string): IndexedEntry | undefined {
    const entry = this.#entries.get(id);
    if (entry === undefined) return undefined;
    this.#entries.delete(id);
    removeFrom(this.#childrenByParent, entry.parentId, id);
    removeFrom(this.#entriesBySpiffeId, entry.spiffeId, id);
    if (entry.node) {
      this.#aliases.delete(id);
      for (const agentId of this.#agentsOfAlias.get(id) ?? []) removeFrom(this.#aliasesOfAgent, agentId, id);
      this.#agentsOfAlias.delete(id);
    }
    return entry;
  }

  upsertAgent(agent: IndexedAgent): void {
    this.removeAgent(agent.agentId);
    const selectors = new Set(agent.selectors);
    this.#agents.set(agent.agentId, selectors);
    const aliases = new Set<string>();
    for (const alias of this.#aliases.values()) {
      if (isSubset(alias.selectors, selectors)) {
        aliases.add(alias.id);
        addTo(this.#agentsOfAlias, alias.id, agent.agentId);
      }
    }
    this.#aliasesOfAgent.set(agent.agentId, aliases);
  }

  removeAgent(agentId: string): void {
    if (!this.#agents.delete(agentId)) return;
    for (const aliasId of this.#aliasesOfAgent.get(agentId) ?? [])
      removeFrom(this.#agentsOfAlias, aliasId, agentId);
    this.#aliasesOfAgent.delete(agentId);
  }

  hasAgent(agentId: string): boolean {
    return this.#agents.has(agentId);
  }

  /** Every workload entry the agent may issue (node-alias entries themselves are not issued). */
  authorizedEntries(agentId: string): IndexedEntry[] {
    if (!this.#agents.has(agentId)) return [];
    const roots = [agentId];
    for (const aliasId of this.#aliasesOfAgent.get(agentId) ?? []) {
      const alias = this.#aliases.get(aliasId);
      if (alias !== undefined) roots.push(alias.spiffeId);
    }
    const result: IndexedEntry[] = [];
    const seenParents = new Set<string>(roots);
    const seenEntries = new Set<string>();
    const queue = roots;
    for (let i = 0; i < queue.length; i++) {
      for (const childId of this.#childrenByParent.get(queue[i] as string) ?? []) {
        if (seenEntries.has(childId)) continue;
        seenEntries.add(childId);
        const child = this.#entries.get(childId);
        if (child === undefined || child.node) continue;
        result.push(child);
        if (!seenParents.has(child.spiffeId)) {
          seenParents.add(child.spiffeId);
          queue.push(child.spiffeId);
        }
      }
    }
    return result;
  }

  isAuthorized(agentId: string, entryId: string): boolean {
    const entry = this.#entries.get(entryId);
    if (entry === undefined || entry.node) return false;
    return this.#agentsAbove(entry.parentId).has(agentId);
  }

  /**
   * The agents whose authorized set changes when `entry` is added, changed or removed: for an
   * update, call it with the old and the new version and take both.
   */
  agentsAffectedBy(entry: IndexedEntry): Set<string> {
    if (entry.node) {
      const matching = new Set<string>();
      for (const [agentId, selectors] of this.#agents) {
        if (isSubset(entry.selectors, selectors)) matching.add(agentId);
      }
      return matching;
    }
    return this.#agentsAbove(entry.parentId);
  }

  /** Agents that reach `spiffeId` as a root or through authorized entries above it. */
  #agentsAbove(spiffeId: string): Set<string> {
    const agents = new Set<string>();
    const seen = new Set<string>();
    const stack = [spiffeId];
    while (stack.length > 0) {
      const id = stack.pop() as string;
      if (seen.has(id)) continue;
      seen.add(id);
      if (this.#agents.has(id)) agents.add(id);
      for (const entryId of this.#entriesBySpiffeId.get(id) ?? []) {
        const entry = this.#entries.get(entryId);
        if (entry === undefined) continue;
        if (entry.node) for (const agentId of this.#agentsOfAlias.get(entryId) ?? []) agents.add(agentId);
        else stack.push(entry.parentId);
      }
    }
    return agents;
  }
}

function isSubset(needles: readonly string[], haystack: ReadonlySet<string>): boolean {
  return needles.length > 0 && needles.every((s) => haystack.has(s));
}

function addTo(map: Map<string, Set<string>>, key: string, value: string): void {
  let set = map.get(key);
  if (set === undefined) map.set(key, (set = new Set()));
  set.add(value);
}

function removeFrom(map: Map<string, Set<string>>, key: string, value: string): void {
  const set = map.get(key);
  if (set === undefined) return;
  set.delete(value);
  if (set.size === 0) map.delete(key);
}
