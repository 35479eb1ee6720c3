import { serializeBundle, type SpiffeBundle } from "../../../common/spiffe/bundle.js";
import { formatSelector } from "../../../common/selector.js";
import type { RegistrationEntry } from "../../datastore/index.js";
import type { SyncUpdate } from "../../sync/agent-sync.js";
import type { Bundle, Entry, SyncResponse } from "../../../proto/gen/node.js";

/** Domain records as node API messages. */

export function bundleMessage(bundle: SpiffeBundle): Bundle {
  return {
    trustDomain: bundle.trustDomain.toString(),
    sequence: bundle.sequence,
    spiffeBundleJson: serializeBundle(bundle),
    x509Authorities: bundle.x509Authorities,
  };
}

export function entryMessage(entry: RegistrationEntry): Entry {
  return {
    id: entry.id,
    spiffeId: entry.spiffeId.toString(),
    parentId: entry.parentId.toString(),
    selectors: entry.selectors.map(formatSelector),
    x509SvidTtlSeconds: entry.x509SvidTtlMs === undefined ? 0 : Math.floor(entry.x509SvidTtlMs / 1000),
    jwtSvidTtlSeconds: entry.jwtSvidTtlMs === undefined ? 0 : Math.floor(entry.jwtSvidTtlMs / 1000),
    dnsNames: [...entry.dnsNames],
    hint: entry.hint,
    admin: entry.admin,
    revision: entry.revision,
  };
}

export function syncResponseMessage(update: SyncUpdate): SyncResponse {
  return {
    revision: update.revision,
    full: update.full,
    entries: update.entries.map(entryMessage),
    deletedEntryIds: [...update.deletedEntryIds],
    bundle: update.bundle === undefined ? undefined : bundleMessage(update.bundle),
  };
}
