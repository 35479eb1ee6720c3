/**
 * Group commit: records written by callers at about the same time go to the database in one
 * transaction, so they share one commit (one fsync on SQLite's FULL synchronous mode, one round
 * trip on PostgreSQL) instead of paying one each. A batch starts with the first record and closes
 * when the writer is free: while one batch commits, the next gathers. Each caller's promise settles
 * when its own record is committed.
 *
 * One record's failure must not fail the others: when a batch's transaction fails (a duplicate, a
 * constraint), nothing of it was written, and each record is written again on its own, so each
 * caller gets its own answer.
 */
export class GroupCommit<T> {
  readonly #writeBatch: (items: readonly T[]) => Promise<void>;
  readonly #writeOne: (item: T) => Promise<void>;
  readonly #maxBatch: number;
  #pending: Pending<T>[] = [];
  #writing = false;

  constructor(options: {
    writeBatch: (items: readonly T[]) => Promise<void>;
    writeOne: (item: T) => Promise<void>;
    /** At most this many records in one transaction (default 256). */
    maxBatch?: number;
  }) {
    this.#writeBatch = options.writeBatch;
    this.#writeOne = options.writeOne;
    this.#maxBatch = options.maxBatch ?? 256;
  }

  /** Settles once `item` is committed (or refused). */
  write(item: T): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#pending.push({ item, resolve, reject });
      // Let the callers of this turn of the event loop join before the first batch goes.
      if (!this.#writing) {
        this.#writing = true;
        setImmediate(() => void this.#drain());
      }
    });
  }

  async #drain(): Promise<void> {
    while (this.#pending.length > 0) {
      const batch = this.#pending.splice(0, this.#maxBatch);
      await this.#commit(batch);
    }
    this.#writing = false;
  }

  async #commit(batch: readonly Pending<T>[]): Promise<void> {
    if (batch.length > 1) {
      try {
        await this.#writeBatch(batch.map((p) => p.item));
        for (const p of batch) p.resolve();
        return;
      } catch {
        // Nothing of the batch was written; each record on its own below gets its own answer.
      }
    }
    await Promise.all(
      batch.map((p) =>
        this.#writeOne(p.item).then(
          () => p.resolve(),
          (err: unknown) => p.reject(err),
        ),
      ),
    );
  }
}

interface Pending<T> {
  readonly item: T;
  resolve(): void;
  reject(err: unknown): void;
}
