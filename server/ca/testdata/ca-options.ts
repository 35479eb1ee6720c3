// CaManager options for tests: the parts every test sets the same way, so each names only what it is about.
import { cryptoRandom } from "../../../common/random.js";
import { TrustDomain } from "../../../common/spiffe/spiffe-id.js";
import type { CaManagerOptions } from "../ca-manager.js";
import { MemoryKeyJournal } from "../key-journal.js";
import { captureLogger } from "./capture-logger.js";

export const TEST_TRUST_DOMAIN = TrustDomain.parse("example.org");

/** Trust domain example.org, CSPRNG, a journal in memory and a captured logger, unless given. */
export function testCaOptions(
  options: Pick<CaManagerOptions, "keyManager" | "clock"> & Partial<CaManagerOptions>,
): CaManagerOptions {
  return {
    journal: new MemoryKeyJournal(),
    trustDomain: TEST_TRUST_DOMAIN,
    random: cryptoRandom,
    logger: captureLogger().logger,
    ...options,
  };
}
