import type { SnapshotChanges } from "./entry-index.js";
import { entryMatches, type SelectorKeys } from "./selector-keys.js";

/** An open stream as change routing sees it: the caller's selectors, and how to look again. */
export interface Watcher {
  readonly caller: SelectorKeys;
  /** Looks at the current snapshot and sends a message if the caller's answer changed. */
  refresh(): void;
  /** Ends the stream with the error's status. */
  fail(err: unknown): void;
}

/**
 * Open streams filed under each of their caller's selectors, so that a change reaches only the
 * streams it can affect: those whose caller holds every selector of the changed entry (before or
 * after the change). They are found among the streams filed under the entry's rarest selector, each
 * checked whole. A bundle change affects every stream.
 */
export class WatcherIndex<W extends Watcher = Watcher> {
  readonly #all = new Set<W>();
  readonly #bySelector = new Map<string, Set<W>>();

  get size(): number {
    return this.#all.size;
  }

  add(watcher: W): void {
    if (this.#all.has(watcher)) return;
    this.#all.add(watcher);
    for (const key of watcher.caller) {
      let watchers = this.#bySelector.get(key);
      if (watchers === undefined) this.#bySelector.set(key, (watchers = new Set()));
      watchers.add(watcher);
    }
  }

  delete(watcher: W): void {
    if (!this.#all.delete(watcher)) return;
    for (const key of watcher.caller) {
      const watchers = this.#bySelector.get(key);
      watchers?.delete(watcher);
      if (watchers?.size === 0) this.#bySelector.delete(key);
    }
  }

  /** Every open stream (a copy: refreshing one may end it, which removes it from the index). */
  all(): W[] {
    return [...this.#all];
  }

  affectedBy(changes: SnapshotChanges): W[] {
    if (changes.bundleChanged) return this.all();
    const affected = new Set<W>();
    for (const { before, after } of changes.entries) {
      if (before !== undefined) this.#collect(before, affected);
      if (after !== undefined && after !== before) this.#collect(after, affected);
    }
    return [...affected];
  }

  #collect(entryKeys: readonly string[], into: Set<W>): void {
    let rarest: Set<W> | undefined;
    for (const key of entryKeys) {
      const watchers = this.#bySelector.get(key);
      // No open stream holds this selector, so none holds them all.
      if (watchers === undefined) return;
      if (rarest === undefined || watchers.size < rarest.size) rarest = watchers;
    }
    if (rarest === undefined) return;
    for (const watcher of rarest) {
      if (!into.has(watcher) && entryMatches(entryKeys, watcher.caller)) into.add(watcher);
    }
  }
}
