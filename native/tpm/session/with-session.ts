import type { TpmHashAlg } from "../constants.js";
import type { Tpm } from "../tpm.js";
import { SaltedSession, type SaltKey } from "./salted-session.js";

/**
 * Starts a session salted to `key`, runs `fn` with it and flushes it afterwards, whatever
 * happened (swtpm and /dev/tpm0 have no resource manager to flush a forgotten session).
 */
export async function withSaltedSession<T>(
  tpm: Tpm,
  key: SaltKey,
  fn: (session: SaltedSession) => Promise<T>,
  options: { hashAlg?: TpmHashAlg; signal?: AbortSignal } = {},
): Promise<T> {
  const session = await SaltedSession.start(tpm, key, options);
  try {
    return await fn(session);
  } finally {
    await session.flush();
  }
}
