import type { SpiffeId } from "../../common/spiffe/index.js";
import type { Datastore, RegistrationEntry } from "../datastore/index.js";

const PAGE_SIZE = 500;

/**
 * The entries whose policy names one of `ids` in may_delegate_to. A full scan: it runs only for an
 * update that widens a policy, which is rare, and a column index over JSON would differ by database.
 */
export async function findDelegators(
  datastore: Datastore,
  ids: readonly SpiffeId[],
): Promise<RegistrationEntry[]> {
  const names = new Set(ids.map((id) => id.toString()));
  const found: RegistrationEntry[] = [];
  let pageToken: string | undefined;
  do {
    const page = await datastore.listEntries({}, { pageSize: PAGE_SIZE, pageToken });
    for (const entry of page.items) {
      if (entry.delegation?.mayDelegateTo.some((id) => names.has(id.toString())) === true) found.push(entry);
    }
    pageToken = page.nextPageToken;
  } while (pageToken !== undefined);
  return found;
}
