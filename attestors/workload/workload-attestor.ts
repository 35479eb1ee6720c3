import type { Selector } from "../../common/selector.js";
import type { Peer } from "../../native/peercred/index.js";

/**
 * A workload attestor: what one source of truth (the process's credentials, its cgroup, its
 * systemd unit) says about a caller of the Workload API, as selectors. The caller is the kernel's
 * record of the connection (`Peer`: SO_PEERCRED, SO_PEERGROUPS, and the process pinned by a
 * pidfd); an attestor reads /proc only through `caller.process.read(...)`, so what it read is known
 * to be about that process and not about a later one that reused its PID.
 *
 * Unreadable or malformed data yields fewer selectors (and a debug log), never a throw, except
 * PEER_GONE (the caller exited), which the caller attestation turns into "nothing for you".
 */
export interface WorkloadAttestor {
  /** The selector type it produces: "unix", "cgroup", "systemd". */
  readonly name: string;
  attest(caller: Peer, options: AttestOptions): Promise<readonly Selector[]>;
}

export interface AttestOptions {
  /** The caller attestation's deadline for this attestor; stop work when it fires. */
  readonly signal: AbortSignal;
  /**
   * Selectors that cost real work (hashing the executable) are made only when some entry uses
   * them: `wants("unix", "sha256")` is true when an entry has a `unix:sha256:...` selector.
   */
  readonly wants: (type: string, key: string) => boolean;
}
