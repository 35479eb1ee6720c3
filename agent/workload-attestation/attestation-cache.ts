import type { Selector } from "../../common/selector.js";
import type { Peer } from "../../native/peercred/index.js";
import { cachedState } from "./lookup-plan.js";

/** A caller's selectors, kept while the process they describe lives. */
export interface CachedAttestation {
  /** The process the selectors describe, pinned by a pidfd the entry owns. */
  readonly caller: Peer;
  readonly selectors: readonly Selector[];
  /** When its attestors started reading. */
  readonly attestedAtMs: number;
  /** The wants generation its attestors ran under. */
  readonly wantsGeneration: number;
}

/**
 * Cached attestations by caller key, at most `maxEntries` of them; the least recently served goes
 * first when full. Each entry owns its pidfd: dropping an entry (replaced, evicted, swept, cleared)
 * closes it, so the descriptors held are bounded by `maxEntries` too.
 */
export class AttestationCache {
  readonly maxEntries: number;
  /** In least-recently-served order (a Map keeps insertion order; serving re-inserts). */
  readonly #entries = new Map<string, CachedAttestation>();

  constructor(maxEntries: number) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1) {
      throw new RangeError(`the attestation cache size must be a whole number >= 1, not ${maxEntries}`);
    }
    this.maxEntries = maxEntries;
  }

  get size(): number {
    return this.#entries.size;
  }

  get(key: string): CachedAttestation | undefined {
    return this.#entries.get(key);
  }

  /** Marks `key` as just served, the last to be evicted. */
  touch(key: string): void {
    const entry = this.#entries.get(key);
    if (entry === undefined) return;
    this.#entries.delete(key);
    this.#entries.set(key, entry);
  }

  /** Stores `entry` (taking ownership of its pidfd), replacing any under `key`. */
  set(key: string, entry: CachedAttestation): void {
    this.drop(key);
    this.#entries.set(key, entry);
    for (const [oldest] of this.#entries) {
      if (this.#entries.size <= this.maxEntries) break;
      this.drop(oldest);
    }
  }

  drop(key: string): void {
    const entry = this.#entries.get(key);
    if (entry === undefined) return;
    this.#entries.delete(key);
    entry.caller.process.close();
  }

  /** Drops every entry that may no longer be served (expired, or its process exited); returns how many. */
  sweep(nowMs: number, ttlMs: number, wantsGeneration: number): number {
    let dropped = 0;
    for (const [key, entry] of this.#entries) {
      const alive = entry.caller.process.isAlive();
      const facts = { alive, attestedAtMs: entry.attestedAtMs, wantsGeneration: entry.wantsGeneration };
      if (cachedState(facts, nowMs, ttlMs, wantsGeneration) === "fresh") continue;
      this.drop(key);
      dropped++;
    }
    return dropped;
  }

  clear(): void {
    for (const key of [...this.#entries.keys()]) this.drop(key);
  }
}
