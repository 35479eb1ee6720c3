/**
 * The map the cache's snapshots carry (entry id → what is served for it), published without copying
 * every entry each time. Entries are spread over SHARDS small maps by a hash of their id; a
 * published map is a read-only view of the shard maps as they were, and the first change to a
 * shard after a publish copies that shard only. A renewal publishing 3 SVIDs with 10,000 entries
 * copies ~30 entries instead of 10,000 (which, in a Map too big for V8's young generation, went
 * straight to the old one: half a MiB of old-generation garbage per publish, once a second while
 * renewals trickle in); the snapshot and the cache share the unchanged shards, rather than each
 * holding a whole Map.
 *
 * Iteration order is by shard, then by insertion within a shard: not the order of insertion overall.
 */
export class EntryViews<V> {
  /** Shards never written share one empty map: a cache of 7 entries does not pay for 1,024 maps. */
  readonly #shards: Map<string, V>[] = new Array<Map<string, V>>(SHARDS).fill(new Map<string, V>());
  /** Per shard: whether its map was made since the last publish (then nothing else holds it, and it may change in place). */
  readonly #owned: boolean[] = new Array<boolean>(SHARDS).fill(false);
  #size = 0;

  get size(): number {
    return this.#size;
  }

  get(id: string): V | undefined {
    return (this.#shards[shardOf(id)] as Map<string, V>).get(id);
  }

  set(id: string, view: V): void {
    const shard = this.#own(shardOf(id));
    const before = shard.size;
    shard.set(id, view);
    this.#size += shard.size - before;
  }

  delete(id: string): void {
    const at = shardOf(id);
    if (!(this.#shards[at] as Map<string, V>).has(id)) return;
    this.#own(at).delete(id);
    this.#size--;
  }

  clear(): void {
    this.#shards.fill(new Map<string, V>());
    this.#owned.fill(false);
    this.#size = 0;
  }

  /** The map as it is now, never to change: later changes go to copies of the shards they touch. */
  publish(): ReadonlyMap<string, V> {
    this.#owned.fill(false);
    return new ShardedMap([...this.#shards], this.#size);
  }

  #own(at: number): Map<string, V> {
    if (!this.#owned[at]) {
      this.#shards[at] = new Map(this.#shards[at]);
      this.#owned[at] = true;
    }
    return this.#shards[at] as Map<string, V>;
  }
}

/**
 * Shards, a power of two: ~10 entries each at 10,000. A batch of 500 new SVIDs still touches ~40 %
 * of them (an initial sync copies about as much as before); a trickle of renewals touches a handful.
 */
const SHARDS = 1024;

/** FNV-1a over the id's UTF-16 code units, folded to a shard. */
function shardOf(id: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) hash = Math.imul(hash ^ id.charCodeAt(i), 0x01000193);
  return (hash >>> 0) & (SHARDS - 1);
}

/** A read-only map over frozen shards (EntryViews never changes a shard it has published). */
class ShardedMap<V> implements ReadonlyMap<string, V> {
  readonly #shards: readonly ReadonlyMap<string, V>[];
  readonly size: number;

  constructor(shards: readonly ReadonlyMap<string, V>[], size: number) {
    this.#shards = shards;
    this.size = size;
  }

  get(id: string): V | undefined {
    return (this.#shards[shardOf(id)] as ReadonlyMap<string, V>).get(id);
  }

  has(id: string): boolean {
    return (this.#shards[shardOf(id)] as ReadonlyMap<string, V>).has(id);
  }

  forEach(callback: (value: V, key: string, map: ReadonlyMap<string, V>) => void, thisArg?: unknown): void {
    for (const shard of this.#shards)
      for (const [key, value] of shard) callback.call(thisArg, value, key, this);
  }

  *entries(): MapIterator<[string, V]> {
    for (const shard of this.#shards) yield* shard.entries();
  }

  *keys(): MapIterator<string> {
    for (const shard of this.#shards) yield* shard.keys();
  }

  *values(): MapIterator<V> {
    for (const shard of this.#shards) yield* shard.values();
  }

  [Symbol.iterator](): MapIterator<[string, V]> {
    return this.entries();
  }
}
