import { abortable } from "../../common/deadline.js";
import { throwIfAborted } from "../../common/errors.js";
import { PeerCredError, type Peer } from "../../native/peercred/index.js";
import type { Selector } from "../../common/selector.js";
import type { SelectorCollector } from "./selector-collector.js";

/**
 * Reads something about the caller through `caller.process.read` (so a PID reused meanwhile is
 * caught) and stops waiting when `signal` fires. What the caller's state decides propagates: any
 * PeerCredError (PEER_GONE: the caller exited; PEER_PROCESS_CLOSED: its connection was closed), and
 * the abort. Every other failure (EACCES, ENOENT, a malformed file) means only that this fact is
 * unknown: it is logged as `missing` and the result is undefined.
 */
export async function readOrMissing<T>(
  caller: Peer,
  collector: SelectorCollector,
  what: string,
  reader: (procDir: string) => T | Promise<T>,
  signal: AbortSignal,
): Promise<T | undefined> {
  const doing = `reading ${what} of process ${caller.credentials.pid}`;
  throwIfAborted(signal, doing);
  try {
    return await abortable(caller.process.read(doing, reader), signal, doing);
  } catch (err) {
    if (err instanceof PeerCredError || signal.aborted) throw err;
    collector.missing(what, err);
    return undefined;
  }
}

/**
 * The end of every attestation: the selectors count only if the caller is still the live process
 * that connected, so one that exited during the attestation gets PEER_GONE, not a partial answer.
 */
export function finish(
  caller: Peer,
  collector: SelectorCollector,
  attestor: string,
  signal: AbortSignal,
): readonly Selector[] {
  const doing = `${attestor} attestation of process ${caller.credentials.pid}`;
  throwIfAborted(signal, doing);
  caller.process.assertAlive(doing);
  return collector.selectors;
}
