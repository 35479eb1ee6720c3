import type { Entry } from "../../../proto/gen/node.js";

/** A node API Entry message as a server sends it: workload entry `id` under an agent, revision 1. */
export function entryMessage(id: string, overrides: Partial<Entry> = {}): Entry {
  return {
    id,
    spiffeId: `spiffe://example.org/w/${id}`,
    parentId: "spiffe://example.org/hallmark/agent/tpm/ab12",
    selectors: ["unix:uid:1000"],
    x509SvidTtlSeconds: 0,
    jwtSvidTtlSeconds: 0,
    dnsNames: [],
    hint: "",
    admin: false,
    revision: 1,
    ...overrides,
  };
}
