// The Workload API with 10,000 entries in the agent's cache, each holding a real X509-SVID from the
// CA code: FetchX509SVID first-message latency on the real agent socket (unix socket, gRPC, the
// generated client in this process) for a caller matching 1 entry and one matching 100, every
// entry sharing the caller's UID selector (the case a naive per-selector lookup pays for); then the
// costs behind it: building the entry index, filing one snapshot change, matching; and a bundle
// change reaching 1,000 open streams.
// Run: node --import tsx scripts/bench/workload-api-first-message.ts [entries] [calls]
import { performance } from "node:perf_hooks";
import type { Selector } from "../../common/selector.js";
import type { CachedEntry, WorkloadCacheSnapshot } from "../../agent/cache/index.js";
import { allServed } from "../../agent/cache/testdata/cache-fixture.js";
import { testEntry } from "../../agent/cache/testdata/test-svid-server.js";
import { EntryIndex } from "../../agent/workload-api/entry-index.js";
import { selectorKeys } from "../../agent/workload-api/selector-keys.js";
import { StreamReader, asCaller, startApi } from "../../agent/workload-api/testdata/workload-api-fixture.js";
import { credentials } from "@grpc/grpc-js";
import { SpiffeWorkloadAPIClient, type X509SVIDResponse } from "../../proto/gen/workload.js";
import { fmt, percentile } from "./stats.js";

const ENTRIES = Number(process.argv[2] ?? 10_000);
const CALLS = Number(process.argv[3] ?? 300);
const GROUP = 100;
const DAY = 24 * 3_600_000;

const uid1000: Selector = { type: "unix", value: "uid:1000" };
const path = (p: string): Selector => ({ type: "unix", value: `path:${p}` });

const fx = await startApi({ ttl: { x509Ms: DAY } });
try {
  const entries = [
    ...Array.from({ length: ENTRIES - GROUP }, (_, i) =>
      testEntry(`e${i}`, { selectors: [uid1000, path(`/app/${i}`)] }),
    ),
    ...Array.from({ length: GROUP }, (_, i) => testEntry(`g${i}`, { selectors: [uid1000, path("/group")] })),
  ];
  let t = performance.now();
  fx.sync(entries);
  while (!allServed(fx.f.cache.snapshot, ENTRIES)) await new Promise((r) => setTimeout(r, 20));
  console.log(
    `${ENTRIES} entries, each with a real X509-SVID from the CA code, in ${fmt((performance.now() - t) / 1000)} s`,
  );

  fx.callers.set("one", [uid1000, path("/app/0"), { type: "unix", value: "gid:1000" }]);
  fx.callers.set("hundred", [uid1000, path("/group"), { type: "unix", value: "gid:1000" }]);

  // A fresh connection every 200 streams: HTTP/2 (nghttp2's rapid-reset guard) closes a connection
  // on which a client cancels streams in the thousands within seconds, as this loop would.
  let client = fx.client;
  let onClient = 0;
  const firstMessage = async (caller: string): Promise<{ ms: number; message: X509SVIDResponse }> => {
    if (++onClient > 200) {
      if (client !== fx.client) client.close();
      client = new SpiffeWorkloadAPIClient(`unix:${fx.socketPath}`, credentials.createInsecure(), {
        "grpc.use_local_subchannel_pool": 1,
      });
      onClient = 1;
      // Connected before timing, as a workload's long-lived client is.
      await new Promise<void>((resolve, reject) =>
        client.waitForReady(Date.now() + 5000, (err) => (err ? reject(err) : resolve())),
      );
    }
    const start = performance.now();
    const stream = new StreamReader<X509SVIDResponse>(client.fetchX509Svid({}, asCaller(caller)));
    const message = await stream.next();
    const ms = performance.now() - start;
    await stream.cancel();
    return { ms, message };
  };

  console.log(`\nFetchX509SVID first message, ${CALLS} streams one after another (after 50 to warm up):`);
  for (const caller of ["one", "hundred"]) {
    for (let i = 0; i < 50; i++) await firstMessage(caller);
    const ms: number[] = [];
    let svids = 0;
    let bytes = 0;
    for (let i = 0; i < CALLS; i++) {
      const { ms: took, message } = await firstMessage(caller);
      ms.push(took);
      svids = message.svids.length;
      bytes = message.svids.reduce(
        (n, s) => n + s.x509Svid.length + s.x509SvidKey.length + s.bundle.length,
        0,
      );
    }
    ms.sort((a, b) => a - b);
    console.log(
      `  caller matching ${svids} entr${svids === 1 ? "y" : "ies"} (${fmt(bytes / 1024)} KiB of DER): p50 ${fmt(percentile(ms, 50), 2)} ms, p99 ${fmt(percentile(ms, 99), 2)} ms, max ${fmt(ms[ms.length - 1] ?? NaN, 2)} ms`,
    );
  }

  // The index on its own, over the cache's current snapshot.
  const snapshot = fx.f.cache.snapshot;
  const index = new EntryIndex();
  t = performance.now();
  index.update(snapshot);
  console.log(`\nEntry index: built for ${ENTRIES} entries in ${fmt(performance.now() - t)} ms`);
  const rounds = 200;
  let filing = 0;
  let copying = 0;
  for (let i = 0; i < rounds; i++) {
    const copyStart = performance.now();
    const changed = new Map(snapshot.entries);
    copying += performance.now() - copyStart;
    const id = `e${i}`;
    changed.set(id, { ...(snapshot.entries.get(id) as CachedEntry) });
    const next: WorkloadCacheSnapshot = {
      ...snapshot,
      entries: changed,
      generation: snapshot.generation + i + 1,
    };
    const fileStart = performance.now();
    index.update(next);
    filing += performance.now() - fileStart;
  }
  console.log(
    `  one entry changed: ${fmt(filing / rounds, 2)} ms to file the change (once per snapshot, for all streams); the cache's own copy of its map for each snapshot: ${fmt(copying / rounds, 2)} ms`,
  );
  for (const [name, caller] of [
    ["1", selectorKeys([uid1000, path("/app/0")])],
    ["100", selectorKeys([uid1000, path("/group")])],
  ] as const) {
    const n = 20_000;
    t = performance.now();
    for (let i = 0; i < n; i++) index.match(caller);
    console.log(`  match, caller matching ${name}: ${fmt(((performance.now() - t) / n) * 1000, 1)} µs`);
  }

  // Fan-out: 1,000 open streams, each of its own caller, all told of a bundle change.
  const streams: StreamReader<X509SVIDResponse>[] = [];
  for (let i = 0; i < 1000; i++) {
    fx.callers.set(`s${i}`, [uid1000, path(`/app/${i}`)]);
    streams.push(new StreamReader<X509SVIDResponse>(fx.client.fetchX509Svid({}, asCaller(`s${i}`))));
  }
  await Promise.all(streams.map((s) => s.next()));
  const bundle = fx.f.server.ca.bundle;
  const [root] = bundle.x509Authorities;
  t = performance.now();
  fx.sync([], {
    bundle: {
      ...bundle,
      sequence: bundle.sequence + 1,
      x509Authorities: [...bundle.x509Authorities, root as Buffer],
    },
  });
  const applied = performance.now() - t;
  await Promise.all(streams.map((s) => s.next()));
  console.log(
    `\nBundle change with 1,000 open streams: apply() returned after ${fmt(applied)} ms (every stream's message built and queued), all 1,000 received after ${fmt(performance.now() - t)} ms`,
  );
  await Promise.all(streams.map((s) => s.cancel()));
} finally {
  await fx.close();
}
