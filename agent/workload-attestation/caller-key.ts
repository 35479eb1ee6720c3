import type { Peer } from "../../native/peercred/index.js";

/**
 * The key under which calls share an attestation and its cached result: the process (its PID, and
 * the proc root it is read under) and the credentials the kernel recorded for the connection.
 *
 * The credentials are part of it because they are per connection, not per process: a process that
 * connects as root, drops to another user and connects again holds two connections with different
 * credentials, and attestors (`unix`) vouch for those credentials. Each set is attested on its own,
 * so a process that gave up a privilege is never served the identities of the privilege it gave up.
 *
 * The key alone does not prove identity (a PID is reused once its process is reaped): whoever finds
 * an entry under it also checks, by pidfd, that the entry's process is the caller (lookup-plan.ts).
 */
export function callerKey(caller: Peer): string {
  const { uid, gid } = caller.credentials;
  const groups = caller.groups === undefined ? "-" : caller.groups.join(",");
  return `${caller.process.pid} ${uid} ${gid} ${groups} ${caller.process.procDir}`;
}
