import pg from "pg";
import type { Clock, TimerHandle } from "../../../common/clock.js";
import { CHANGES_CHANNEL, toDatastoreError } from "./postgres-driver.js";

export interface RevisionListenerOptions {
  readonly clientConfig: pg.ClientConfig;
  /** Told of each revision another server (or this one) committed. */
  readonly onRevision: (revision: number) => void;
  /** Reads the current revision: after a reconnect, to catch what was committed while deaf. */
  readonly readRevision: () => Promise<number>;
  readonly clock: Clock;
}

const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 5_000;

/**
 * LISTENs on its own connection (a pooled one would be handed to others) for the revisions that
 * writes on this database commit, from any server. A lost connection is re-made with backoff, and
 * the current revision read afresh, since notifications sent meanwhile are lost.
 */
export class RevisionListener {
  readonly #options: RevisionListenerOptions;
  #client: pg.Client | undefined;
  #retry: TimerHandle | undefined;
  #failures = 0;
  #closed = false;

  private constructor(options: RevisionListenerOptions) {
    this.#options = options;
  }

  /** Starts listening; fails (UNAVAILABLE) if the first connection cannot be made. */
  static async start(options: RevisionListenerOptions): Promise<RevisionListener> {
    const listener = new RevisionListener(options);
    try {
      await listener.#connect();
    } catch (err) {
      await listener.close();
      throw toDatastoreError(err);
    }
    return listener;
  }

  /** Whether a LISTEN connection is up right now. */
  get listening(): boolean {
    return this.#client !== undefined;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#retry?.cancel();
    const client = this.#client;
    this.#client = undefined;
    await client?.end().catch(() => undefined);
  }

  async #connect(): Promise<void> {
    const client = new pg.Client(this.#options.clientConfig);
    client.on("error", () => this.#lost(client));
    client.on("end", () => this.#lost(client));
    client.on("notification", (message) => {
      if (message.channel !== CHANGES_CHANNEL) return;
      const revision = Number(message.payload);
      if (Number.isSafeInteger(revision)) this.#options.onRevision(revision);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANGES_CHANNEL}`);
    } catch (err) {
      await client.end().catch(() => undefined);
      throw toDatastoreError(err);
    }
    if (this.#closed) {
      await client.end().catch(() => undefined);
      return;
    }
    this.#client = client;
    this.#failures = 0;
    this.#options.onRevision(await this.#options.readRevision());
  }

  #lost(client: pg.Client): void {
    if (this.#closed || client !== this.#client) return;
    this.#client = undefined;
    client.end().catch(() => undefined);
    this.#scheduleReconnect();
  }

  #scheduleReconnect(): void {
    if (this.#closed) return;
    const delayMs = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** this.#failures);
    this.#failures += 1;
    this.#retry = this.#options.clock.setTimer(() => {
      this.#connect().catch(() => {
        // The connection was not made, or dropped again at once: try again later.
        if (this.#client === undefined) this.#scheduleReconnect();
      });
    }, delayMs);
  }
}
