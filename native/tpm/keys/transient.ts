import { TPM_HANDLE_RANGE } from "../constants.js";
import { getHandles } from "../commands/capability.js";
import { flushContext } from "../commands/objects.js";
import type { Tpm } from "../tpm.js";

/**
 * Transient objects and sessions occupy a handful of TPM slots (swtpm has 3 object slots). A
 * resource manager (/dev/tpmrm0) flushes ours when we disconnect; without one (/dev/tpm0,
 * swtpm) a handle we forget stays loaded until reset, so every one is flushed on every path.
 */

/** Runs `fn` with a loaded transient `handle` and flushes it afterwards, whatever happened. */
export async function withTransient<T>(
  tpm: Tpm,
  handle: number,
  fn: (handle: number) => Promise<T>,
): Promise<T> {
  try {
    return await fn(handle);
  } finally {
    await flushQuietly(tpm, handle);
  }
}

/** Like withTransient, for a handle still to be obtained (CreatePrimary, Load, StartAuthSession). */
export async function usingTransient<T>(
  tpm: Tpm,
  obtain: () => Promise<number>,
  fn: (handle: number) => Promise<T>,
): Promise<T> {
  return withTransient(tpm, await obtain(), fn);
}

async function flushQuietly(tpm: Tpm, handle: number): Promise<void> {
  try {
    await flushContext(tpm, handle);
  } catch {
    // Flushing is clean-up: the original error (if any) matters more, and a handle the TPM no
    // longer knows (it was reset) needs no flushing.
  }
}

/**
 * Flushes every transient object and loaded session left by a previous run that crashed before
 * its finally blocks ran. Only for TPMs without a resource manager, which we own exclusively
 * (the swtpm socket, /dev/tpm0 opened by one process); under /dev/tpmrm0 we see only our own.
 */
export async function flushLeftovers(tpm: Tpm): Promise<number[]> {
  const flushed: number[] = [];
  for (const handle of await leftoverHandles(tpm)) {
    await flushContext(tpm, handle);
    flushed.push(handle);
  }
  return flushed;
}

/** Transient objects, loaded sessions (HMAC and policy) and saved session contexts. */
export async function leftoverHandles(tpm: Tpm): Promise<number[]> {
  const queries = [
    TPM_HANDLE_RANGE.transient.first,
    TPM_HANDLE_RANGE.hmacSession.first,
    TPM_HANDLE_RANGE.policySession.first,
  ];
  const handles: number[] = [];
  for (const first of queries) handles.push(...(await getHandles(tpm, first)));
  return [...new Set(handles)];
}
