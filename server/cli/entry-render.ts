import { renderFields } from "../../common/cli/output.js";
import type * as pb from "../../proto/gen/admin.js";

/** An entry as SPIRE's CLI prints one: aligned `Label : value` lines. */
export function renderEntry(entry: pb.Entry): string[] {
  return renderFields([
    ["Entry ID", entry.id],
    ["SPIFFE ID", entry.spiffeId],
    ["Parent ID", entry.parentId],
    ["Revision", entry.revision],
    ["X509-SVID TTL", ttl(entry.x509SvidTtlSeconds)],
    ["JWT-SVID TTL", ttl(entry.jwtSvidTtlSeconds)],
    ...entry.selectors.map((s) => ["Selector", `${s.type}:${s.value}`] as const),
    ...entry.dnsNames.map((name) => ["DNS name", name] as const),
    ["Node alias", entry.node ? true : undefined],
    ["Hint", entry.hint === "" ? undefined : entry.hint],
    ...delegationFields(entry.delegation),
  ]);
}

/** The policy, one line per value like selectors; nothing at all when the entry has none. */
function delegationFields(policy: pb.DelegationPolicy | undefined): (readonly [string, string | number])[] {
  if (policy === undefined) return [];
  return [
    ...policy.scopes.map((scope) => ["Delegation scope", scope] as const),
    ...policy.audiences.map((audience) => ["Delegation audience", audience] as const),
    ...policy.mayDelegateTo.map((id) => ["May delegate to", id] as const),
    ["Max depth", policy.maxDepth] as const,
  ];
}

export function renderEntries(entries: readonly pb.Entry[]): string[] {
  const lines = [`Found ${entries.length} ${entries.length === 1 ? "entry" : "entries"}`];
  for (const entry of entries) lines.push(...renderEntry(entry), "");
  return lines;
}

function ttl(seconds: number): string {
  return seconds === 0 ? "default" : `${seconds}s`;
}

/** Columns padded to their widest cell, for lists. */
export function renderTable(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)];
}
