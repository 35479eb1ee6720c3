// The agent's workload SVID cache at 10,000 entries: apply() of a full Sync state, an incremental
// change with 10,000 present, a full resync that changes nothing, the agent-side cost of filling it
// (keys, CSRs, checks), and the memory 10,000 entries take once each holds an X509-SVID and its key.
// The server answers at once with certificates of realistic size: one real SVID from the CA code,
// with each CSR's key spliced in (the signature is not checked by the cache), so what is measured is
// the cache, not a CA sharing its two cores.
// Run: node --expose-gc --import tsx scripts/bench/agent-cache.ts [entries]
import { monitorEventLoopDelay, performance } from "node:perf_hooks";
import { ManualClock } from "../../common/clock.js";
import { DerReader, TAG, certificateSpki } from "../../common/der/der.js";
import { createLogger } from "../../common/logging/logger.js";
import { SeededRandom, cryptoRandom } from "../../common/random.js";
import type { AgentEntry, WorkloadSvidSource, X509SvidResult } from "../../agent/cache/index.js";
import { WorkloadCache } from "../../agent/cache/index.js";
import { makeSvidKey } from "../../agent/cache/svid-key.js";
import { TestSvidServer, testEntry } from "../../agent/cache/testdata/test-svid-server.js";
import { fmt, percentile } from "./stats.js";

const COUNT = Number(process.argv[2] ?? 10_000);
const MiB = 1024 * 1024;
const HOUR = 3_600_000;

function memory(): { heap: number; external: number; rss: number } {
  global.gc?.();
  global.gc?.();
  const m = process.memoryUsage();
  return { heap: m.heapUsed, external: m.external, rss: m.rss };
}

async function waitUntil(predicate: () => boolean): Promise<void> {
  while (!predicate()) await new Promise((resolve) => setTimeout(resolve, 5));
}

/** The SubjectPublicKeyInfo of a DER PKCS#10 request. */
function csrSpki(csr: Buffer): Buffer {
  const request = new DerReader(new DerReader(csr, "CSR").read(TAG.sequence, "CSR").value, "CSR");
  const info = new DerReader(request.read(TAG.sequence, "info").value, "info");
  info.read(TAG.integer, "version");
  info.read(TAG.sequence, "subject");
  return info.read(TAG.sequence, "spki").raw;
}

const clock = new ManualClock(Date.now());
// One real SVID from the CA code (P-256 key, URI and DNS SANs, the server's extensions).
const ca = await TestSvidServer.start(clock);
const sample = testEntry("sample", { dnsNames: ["sample.example.org"] });
ca.entries.set(sample.id, sample);
const [issued] = await ca.batchNewX509Svid([{ entryId: sample.id, csr: (await makeSvidKey()).csr }]);
await ca.stop();
if (issued?.ok !== true) throw new Error("no sample SVID");
const template = issued.certChain[0] as Buffer;
const templateSpki = certificateSpki(template);
const spkiOffset = templateSpki.byteOffset - template.byteOffset;

let calls = 0;
const source: WorkloadSvidSource = {
  batchNewX509Svid(items) {
    calls++;
    const results = items.map((item): X509SvidResult => {
      const cert = Buffer.from(template);
      csrSpki(item.csr).copy(cert, spkiOffset);
      const serial = cryptoRandom.bytes(16).toString("hex");
      return {
        entryId: item.entryId,
        ok: true,
        certChain: [cert],
        serial,
        expiresAtMs: clock.nowMs() + HOUR,
      };
    });
    return Promise.resolve(results);
  },
  newJwtSvid() {
    return Promise.reject(new Error("not in this benchmark"));
  },
};

const entries: AgentEntry[] = Array.from({ length: COUNT }, (_, i) =>
  testEntry(`entry-${i}`, {
    selectors: [{ type: "unix", value: `uid:${1000 + (i % 5000)}` }],
    dnsNames: i % 10 === 0 ? [`svc-${i}.example.org`] : [],
  }),
);
const before = memory();
const cache = new WorkloadCache({
  source,
  clock,
  random: new SeededRandom(1),
  logger: createLogger({ name: "bench", level: "silent" }),
});

const loop = monitorEventLoopDelay({ resolution: 1 });
loop.enable();
let t = performance.now();
cache.apply({ full: true, entries, deletedEntryIds: [], bundle: ca.ca.bundle });
const fullApplyMs = performance.now() - t;
await waitUntil(() => cache.health().entriesWithValidSvid === COUNT);
const fillMs = performance.now() - t;
loop.disable();
const fillCalls = calls;
const filled = memory();

// One entry changed, 200 times, with COUNT present: the plan, the reschedule and one publish (a copy of the shard it is in).
const changes: number[] = [];
for (let i = 0; i < 200; i++) {
  const entry = { ...(entries[(i * 37) % COUNT] as AgentEntry), revision: 2 + i };
  t = performance.now();
  cache.apply({ full: false, entries: [entry], deletedEntryIds: [] });
  changes.push(performance.now() - t);
}
changes.sort((a, b) => a - b);

await waitUntil(() => cache.health().requesting === 0);
const current = [...cache.snapshot.entries.values()].map((c) => c.entry);
const generation = cache.snapshot.generation;
const callsBefore = calls;
t = performance.now();
cache.apply({ full: true, entries: current.map((e) => ({ ...e })), deletedEntryIds: [] });
const resyncMs = performance.now() - t;
await new Promise((resolve) => setTimeout(resolve, 20));
const resyncCalls = calls - callsBefore;
const resyncPublishes = cache.snapshot.generation - generation;

// Renewals: every SVID renews 40-50 % into its hour; walk the clock through that window.
const callsBeforeRenewal = calls;
t = performance.now();
clock.advance(0.5 * HOUR);
await waitUntil(() => cache.health().requesting === 0);
const renewMs = performance.now() - t;

const held = cache.snapshot.entries.get("entry-1")?.svid;
const perEntry = (filled.heap - before.heap + filled.external - before.external) / COUNT;
const lines = [
  `workload SVID cache, ${COUNT} entries (server answering at once with ${template.length}-byte certificates)`,
  `  apply() full Sync state:                 ${fmt(fullApplyMs)} ms`,
  `  all SVIDs in cache (agent side: keys, CSRs, checks): ${fmt(fillMs)} ms in ${fillCalls} batch calls; event loop delay max ${fmt(loop.max / 1e6)} ms, p99 ${fmt(loop.percentile(99) / 1e6)} ms`,
  `  apply() one changed entry, ${COUNT} held: p50 ${fmt(percentile(changes, 50), 2)} ms, p99 ${fmt(percentile(changes, 99), 2)} ms`,
  `  apply() full resync, nothing changed:     ${fmt(resyncMs)} ms, ${resyncCalls} calls, ${resyncPublishes} publishes`,
  `  renewal of all ${COUNT} at 40-50 % of their life: ${calls - callsBeforeRenewal} batch calls, ${fmt(renewMs)} ms`,
  `  memory held: heap ${fmt((filled.heap - before.heap) / MiB)} MiB + external ${fmt((filled.external - before.external) / MiB)} MiB = ${fmt(perEntry, 0)} B per entry (certificate ${held?.certChain[0]?.length ?? 0} B, PKCS#8 key ${held?.pkcs8PrivateKey.length ?? 0} B)`,
  `  RSS: ${fmt(before.rss / MiB)} MiB before, ${fmt(filled.rss / MiB)} MiB with ${COUNT} SVIDs (+${fmt((filled.rss - before.rss) / MiB)} MiB)`,
  `  clock timers held by the cache: ${clock.pendingTimers}`,
];
for (const line of lines) console.log(line);
cache.close();
