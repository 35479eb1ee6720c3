import { readFile } from "node:fs/promises";
import { systemClock, type Clock } from "../../../common/clock.js";
import { errorMessage } from "../../../common/errors.js";
import type { Logger } from "../../../common/logging/logger.js";
import { positiveInteger } from "../errors.js";
import { parseGroup, parsePasswd } from "./account-files.js";

export interface AccountNamesOptions {
  passwdPath?: string;
  groupPath?: string;
  /** How long one reading of the files is used; default 10 s. */
  ttlMs?: number;
  clock?: Clock;
  readText?: (path: string) => Promise<string>;
  /** Where a file's problems (unreadable, malformed lines) are logged, once per reading, at debug. */
  logger?: Logger;
}

/** User and group names by ID, as the files said at one moment. */
export interface AccountTables {
  readonly users: ReadonlyMap<number, string>;
  readonly groups: ReadonlyMap<number, string>;
  /** Why a file gave no names (unreadable) or fewer (malformed lines): for the debug log. */
  readonly problems: readonly string[];
}

/**
 * Names for UIDs and GIDs from /etc/passwd and /etc/group, read again after a short TTL so that
 * an account added or renamed is seen within seconds, while a burst of callers costs one read.
 * Concurrent lookups share one read. Only the files are read, not NSS (no LDAP, no sssd): a name
 * that exists only in a directory service gives no `user:`/`group:` selector, only the numeric one,
 * and the agent never blocks on a network lookup. Names are the host's (the agent's) files, also
 * for a process in a container with an /etc/passwd of its own, as in SPIRE.
 */
export class AccountNames {
  readonly #passwdPath: string;
  readonly #groupPath: string;
  readonly #ttlMs: number;
  readonly #clock: Clock;
  readonly #readText: (path: string) => Promise<string>;
  readonly #logger: Logger | undefined;
  #current: { readAt: number; tables: Promise<AccountTables> } | undefined;

  constructor(options: AccountNamesOptions = {}) {
    this.#passwdPath = options.passwdPath ?? "/etc/passwd";
    this.#groupPath = options.groupPath ?? "/etc/group";
    this.#ttlMs = positiveInteger("ttlMs", options.ttlMs ?? 10_000);
    this.#clock = options.clock ?? systemClock;
    this.#readText = options.readText ?? ((path) => readFile(path, "utf8"));
    this.#logger = options.logger;
  }

  tables(): Promise<AccountTables> {
    const now = this.#clock.nowMs();
    if (this.#current === undefined || now - this.#current.readAt >= this.#ttlMs) {
      this.#current = { readAt: now, tables: this.#read() };
    }
    return this.#current.tables;
  }

  async #read(): Promise<AccountTables> {
    const problems: string[] = [];
    const load = async (path: string, parse: typeof parsePasswd): Promise<ReadonlyMap<number, string>> => {
      try {
        const { names, malformedLines } = parse(await this.#readText(path));
        if (malformedLines > 0) problems.push(`${path}: ${malformedLines} malformed line(s) passed over`);
        return names;
      } catch (err) {
        problems.push(`${path}: ${errorMessage(err)}`);
        return new Map();
      }
    };
    const [users, groups] = await Promise.all([
      load(this.#passwdPath, parsePasswd),
      load(this.#groupPath, parseGroup),
    ]);
    for (const problem of problems)
      this.#logger?.debug({ problem }, "account names: a file gave fewer names");
    return { users, groups, problems };
  }
}
