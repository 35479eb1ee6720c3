import { HallmarkError } from "../../../common/errors.js";
import { TPM_HANDLE_RANGE } from "../constants.js";
import { getHandles } from "../commands/capability.js";
import { flushContext, flushQuietly } from "../commands/objects.js";
import { TPM_RC, isTpmError } from "../rc.js";
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

/** Some leftover handles could not be flushed; the others were. */
export class TpmLeftoverFlushError extends HallmarkError<"TPM_FLUSH_FAILED"> {
  readonly failures: readonly { readonly handle: number; readonly error: unknown }[];

  constructor(failures: readonly { readonly handle: number; readonly error: unknown }[]) {
    const list = failures.map((f) => `0x${f.handle.toString(16)}`).join(", ");
    super("TPM_FLUSH_FAILED", `could not flush leftover TPM handle(s) ${list}`, {
      category: "unavailable",
      cause: failures[0]?.error,
    });
    this.failures = failures;
  }
}

/**
 * Flushes every transient object and loaded session left by a previous run that crashed before
 * its finally blocks ran. Only for TPMs without a resource manager, which we own exclusively
 * (the swtpm socket, /dev/tpm0 opened by one process); under /dev/tpmrm0 we see only our own.
 * Every handle is tried: one that is already gone (TPM_RC_HANDLE) is skipped, other failures are
 * collected into one TpmLeftoverFlushError once the rest have been flushed.
 */
export async function flushLeftovers(tpm: Tpm): Promise<number[]> {
  const flushed: number[] = [];
  const failures: { handle: number; error: unknown }[] = [];
  for (const handle of await leftoverHandles(tpm)) {
    try {
      await flushContext(tpm, handle);
      flushed.push(handle);
    } catch (error) {
      if (!isTpmError(error, TPM_RC.HANDLE)) failures.push({ handle, error });
    }
  }
  if (failures.length > 0) throw new TpmLeftoverFlushError(failures);
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
