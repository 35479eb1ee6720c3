import { errorMessage, isHallmarkError } from "../../common/errors.js";
import type { CaHealth } from "../ca/index.js";
import type { Datastore } from "../datastore/index.js";

/** What `/ready` and `hallmark-server healthcheck` report: the server can sign and can read its data. */
export interface HealthReport {
  readonly healthy: boolean;
  readonly ca: CaHealth;
  readonly datastore: { readonly reachable: boolean; readonly error?: string };
}

export interface HealthSources {
  readonly ca: { health(): CaHealth };
  readonly datastore: Pick<Datastore, "currentRevision">;
}

/** A datastore that does not answer this fast is reported unreachable. */
export const DATASTORE_PROBE_TIMEOUT_MS = 2000;

export async function healthReport(sources: HealthSources): Promise<HealthReport> {
  const ca = sources.ca.health();
  const datastore = await probeDatastore(sources.datastore);
  return { healthy: ca.healthy && datastore.reachable, ca, datastore };
}

async function probeDatastore(
  datastore: HealthSources["datastore"],
): Promise<{ reachable: boolean; error?: string }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`no answer within ${DATASTORE_PROBE_TIMEOUT_MS} ms`)),
      DATASTORE_PROBE_TIMEOUT_MS,
    );
  });
  try {
    await Promise.race([datastore.currentRevision(), timeout]);
    return { reachable: true };
  } catch (err) {
    return {
      reachable: false,
      error: isHallmarkError(err) ? `${err.code}: ${err.message}` : errorMessage(err),
    };
  } finally {
    clearTimeout(timer);
  }
}
