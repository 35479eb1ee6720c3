// The authorized-entries index at a given scale: build time, one incremental change, a lookup, and
// the heap it takes. Shared by scripts/bench/authorized-index.ts and scripts/bench/server.ts.
import { performance } from "node:perf_hooks";
import { AuthorizedEntryIndex, type IndexedEntry } from "../../server/registration/authorized-index.js";

const TD = "spiffe://example.org";
const agentId = (n: number): string => `${TD}/hallmark/agent/tpm/${n.toString(16).padStart(64, "0")}`;
const ALIASES = 20;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}

/** Builds an index of `entries` entries for `agents` agents, changes it, and returns the report lines. */
export function measureAuthorizedIndex(entries: number, agents: number): string[] {
  global.gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  const index = new AuthorizedEntryIndex();
  let t = performance.now();
  for (let a = 0; a < agents; a++) {
    index.upsertAgent({ agentId: agentId(a), selectors: [`tpm:ek_hash:${a}`, `tpm:ek_ca:ca${a % ALIASES}`] });
  }
  for (let i = 0; i < ALIASES; i++) {
    index.upsertEntry({
      id: `alias-${i}`,
      spiffeId: `${TD}/fleet/${i}`,
      parentId: `${TD}/hallmark/server`,
      selectors: [`tpm:ek_ca:ca${i}`],
      node: true,
    });
  }
  // Half the entries are parented to one agent each, half to a fleet alias (so ~2,500 per alias).
  for (let e = 0; e < entries; e++) {
    const parentId = e % 2 === 0 ? agentId(e % agents) : `${TD}/fleet/${e % ALIASES}`;
    index.upsertEntry({
      id: `entry-${e}`,
      spiffeId: `${TD}/workload/${e}`,
      parentId,
      selectors: [`unix:uid:${e % 5000}`],
      node: false,
    });
  }
  const buildMs = performance.now() - t;
  global.gc?.();
  const heapMb = (process.memoryUsage().heapUsed - heapBefore) / 1024 / 1024;

  const updates: number[] = [];
  for (let i = 0; i < 1000; i++) {
    const e: IndexedEntry = {
      id: `entry-${i * 7}`,
      spiffeId: `${TD}/workload/${i}-v2`,
      parentId: agentId(i % agents),
      selectors: ["unix:uid:1"],
      node: false,
    };
    t = performance.now();
    index.upsertEntry(e);
    index.agentsAffectedBy(e);
    updates.push(performance.now() - t);
  }
  const aliasUpdates: number[] = [];
  for (let i = 0; i < 50; i++) {
    t = performance.now();
    index.upsertEntry({
      id: `alias-${i % ALIASES}`,
      spiffeId: `${TD}/fleet/${i % ALIASES}`,
      parentId: `${TD}/hallmark/server`,
      selectors: [`tpm:ek_ca:ca${i % ALIASES}`],
      node: true,
    });
    aliasUpdates.push(performance.now() - t);
  }
  const lookups: number[] = [];
  let size = 0;
  for (let a = 0; a < 200; a++) {
    t = performance.now();
    size = index.authorizedEntries(agentId(a)).length;
    lookups.push(performance.now() - t);
  }

  return [
    `authorized-entries index: ${entries} entries, ${agents} agents, ${ALIASES} node aliases`,
    `build (all inserts, incremental)          ${buildMs.toFixed(0)} ms  (${((entries + agents) / (buildMs / 1000)).toFixed(0)} changes/s)`,
    `heap held by the index                    ${heapMb.toFixed(1)} MiB${global.gc ? "" : " (run with --expose-gc for an exact figure)"}`,
    `one entry update + affected agents        median ${(median(updates) * 1000).toFixed(1)} us`,
    `one node-alias update (re-matches agents) median ${(median(aliasUpdates) * 1000).toFixed(1)} us`,
    `authorizedEntries(agent) -> ${size} entries  median ${median(lookups).toFixed(2)} ms`,
  ];
}
