import type { KeyJournal, KeyJournalState } from "../ca/key-journal.js";
import type { Datastore } from "./datastore.js";

export interface DatastoreKeyJournalOptions {
  /** Which CA's journal: one per server CA (default "default"). */
  readonly name?: string;
  /**
   * The CA's own check of a journal read back (its schema lives in server/ca/key-journal.ts), so
   * a hand-edited or foreign row is refused there rather than trusted here.
   */
  readonly parse: (json: unknown) => KeyJournalState;
}

/**
 * The CA key journal kept in the datastore, so a server's CA state lives, is backed up and is
 * restored with the rest of its data. Each save replaces the journal in one transaction.
 */
export class DatastoreKeyJournal implements KeyJournal {
  readonly #datastore: Datastore;
  readonly #name: string;
  readonly #parse: (json: unknown) => KeyJournalState;

  constructor(datastore: Datastore, options: DatastoreKeyJournalOptions) {
    this.#datastore = datastore;
    this.#name = options.name ?? "default";
    this.#parse = options.parse;
  }

  async load(): Promise<KeyJournalState | undefined> {
    const json = await this.#datastore.loadKeyJournal(this.#name);
    return json === undefined ? undefined : this.#parse(json);
  }

  save(state: KeyJournalState): Promise<void> {
    return this.#datastore.saveKeyJournal(this.#name, state);
  }
}
