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
  /**
   * Every key it can produce (`uid`, `path`, ...): an attestor none of whose keys an entry uses is
   * not run at all (see AttestOptions.wants).
   */
  readonly keys: readonly string[];
  attest(caller: Peer, options: AttestOptions): Promise<readonly Selector[]>;
}

export interface AttestOptions {
  /** The caller attestation's deadline for this attestor; stop work when it fires. */
  readonly signal: AbortSignal;
  /**
   * Whether some entry uses a selector of this type and key: `wants("unix", "sha256")` is true when
   * an entry has a `unix:sha256:...` selector. A selector that costs work to find (a file to read,
   * an executable to hash) is looked for only when wanted: a selector no entry uses cannot change
   * which entries match, and every new caller would pay for it. When an entry starts to use one,
   * results made without it are attested again (agent/workload-attestation/lookup-plan.ts).
   */
  readonly wants: (type: string, key: string) => boolean;
}
