// Datastore throughput on SQLite (a file in a temp dir) and PostgreSQL (a throwaway local cluster):
// entries created per second one at a time and in batches, then reads over the full set: list all,
// list in pages, one parent's entries (an agent's Sync initial state) and a selector lookup.
// Run: node --import tsx scripts/bench/datastore.ts [entries=100000] [single-creates=2000] [batch=1000]
import { mkdtemp } from "node:fs/promises";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { SpiffeId } from "../../common/spiffe/index.js";
import type { Datastore, NewEntry } from "../../server/datastore/index.js";
import { openPostgresDatastore, openSqliteDatastore } from "../../server/datastore/index.js";
import { parseSelector } from "../../common/selector.js";
import { startPostgres } from "../../test/fixtures/postgres.js";
import { fixtureTempRoot, trackTempDir } from "../../test/fixtures/processes.js";

const ENTRIES = Number(process.argv[2] ?? "100000");
const SINGLE = Number(process.argv[3] ?? "2000");
const BATCH = Number(process.argv[4] ?? "1000");
/** One agent has this many entries (the Sync case); the rest spread over 999 agents. */
const BIG_PARENT_ENTRIES = Math.min(10_000, ENTRIES);

const agent = (n: number): SpiffeId =>
  SpiffeId.parse(`spiffe://example.org/hallmark/agent/tpm/${n.toString(16).padStart(64, "0")}`);
const agents = Array.from({ length: 1000 }, (_, n) => agent(n));

function entry(i: number, prefix: string): NewEntry {
  const parent = i < BIG_PARENT_ENTRIES ? 0 : 1 + (i % 999);
  return {
    spiffeId: SpiffeId.parse(`spiffe://example.org/${prefix}/workload-${i}`),
    parentId: agents[parent] ?? agent(parent),
    selectors: [
      parseSelector(`unix:uid:${1000 + (i % 5000)}`),
      parseSelector(`systemd:unit:svc-${i}.service`),
    ],
    x509SvidTtlMs: 3_600_000,
  };
}

async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const started = performance.now();
  const value = await fn();
  return { ms: performance.now() - started, value };
}

interface Row {
  backend: string;
  measure: string;
  value: string;
}

async function run(name: string, ds: Datastore): Promise<Row[]> {
  const rows: Row[] = [];
  const add = (measure: string, value: string): void => void rows.push({ backend: name, measure, value });

  const single = await timed(async () => {
    for (let i = 0; i < SINGLE; i++) await ds.createEntry(entry(i, "single"));
  });
  add(`create, one per call (${SINGLE})`, `${Math.round(SINGLE / (single.ms / 1000))} entries/s`);

  const concurrent = await timed(() =>
    Promise.all(Array.from({ length: SINGLE }, (_, i) => ds.createEntry(entry(i, "concurrent")))),
  );
  add(
    `create, one per call, all at once (${SINGLE})`,
    `${Math.round(SINGLE / (concurrent.ms / 1000))} entries/s`,
  );

  // The single and concurrent ones are deleted so the full set is exactly ENTRIES.
  const extra = await ds.listEntries();
  for (let i = 0; i < extra.items.length; i += BATCH) {
    await ds.deleteEntries(extra.items.slice(i, i + BATCH).map((e) => e.id));
  }

  const batched = await timed(async () => {
    for (let start = 0; start < ENTRIES; start += BATCH) {
      const batch = Array.from({ length: Math.min(BATCH, ENTRIES - start) }, (_, k) =>
        entry(start + k, "batch"),
      );
      const results = await ds.createEntries(batch);
      if (results.some((r) => !r.ok)) throw new Error("a batch item failed");
    }
  });
  add(`create, ${BATCH} per batch (${ENTRIES})`, `${Math.round(ENTRIES / (batched.ms / 1000))} entries/s`);

  const all = await timed(() => ds.listEntries());
  if (all.value.items.length !== ENTRIES)
    throw new Error(`listed ${all.value.items.length}, expected ${ENTRIES}`);
  add(`list all ${ENTRIES}`, `${all.ms.toFixed(0)} ms`);

  const paged = await timed(async () => {
    let count = 0;
    let token: string | undefined;
    do {
      const page = await ds.listEntries(
        {},
        { pageSize: 1000, ...(token === undefined ? {} : { pageToken: token }) },
      );
      count += page.items.length;
      token = page.nextPageToken;
    } while (token !== undefined);
    return count;
  });
  add(`list all ${paged.value} in pages of 1000`, `${paged.ms.toFixed(0)} ms`);

  const parent = await timed(() => ds.listEntries({ parentId: agents[0] ?? agent(0) }));
  add(`list one agent's ${parent.value.items.length} entries`, `${parent.ms.toFixed(0)} ms`);

  const lookups = 200;
  const subset = await timed(async () => {
    for (let i = 0; i < lookups; i++) {
      await ds.listEntries({
        selectors: {
          match: "subset",
          selectors: [
            parseSelector(`unix:uid:${1000 + i}`),
            parseSelector(`systemd:unit:svc-${i}.service`),
            parseSelector("unix:gid:0"),
          ],
        },
      });
    }
  });
  add("selector subset lookup", `${(subset.ms / lookups).toFixed(2)} ms each`);

  const changes = await timed(async () => {
    let count = 0;
    let from = 0;
    for (;;) {
      const page = await ds.changesSince(from, { limit: 5000 });
      if (page.status !== "changes") throw new Error("resync needed");
      count += page.changes.length;
      if (!page.more) return count;
      from = page.changes[page.changes.length - 1]?.revision ?? from;
    }
  });
  add(`read the change log (${changes.value} changes)`, `${changes.ms.toFixed(0)} ms`);
  return rows;
}

const dir = await mkdtemp(join(fixtureTempRoot(), "hallmark-bench-datastore-"));
const removeDir = trackTempDir(dir);
const results: Row[] = [];
const sqlite = await openSqliteDatastore({ path: join(dir, "datastore.sqlite3") });
try {
  results.push(...(await run("SQLite", sqlite)));
} finally {
  await sqlite.close();
}
const cluster = await startPostgres();
try {
  const postgres = await openPostgresDatastore({
    connectionString: await cluster.createDatabase(),
    poolSize: 10,
  });
  try {
    results.push(...(await run("PostgreSQL", postgres)));
  } finally {
    await postgres.close();
  }
} finally {
  await cluster.stop();
  removeDir();
}

// Figures are wall-clock: on a shared machine they move with its load, so the load goes with them.
console.log(
  `${cpus().length} CPUs, load average ${loadavg()
    .map((l) => l.toFixed(1))
    .join(" ")}`,
);
const width = Math.max(...results.map((r) => r.measure.length));
for (const r of results) console.log(`${r.backend.padEnd(11)} ${r.measure.padEnd(width)}  ${r.value}`);
console.log(
  "(SQLite with synchronous=FULL: each commit waits for the disk; the PostgreSQL cluster runs with fsync off.)",
);
