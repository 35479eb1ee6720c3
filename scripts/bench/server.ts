// The server on real parts (swtpm, SoftHSM2, SQLite). First the authorized-entries index at the
// issue's scale (100k entries, 1k agents: build and one incremental update), then entry creation
// through the admin API over its unix socket (one at a time and batched, with p50/p99).
// Then the node API through TLS, as agents use it. Prints: attestations/s with p50/p99; Sync initial state for an agent with 10k entries (time, bytes);
// how long a new entry takes to reach 50 open Sync streams;
// BatchNewX509SVID SVIDs/s against the raw HSM sign rate of the same run; agent calls/s on one
// connection whose proof of possession took a TPM signature made 50 ms slower on purpose.
// Run: node --import tsx scripts/bench/server.ts [attestations=30] [entries=10000] [seconds=5] [admin entries=1000]
import { performance } from "node:perf_hooks";
import { mkdtemp } from "node:fs/promises";
import { join } from "node:path";
import { ekHash } from "../../native/tpm/index.js";
import { parseSelector } from "../../common/selector.js";
import { SpiffeId } from "../../common/spiffe/index.js";
import { opensslCsr } from "../../common/spiffe/testdata/openssl.js";
import { SyncResponse } from "../../proto/gen/node.js";
import { NodeApiHarness, startHost } from "../../test/node-api/node-api-harness.js";
import { fixtureTempRoot } from "../../test/fixtures/processes.js";
import type { TestAgent } from "../../test/node-api/test-agent.js";
import { MAX_BATCH_SIZE } from "../../server/registration/registration-service.js";
import { measureAuthorizedIndex } from "./authorized-index-measure.js";
import { measureAdminEntryCreate } from "./admin-entries-measure.js";
import { fmt, percentile } from "./stats.js";

const ATTESTATIONS = Number(process.argv[2] ?? 30);
const ENTRIES = Number(process.argv[3] ?? 10_000);
const SECONDS = Number(process.argv[4] ?? 5);
const ADMIN_ENTRIES = Number(process.argv[5] ?? 1000);
const TPM_DELAY_MS = 50;

/** Runs `op` from `concurrency` loops for SECONDS; operations per second (each op may count `weight`). */
async function rate(concurrency: number, op: () => Promise<number>): Promise<number> {
  let done = 0;
  const end = performance.now() + SECONDS * 1000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) done += await op();
    }),
  );
  return done / ((performance.now() - started) / 1000);
}

// 0. Before anything else allocates, so the index's heap figure is its own.
for (const line of measureAuthorizedIndex(100_000, 1_000)) console.log(line);
// 0b. The admin API on its own server, stopped before the node API's starts.
const adminBatches = Math.max(1, Math.ceil((10 * ADMIN_ENTRIES) / MAX_BATCH_SIZE));
for (const line of await measureAdminEntryCreate(ADMIN_ENTRIES, adminBatches, MAX_BATCH_SIZE))
  console.log(line);

const a = await startHost();
const b = await startHost({ ekCertificates: false });
const server = await NodeApiHarness.start({
  ekCaBundlePaths: [a.conn.sw.ekCaBundlePath],
  ekHashAllowlist: [ekHash(b.ek.public)],
});
const clients: TestAgent[] = [];
const connect = (): TestAgent => {
  const c = server.agent();
  clients.push(c);
  return c;
};
try {
  // 1. Attestation: sequential on one swtpm, then two swtpms at once.
  const client = connect();
  await client.attest(a);
  const latencies: number[] = [];
  let t = performance.now();
  for (let i = 0; i < ATTESTATIONS; i++) {
    const s = performance.now();
    await client.attest(a);
    latencies.push(performance.now() - s);
  }
  const sequential = ATTESTATIONS / ((performance.now() - t) / 1000);
  latencies.sort((x, y) => x - y);
  t = performance.now();
  const half = Math.ceil(ATTESTATIONS / 2);
  await Promise.all(
    [a, b].map(async (host) => {
      const c = connect();
      for (let i = 0; i < half; i++) await c.attest(host);
    }),
  );
  const parallel = (2 * half) / ((performance.now() - t) / 1000);
  console.log(
    `attestation (swtpm, TLS, HSM-signed SVID, SQLite): ${fmt(sequential)}/s one TPM, p50 ${fmt(percentile(latencies, 50))} ms, p99 ${fmt(percentile(latencies, 99))} ms; ${fmt(parallel)}/s with two TPMs`,
  );

  // 2. Sync: the full state of an agent with ENTRIES entries.
  const svidA = await client.attest(a);
  const parentId = SpiffeId.parse(svidA.spiffeId);
  let last = 0;
  for (let i = 0; i < ENTRIES; i += 1000) {
    const batch = Array.from({ length: Math.min(1000, ENTRIES - i) }, (_, j) => ({
      spiffeId: SpiffeId.parse(`spiffe://example.org/workload/${i + j}`),
      parentId,
      selectors: [parseSelector(`unix:uid:${i + j}`)],
    }));
    for (const r of await server.datastore.createEntries(batch))
      if (r.ok) last = Math.max(last, r.value.revision);
  }
  await server.view.waitFor(last);
  const proved = connect();
  await proved.prove(a, svidA);
  t = performance.now();
  const stream = proved.sync();
  const first = await stream.next();
  const syncMs = performance.now() - t;
  stream.cancel();
  const bytes = SyncResponse.encode(first).finish().length;
  console.log(
    `Sync initial state: ${first.entries.length} entries in ${fmt(syncMs)} ms, ${fmt(bytes / 1024)} KiB (${fmt(bytes / first.entries.length, 0)} B/entry)`,
  );

  // 2b. Push latency: an entry created in the datastore, until every open Sync stream has it.
  const STREAMS = 50;
  const watchers = [];
  for (let i = 0; i < STREAMS; i++) {
    const c = connect();
    await c.prove(a, svidA);
    const s = c.sync();
    await s.next();
    watchers.push(s);
  }
  const pushMs: number[] = [];
  for (let i = 0; i < 20; i++) {
    const s = performance.now();
    const created = await server.datastore.createEntry({
      spiffeId: SpiffeId.parse(`spiffe://example.org/pushed/${i}`),
      parentId,
      selectors: [parseSelector("unix:uid:1")],
    });
    await Promise.all(
      watchers.map(async (w) => {
        for (;;) if ((await w.next()).entries.some((e) => e.id === created.id)) return;
      }),
    );
    pushMs.push(performance.now() - s);
  }
  for (const w of watchers) w.cancel();
  pushMs.sort((x, y) => x - y);
  console.log(
    `push: an entry created in the datastore reaches all ${STREAMS} open Sync streams in p50 ${fmt(percentile(pushMs, 50))} ms, max ${fmt(pushMs.at(-1) ?? NaN)} ms`,
  );

  // 3. BatchNewX509SVID against the raw HSM sign rate, both measured now.
  const rawKey = await server.keyManager.generateKey({ id: "bench-raw-sign", type: "ec-p256" });
  const rawRate = await rate(16, async () => {
    await server.keyManager.sign(rawKey, Buffer.from("bench"), "ecdsa-sha256");
    return 1;
  });
  await server.keyManager.deleteKey(rawKey.id);
  const dir = await mkdtemp(join(fixtureTempRoot(), "hallmark-bench-csr-"));
  const csr = await opensslCsr(dir, "bench");
  const entryId = first.entries[0]?.id ?? "";
  const BATCH = 50;
  const params = Array.from({ length: BATCH }, () => ({ entryId, csr }));
  const svidRate = await rate(4, async () => {
    const { results } = await proved.batchNewX509Svid(params);
    return results.filter((r) => r.status?.code === 0).length;
  });
  console.log(
    `BatchNewX509SVID (batches of ${BATCH}, 4 in flight): ${fmt(svidRate)} SVIDs/s; raw HSM ECDSA P-256 sign: ${fmt(rawRate)}/s; ratio ${fmt(svidRate / rawRate, 2)}`,
  );

  // 4. Agent calls on one connection, the PoP signature made 50 ms slower (a real TPM's pace).
  const slow = connect();
  t = performance.now();
  const proof = await slow.signedProof(a, svidA);
  await new Promise((resolve) => setTimeout(resolve, TPM_DELAY_MS));
  await slow.provePossession(proof);
  const proofMs = performance.now() - t;
  const callRate = await rate(16, async () => {
    await slow.newJwtSvid(entryId, ["bench"]);
    return 1;
  });
  console.log(
    `agent calls (NewJWTSVID, 16 in flight) after one PoP of ${fmt(proofMs)} ms with +${TPM_DELAY_MS} ms TPM delay: ${fmt(callRate)} calls/s (a signature per call would cap one agent at ${fmt(1000 / TPM_DELAY_MS, 0)}/s)`,
  );
} finally {
  for (const c of clients) c.close();
  await server.stop();
  await a.stop();
  await b.stop();
}
