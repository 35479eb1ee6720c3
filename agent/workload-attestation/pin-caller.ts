import { PeerCredError, PeerProcess, type Peer } from "../../native/peercred/index.js";
import { callerGone } from "./workload-attestation-error.js";

/**
 * The caller of `connection` with a pidfd of its own, so that an attestation (and the result
 * cached from it) outlives the connection it started on: the listener closes a connection's
 * PeerProcess with the connection, while other connections of the same process may still want the
 * result.
 *
 * pidfd_open(pid) alone pins whatever holds `pid` when it runs. Checking afterwards that the
 * connection's own pidfd still polls alive closes that gap: that process was then alive (holding
 * `pid`) throughout, the moment of pidfd_open included, so the new pidfd names it and no other.
 */
export function pinCaller(connection: Peer): Peer {
  const { pid } = connection.process;
  let process: PeerProcess;
  try {
    process = PeerProcess.open(pid, { procRoot: procRootOf(connection.process) });
  } catch (err) {
    if (err instanceof PeerCredError && err.code === "PEER_GONE")
      throw callerGone(pid, "pinning the caller", err);
    throw err;
  }
  try {
    if (!connection.process.isAlive()) throw callerGone(pid, "pinning the caller");
  } catch (err) {
    process.close();
    throw err;
  }
  return { credentials: connection.credentials, groups: connection.groups, process };
}

/** The proc root the connection's reads use (a fixture tree in attestor tests), so the pin reads the same. */
function procRootOf(process: PeerProcess): string {
  return process.procDir.slice(0, process.procDir.length - `/${process.pid}`.length);
}
