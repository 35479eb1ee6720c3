import { SpiffeId } from "../../../../common/spiffe/index.js";
import type { DelegationPolicy, RegistrationEntry } from "../../../datastore/entry.js";

/** A workload's registration entry as the datastore returns it, with only what the exchange reads set. */
export function registrationEntry(
  id: string,
  spiffeId: SpiffeId,
  delegation: DelegationPolicy | undefined,
): RegistrationEntry {
  return {
    id,
    spiffeId,
    parentId: SpiffeId.parse(`spiffe://${spiffeId.trustDomain.name}/hallmark/agent/tpm/${"a".repeat(64)}`),
    selectors: [],
    x509SvidTtlMs: undefined,
    jwtSvidTtlMs: undefined,
    dnsNames: [],
    hint: "",
    node: false,
    admin: false,
    delegation,
    revision: 1,
    createdAtMs: 0,
    updatedAtMs: 0,
  };
}
