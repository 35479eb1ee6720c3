/** Where an entry's X509-SVID request stands. */
export type Phase =
  /** Nothing outstanding: the next request is due at its `requestAtMs`. */
  | "idle"
  /** Waiting in the queue for a batch slot. */
  | "queued"
  /** In a batch: making its key, or sent. */
  | "requesting";

/** What the tally reads of one entry. */
export interface TalliedEntry {
  readonly svid: unknown;
  readonly phase: Phase;
  /** Refused requests in a row. */
  readonly failures: number;
}

/**
 * The counts health reports of the cache's entries, kept current as each entry changes: the agent
 * reads health on every change the cache publishes, and a walk of 10,000 entries each time (20
 * times in an initial sync, once a second while renewals trickle in) is work for nothing. The cache
 * takes an entry out of the tally before it changes one of the fields read here, and puts it back after.
 */
export class EntryTally {
  #withSvid = 0;
  #requesting = 0;
  #pending = 0;

  /** Entries holding an SVID (the cache withdraws one at its expiry). */
  get withSvid(): number {
    return this.#withSvid;
  }

  /** Entries whose request is queued or in flight. */
  get requesting(): number {
    return this.#requesting;
  }

  /** Entries whose request is queued, in flight, or waiting for a retry after a refusal. */
  get pending(): number {
    return this.#pending;
  }

  add(entry: TalliedEntry): void {
    this.#count(entry, 1);
  }

  remove(entry: TalliedEntry): void {
    this.#count(entry, -1);
  }

  clear(): void {
    this.#withSvid = 0;
    this.#requesting = 0;
    this.#pending = 0;
  }

  #count(entry: TalliedEntry, by: 1 | -1): void {
    if (entry.svid !== undefined) this.#withSvid += by;
    if (entry.phase !== "idle") this.#requesting += by;
    if (entry.phase !== "idle" || entry.failures > 0) this.#pending += by;
  }
}
