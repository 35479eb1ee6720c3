import type { AgentEntry, CachedEntry, WorkloadCacheSnapshot } from "../cache/index.js";
import { entryMatches, selectorKeys, type SelectorKeys } from "./selector-keys.js";

/** One entry that changed between two snapshots, with its selector keys on either side. */
export interface EntryChange {
  readonly id: string;
  /** Absent: the entry is new. */
  readonly before?: readonly string[];
  /** Absent: the entry was removed. */
  readonly after?: readonly string[];
}

export interface SnapshotChanges {
  /** Entries added, removed, or changed in any way (a new revision, a new SVID, an SVID withdrawn). */
  readonly entries: readonly EntryChange[];
  readonly bundleChanged: boolean;
  /** Some entry now uses a selector `type:key` that no entry used before: the wants generation went up. */
  readonly wantsGrew: boolean;
}

interface Filed {
  readonly entry: AgentEntry;
  /** Its selectors as keys, without duplicates. */
  readonly keys: readonly string[];
  /** The one key it is filed under; undefined for an entry without selectors, which matches nobody. */
  readonly anchor: string | undefined;
}

/**
 * The cache's entries, filed for matching callers by selector. Each entry is filed under ONE of its
 * selectors (its anchor), so a caller's candidates are the entries anchored at one of the caller's
 * selectors, each then checked whole: finding a caller's entries costs the candidates looked at,
 * not the number of entries. The anchor is the entry's selector with the fewest entries anchored
 * there when it is filed, so a selector most entries share (`unix:uid:1000`) does not collect them:
 * an entry with `unix:uid:1000` and `unix:path:/srv/app` lands under the path.
 *
 * `update` takes each new cache snapshot and files only what changed. Snapshot maps are immutable
 * and an unchanged entry keeps its object from one snapshot to the next, so the change set is found
 * by identity: one pass over the new snapshot's ids (one map lookup each), once per snapshot for all
 * callers together, plus a pass over the old one only when entries were removed.
 */
export class EntryIndex {
  #snapshot: WorkloadCacheSnapshot = { entries: new Map(), generation: 0 };
  readonly #filed = new Map<string, Filed>();
  readonly #anchored = new Map<string, Set<string>>();
  /** How many entries use each `type:key` (the value up to its first colon), for `wants`. */
  readonly #uses = new Map<string, number>();
  /** During an update: each `type:key` whose count it touched, with the count it had before. */
  #usesBefore: Map<string, number> | undefined;
  #wantsGeneration = 0;

  get snapshot(): WorkloadCacheSnapshot {
    return this.#snapshot;
  }

  get size(): number {
    return this.#filed.size;
  }

  /**
   * Goes up with each update after which some entry uses a selector `type:key` that none used
   * before it: a caller attested while nobody wanted that key may lack selectors it now needs.
   */
  get wantsGeneration(): number {
    return this.#wantsGeneration;
  }

  update(next: WorkloadCacheSnapshot): SnapshotChanges {
    const previous = this.#snapshot;
    this.#snapshot = next;
    const changes: EntryChange[] = [];
    const usesBefore = (this.#usesBefore = new Map<string, number>());
    let kept = 0;
    for (const [id, cached] of next.entries) {
      const before = previous.entries.get(id);
      if (before !== undefined) kept++;
      if (before !== cached) changes.push(this.#file(id, cached.entry));
    }
    if (kept < previous.entries.size) {
      for (const id of previous.entries.keys()) {
        if (!next.entries.has(id)) changes.push(this.#unfile(id));
      }
    }
    this.#usesBefore = undefined;
    // Compared over the whole update: an entry changed in place is unfiled and filed again, which
    // takes its keys' counts through 0 without anything new being wanted.
    let wantsGrew = false;
    for (const [use, before] of usesBefore) if (before === 0 && this.#uses.has(use)) wantsGrew = true;
    if (wantsGrew) this.#wantsGeneration++;
    return { entries: changes, bundleChanged: next.bundle !== previous.bundle, wantsGrew };
  }

  /** The entries whose selectors the caller all holds, by entry id (SPIRE's order: the first is the default identity). */
  match(caller: SelectorKeys): CachedEntry[] {
    const found: CachedEntry[] = [];
    for (const key of caller) {
      const ids = this.#anchored.get(key);
      if (ids === undefined) continue;
      for (const id of ids) {
        const filed = this.#filed.get(id) as Filed;
        if (entryMatches(filed.keys, caller)) found.push(this.#snapshot.entries.get(id) as CachedEntry);
      }
    }
    return found.sort((a, b) => (a.entry.id < b.entry.id ? -1 : a.entry.id > b.entry.id ? 1 : 0));
  }

  /**
   * Whether some entry has a selector of this type whose value starts with `key:` (or is `key`):
   * what an attestor asks before costly work, such as hashing an executable for `unix:sha256:...`.
   */
  wants(type: string, key: string): boolean {
    return (this.#uses.get(`${type}:${key}`) ?? 0) > 0;
  }

  #file(id: string, entry: AgentEntry): EntryChange {
    const filed = this.#filed.get(id);
    if (filed !== undefined && filed.entry === entry) return { id, before: filed.keys, after: filed.keys };
    const keys = [...selectorKeys(entry.selectors)];
    if (filed !== undefined && sameKeys(filed.keys, keys)) {
      this.#filed.set(id, { ...filed, entry });
      return { id, before: filed.keys, after: filed.keys };
    }
    if (filed !== undefined) this.#unfile(id);
    const anchor = this.#anchorFor(keys);
    this.#filed.set(id, { entry, keys, anchor });
    if (anchor !== undefined) addTo(this.#anchored, anchor, id);
    this.#countUses(entry, 1);
    return filed === undefined ? { id, after: keys } : { id, before: filed.keys, after: keys };
  }

  #unfile(id: string): EntryChange {
    const filed = this.#filed.get(id);
    if (filed === undefined) return { id };
    this.#filed.delete(id);
    if (filed.anchor !== undefined) {
      const ids = this.#anchored.get(filed.anchor);
      ids?.delete(id);
      if (ids?.size === 0) this.#anchored.delete(filed.anchor);
    }
    this.#countUses(filed.entry, -1);
    return { id, before: filed.keys };
  }

  #anchorFor(keys: readonly string[]): string | undefined {
    let best: string | undefined;
    let fewest = Infinity;
    for (const key of keys) {
      const count = this.#anchored.get(key)?.size ?? 0;
      if (count < fewest) {
        best = key;
        fewest = count;
      }
    }
    return best;
  }

  #countUses(entry: AgentEntry, delta: 1 | -1): void {
    for (const { type, value } of entry.selectors) {
      const colon = value.indexOf(":");
      const use = `${type}:${colon === -1 ? value : value.slice(0, colon)}`;
      const had = this.#uses.get(use) ?? 0;
      if (this.#usesBefore !== undefined && !this.#usesBefore.has(use)) this.#usesBefore.set(use, had);
      const count = had + delta;
      if (count > 0) this.#uses.set(use, count);
      else this.#uses.delete(use);
    }
  }
}

function sameKeys(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  const set = new Set(a);
  return b.every((key) => set.has(key));
}

function addTo(map: Map<string, Set<string>>, key: string, id: string): void {
  let ids = map.get(key);
  if (ids === undefined) map.set(key, (ids = new Set()));
  ids.add(id);
}
