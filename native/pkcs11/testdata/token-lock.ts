import { once } from "node:events";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { spawnTied } from "../../../test/fixtures/processes.js";
import type { SoftHsmFixture } from "../../../test/fixtures/softhsm.js";

/**
 * Takes an exclusive POSIX lock on every token's `generation` and `token.object` files from another
 * process. SoftHSM2 read-locks them (fcntl F_SETLKW) to see whether another process changed the token, at
 * every C_FindObjectsInit, C_GetAttributeValue, C_SignInit, C_DestroyObject and C_OpenSession, so while the
 * lock is held each of those calls waits: a token that does not answer, as a network HSM may, with nothing
 * faked. Python does the locking because node:fs has no fcntl locks. The lock goes after `maxMs` even if
 * not released, so code that blocks the event loop on the module fails its test instead of hanging it.
 */
const HOLD_LOCK = `
import fcntl, select, sys
files = [open(path, "r+b") for path in sys.argv[2:]]
for f in files:
    fcntl.lockf(f, fcntl.LOCK_EX)
print("locked", flush=True)
select.select([sys.stdin], [], [], float(sys.argv[1]) / 1000)
`;

export interface TokenLock {
  /** Whether the lock is still held: not released, and not given up after `maxMs`. */
  readonly held: boolean;
  /** Lets the token answer again; resolves once the lock is gone. */
  release(): Promise<void>;
}

export async function lockToken(hsm: SoftHsmFixture, maxMs = 30_000): Promise<TokenLock> {
  const tokens = join(hsm.dir, "tokens");
  const files = (await readdir(tokens)).flatMap((dir) => [
    join(tokens, dir, "generation"),
    join(tokens, dir, "token.object"),
  ]);
  const child = spawnTied("python3", ["-c", HOLD_LOCK, String(maxMs), ...files], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const exited = once(child, "exit");
  const [line] = (await Promise.race([once(child.stdout!, "data"), exited])) as [Buffer | number | null];
  if (!Buffer.isBuffer(line) || !line.toString().startsWith("locked")) {
    throw new Error(`could not lock the token files (python3 exited: ${String(line)})`);
  }
  let released: Promise<void> | undefined;
  return {
    get held() {
      return released === undefined && child.exitCode === null && child.signalCode === null;
    },
    release: () => {
      released ??= (async () => {
        child.stdin!.end();
        await exited;
      })();
      return released;
    },
  };
}
