import { readFile } from "node:fs/promises";
import { abortable } from "../../../common/deadline.js";
import { isHallmarkError } from "../../../common/errors.js";
import type { Logger } from "../../../common/logging/logger.js";
import type { Selector } from "../../../common/selector.js";
import { PeerCredError, type Peer } from "../../../native/peercred/index.js";
import { positiveInteger, WorkloadAttestorError } from "../errors.js";
import { finish, readOrMissing } from "../proc-read.js";
import { SelectorCollector } from "../selector-collector.js";
import type { AttestOptions, WorkloadAttestor } from "../workload-attestor.js";
import { AccountNames, type AccountTables } from "./account-names.js";
import { ExecutableHashCache, fileIdentity } from "./executable-hash-cache.js";
import { closeQuietly, executablePath, OpenedExecutable, type ExecutablePath } from "./executable.js";
import { parseStatusGroups } from "./proc-status.js";
import { Sha256Thread, type FileDigester } from "./sha256-thread.js";

export interface UnixAttestorOptions {
  logger: Logger;
  /** Names for `user:`/`group:`; default: /etc/passwd and /etc/group, re-read every 10 s, problems logged. */
  accounts?: AccountNames;
  /** Executables larger than this get no `sha256:` selector; default 256 MiB. */
  maxExecutableBytes?: number;
  /** How many executables' digests are kept; default 1024. */
  hashCacheEntries?: number;
  /** Default: one worker thread (Sha256Thread). */
  digester?: FileDigester;
}

const MIB = 1024 * 1024;

export const UNIX_KEYS = [
  "uid",
  "gid",
  "user",
  "group",
  "supplementary_gid",
  "supplementary_group",
  "path",
  "sha256",
] as const;

/**
 * `unix:` selectors, SPIRE's keys:
 *
 * - `uid:<n>`, `gid:<n>`: the effective IDs the kernel recorded at connect(2) (SO_PEERCRED).
 * - `user:<name>`, `group:<name>`: their names in /etc/passwd and /etc/group (AccountNames).
 * - `supplementary_gid:<n>` and `supplementary_group:<name>` for each supplementary group: from
 *   SO_PEERGROUPS (at connect time) when the listener read it, else /proc/<pid>/status `Groups:`
 *   (read only when an entry uses one of the two keys).
 * - `path:<executable>`: /proc/<pid>/exe's target, as the process's mount namespace names it (a
 *   containerised process shows the path inside its container). None when the kernel marks it
 *   ` (deleted)`: the file the process runs is no longer at that path (deleted, or replaced on
 *   upgrade), so an entry for the path must not match the old binary. Read only when an entry uses
 *   `path` or `sha256`.
 * - `sha256:<hex>` of the executable, only when an entry uses it (`wants("unix", "sha256")`): read
 *   through /proc/<pid>/exe, so it is the file the process runs even when deleted or replaced;
 *   none above `maxExecutableBytes`; hashed on a worker thread; cached by file identity.
 */
export class UnixAttestor implements WorkloadAttestor {
  readonly name = "unix";
  readonly keys = UNIX_KEYS;
  readonly #logger: Logger;
  readonly #accounts: AccountNames;
  readonly #maxExecutableBytes: number;
  readonly #hashes: ExecutableHashCache;
  readonly #digester: FileDigester;

  constructor(options: UnixAttestorOptions) {
    this.#logger = options.logger;
    this.#accounts = options.accounts ?? new AccountNames({ logger: options.logger });
    this.#maxExecutableBytes = positiveInteger("maxExecutableBytes", options.maxExecutableBytes ?? 256 * MIB);
    this.#hashes = new ExecutableHashCache(options.hashCacheEntries);
    this.#digester = options.digester ?? new Sha256Thread();
  }

  async attest(caller: Peer, options: AttestOptions): Promise<readonly Selector[]> {
    const { uid, gid } = caller.credentials;
    const collector = new SelectorCollector(this.name, this.#logger, caller.credentials.pid);
    const executable = new OpenedExecutable();
    const wants = (key: (typeof UNIX_KEYS)[number]): boolean => options.wants(this.name, key);
    try {
      // What only costs a lookup (the IDs, their names) is always given; what reads /proc only when
      // an entry uses it (see AttestOptions.wants).
      const [tables, groups, exe] = await Promise.all([
        this.#accounts.tables(),
        caller.groups !== undefined || wants("supplementary_gid") || wants("supplementary_group")
          ? this.#supplementaryGroups(caller, collector, options.signal)
          : undefined,
        wants("path") || wants("sha256")
          ? this.#executable(caller, collector, executable, options)
          : undefined,
      ]);
      collector.add("uid", uid);
      addName(collector, "user", tables.users, uid);
      collector.add("gid", gid);
      addName(collector, "group", tables.groups, gid);
      for (const group of groups ?? []) {
        collector.add("supplementary_gid", group);
        addName(collector, "supplementary_group", tables.groups, group);
      }
      if (exe?.ok === true) collector.add("path", exe.path);
      else if (exe !== undefined) collector.missing("path", exe.reason);
      if (wants("sha256")) await this.#addSha256(executable, collector, options.signal);
    } finally {
      executable.release();
    }
    return finish(caller, collector, this.name, options.signal);
  }

  /** Stops the hashing thread. */
  close(): Promise<void> {
    return this.#digester.close();
  }

  async #supplementaryGroups(
    caller: Peer,
    collector: SelectorCollector,
    signal: AbortSignal,
  ): Promise<readonly number[] | undefined> {
    if (caller.groups !== undefined) return caller.groups;
    const status = await readOrMissing(
      caller,
      collector,
      "status",
      (dir) => readFile(`${dir}/status`, "utf8"),
      signal,
    );
    if (status === undefined) return undefined;
    const groups = parseStatusGroups(status);
    if (groups === undefined) collector.missing("supplementary_gid", "no well-formed Groups: line in status");
    return groups;
  }

  #executable(
    caller: Peer,
    collector: SelectorCollector,
    executable: OpenedExecutable,
    options: AttestOptions,
  ): Promise<ExecutablePath | undefined> {
    const wantsFile = options.wants(this.name, "sha256");
    return readOrMissing(
      caller,
      collector,
      "exe",
      async (dir) => {
        const [path] = await Promise.all([
          executablePath(dir),
          wantsFile
            ? executable.open(dir).catch((err: unknown) => collector.missing("sha256", err))
            : undefined,
        ]);
        return path;
      },
      options.signal,
    );
  }

  async #addSha256(
    executable: OpenedExecutable,
    collector: SelectorCollector,
    signal: AbortSignal,
  ): Promise<void> {
    const stat = executable.stat;
    if (stat === undefined) return;
    if (stat.size > BigInt(this.#maxExecutableBytes)) {
      collector.missing(
        "sha256",
        new WorkloadAttestorError(
          "EXECUTABLE_TOO_LARGE",
          `the executable has ${stat.size} bytes, more than the limit of ${this.#maxExecutableBytes}`,
        ),
      );
      return;
    }
    let computing = false;
    const digest = this.#hashes.digest(fileIdentity(stat), () => {
      computing = true;
      const handle = executable.take()!;
      return this.#digester.sha256(handle.fd, this.#maxExecutableBytes).finally(() => closeQuietly(handle));
    });
    // A digest from the cache or another caller's computation leaves this caller's file unused.
    if (!computing) executable.release();
    try {
      collector.add("sha256", await abortable(digest, signal, "hashing the executable"));
    } catch (err) {
      if (signal.aborted || err instanceof PeerCredError || !isHallmarkError(err)) throw err;
      collector.missing("sha256", err);
    }
  }
}

function addName(collector: SelectorCollector, key: string, names: AccountTables["users"], id: number): void {
  const name = names.get(id);
  if (name === undefined) collector.missing(key, `no name for ID ${id} in the account files`);
  else collector.add(key, name);
}
