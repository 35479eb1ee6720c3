import { positiveInteger } from "../errors.js";

/**
 * Digests of executables by file identity (see `fileIdentity`), so each distinct executable is
 * hashed once however many callers run it: least recently used entries go first once `maxEntries`
 * are held, and concurrent requests for one identity share one computation (single flight). A
 * failed computation is not kept: the next caller tries again.
 */
export class ExecutableHashCache {
  readonly #maxEntries: number;
  readonly #digests = new Map<string, string>();
  readonly #inFlight = new Map<string, Promise<string>>();

  constructor(maxEntries = 1024) {
    this.#maxEntries = positiveInteger("hashCacheEntries", maxEntries);
  }

  /** The digest for `identity`: cached, being computed for another caller, or from `compute` now. */
  digest(identity: string, compute: () => Promise<string>): Promise<string> {
    const cached = this.#digests.get(identity);
    if (cached !== undefined) {
      this.#digests.delete(identity);
      this.#digests.set(identity, cached);
      return Promise.resolve(cached);
    }
    const pending = this.#inFlight.get(identity);
    if (pending !== undefined) return pending;
    const computed = compute()
      .then((hex) => {
        this.#remember(identity, hex);
        return hex;
      })
      .finally(() => this.#inFlight.delete(identity));
    this.#inFlight.set(identity, computed);
    return computed;
  }

  get size(): number {
    return this.#digests.size;
  }

  #remember(identity: string, hex: string): void {
    this.#digests.set(identity, hex);
    while (this.#digests.size > this.#maxEntries) {
      const oldest = this.#digests.keys().next().value;
      if (oldest === undefined) break;
      this.#digests.delete(oldest);
    }
  }
}

/** What the fstat of an open file says about its identity and content. */
export interface FileStat {
  readonly dev: bigint;
  readonly ino: bigint;
  readonly size: bigint;
  readonly mtimeNs: bigint;
  readonly ctimeNs: bigint;
}

/**
 * Device, inode, size and mtime, as asked, and ctime too. mtime alone can be set back by the
 * file's owner (utimes) after changing the content, and an inode number is reused once a file is
 * deleted; ctime is set by the kernel on every change of content or metadata and cannot be set by
 * anyone, so a file that changed in any way has a new identity.
 */
export function fileIdentity(stat: FileStat): string {
  return `${stat.dev}:${stat.ino}:${stat.size}:${stat.mtimeNs}:${stat.ctimeNs}`;
}
