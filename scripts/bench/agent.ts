// The node agent on real parts: `hallmark-server run` as its own process (SoftHSM2, SQLite), swtpm,
// entries through the admin API over its unix socket. The agent runs in this process for the
// latency figures (a cache subscriber stamps each change in the tick it lands), then as a real
// `hallmark-agent run` process (dist/, so tsx is not counted) for its memory. Prints:
// 1. agent start → first workload SVID in its cache: cold (TPM attestation; the entry was registered
//    beforehand for the agent ID the EK hash gives) and restarted (the stored identity, no attestation);
// 2. entry change (create/update/delete through the admin API) → the agent's cache, p50/p99;
// 3. initial Sync of `entries` entries: Sync call → all in the cache, and → all X509-SVIDs issued;
// 4. an entry created with `entries` present → in the cache, p50/p99;
// 5. VmRSS/VmHWM of a real agent process holding `entries` entries, each with its SVID (and with a
//    handful, for the baseline) once all SVIDs are in, with V8's share, then after a full GC (a
//    probe preloaded into the process reports both on SIGUSR2).
// Needs `npm run build` first. Run: node --import tsx scripts/bench/agent.ts [entries=10000] [changes=200]
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { parseAgentConfig } from "../../agent/config/agent-config.js";
import { startAgent, type RunningAgent } from "../../agent/run/start-agent.js";
import { createLogger } from "../../common/logging/logger.js";
import { agentConfigText, type AgentSettings } from "../../test/agent/agent-process.js";
import { freePort } from "../../test/fixtures/processes.js";
import { startBenchServer } from "./agent-bench-server.js";
import { SnapshotLog, onSyncCall, timeApply, type TimedApply } from "./agent-measure.js";
import {
  benchEntry,
  createBenchEntries,
  measureRealAgent,
  probedAgentCommand,
  requireCompiledAgent,
} from "./agent-process-memory.js";
import { fmt, percentile } from "./stats.js";

const ENTRIES = Number(process.argv[2] ?? 10_000);
const CHANGES = Number(process.argv[3] ?? 200);
const INCREMENTAL = 50;
/** Entries the change phase starts with, so updates and deletes have something to work on. */
const SEED = 5;

const memoryProbe = requireCompiledAgent(import.meta.url);

const sorted = (xs: number[]): number[] => [...xs].sort((a, b) => a - b);
const p = (xs: number[]): string =>
  `p50 ${fmt(percentile(sorted(xs), 50))} ms, p99 ${fmt(percentile(sorted(xs), 99))} ms`;

const cleanups: (() => Promise<unknown> | void)[] = [];
try {
  const bench = await startBenchServer("agent", cleanups);
  const { admin, port, trustBundlePath, dir, agentId } = bench;
  const settings: AgentSettings = {
    serverPort: port,
    trustBundlePath,
    swtpmSocket: bench.swtpmSocket,
    dir: join(dir, "agent"),
    logLevel: "info",
    command: probedAgentCommand(memoryProbe),
  };

  const entryInput = (path: string, uid: number) => benchEntry(agentId, path, uid);
  const createMany = (prefix: string, count: number): Promise<string[]> =>
    createBenchEntries(admin, agentId, prefix, count);
  const startInProcess = async (): Promise<RunningAgent> => {
    await mkdir(settings.dir, { recursive: true });
    const config = parseAgentConfig(agentConfigText(settings, await freePort()), "agent.yaml");
    return startAgent(config, { logger: createLogger({ name: "bench-agent", level: "silent" }) });
  };
  let running: RunningAgent | undefined;
  let log: SnapshotLog | undefined;
  cleanups.push(async () => {
    log?.close();
    await running?.stop();
  });
  const allHaveSvids = (n: number) => (s: SnapshotLog["latest"]) => {
    if (s.entries.size < n) return false;
    for (const cached of s.entries.values()) if (cached.svid === undefined) return false;
    return true;
  };

  // 1. Start → first workload SVID: cold (attestation), then restarted on the stored identity.
  const first = await admin.call("createEntry", { entry: entryInput("first", 1) });
  for (const kind of ["cold start with TPM attestation", "restart with the stored identity"]) {
    log?.close();
    await running?.stop();
    const t0 = performance.now();
    running = await startInProcess();
    const joinedMs = performance.now() - t0;
    if (running.agent.identity?.spiffeId.toString() !== agentId)
      throw new Error(`the agent is ${String(running.agent.identity?.spiffeId)}, not ${agentId}`);
    log = new SnapshotLog(running.cache);
    const entryMs = (await log.when("the first entry", (s) => s.entries.has(first.id))) - t0;
    const svidMs =
      (await log.when("the first SVID", (s) => s.entries.get(first.id)?.svid !== undefined)) - t0;
    console.log(
      `agent start → first workload SVID in its cache, ${kind}: ${fmt(svidMs)} ms (identity after ${fmt(joinedMs)} ms, entry in cache after ${fmt(entryMs)} ms)`,
    );
  }
  if (running === undefined || log === undefined) throw new Error("no agent");

  // 2. Entry changes through the admin API, one at a time, each waited for (with its SVID).
  const pool = await createMany("seed", SEED);
  await log.when("the seed SVIDs", allHaveSvids(SEED + 1));
  const seen: Record<"create" | "update" | "delete", number[]> = { create: [], update: [], delete: [] };
  const svidMs: number[] = [];
  for (let i = 0; i < CHANGES; i++) {
    const kind = (["create", "update", "delete"] as const)[i % 3] as "create" | "update" | "delete";
    log.forget();
    const t = performance.now();
    if (kind === "create") {
      const { id } = await admin.call("createEntry", { entry: entryInput(`change/${i}`, 1000 + i) });
      seen.create.push((await log.when("a created entry", (s) => s.entries.has(id))) - t);
      svidMs.push((await log.when("its SVID", (s) => s.entries.get(id)?.svid !== undefined)) - t);
      pool.push(id);
    } else if (kind === "update") {
      const id = pool[i % pool.length] as string;
      const before = log.latest.entries.get(id)?.svid?.serial;
      const updated = await admin.call("updateEntry", {
        id,
        revision: 0,
        patch: {
          selectors: { selectors: [{ type: "unix", value: `uid:${5000 + i}` }] },
          dnsNames: undefined,
          delegation: undefined,
        },
      });
      const current = (s: SnapshotLog["latest"]) => s.entries.get(id)?.entry.revision === updated.revision;
      seen.update.push((await log.when("an updated entry", current)) - t);
      const reissued = (s: SnapshotLog["latest"]) =>
        current(s) && ![undefined, before].includes(s.entries.get(id)?.svid?.serial);
      svidMs.push((await log.when("its new SVID", reissued)) - t);
    } else {
      const id = pool.shift() as string;
      await admin.call("deleteEntry", { id });
      seen.delete.push((await log.when("a deleted entry", (s) => !s.entries.has(id))) - t);
    }
  }
  const all = [...seen.create, ...seen.update, ...seen.delete];
  console.log(
    `entry change (admin API call start → agent cache subscriber), ${CHANGES} changes: ${p(all)} (goal p99 ≤ 250 ms; SPIRE's agent: 5–11 s); create ${p(seen.create)}, update ${p(seen.update)}, delete ${p(seen.delete)}; → new SVID in cache ${p(svidMs)}`,
  );
  const few = 1 + pool.length;
  log.close();
  log = undefined;
  await running.stop();
  running = undefined;

  // 5a. The real process's memory with few entries, for comparison with 10k below.
  const realAgent = async (n: number): Promise<void> => {
    console.log(await measureRealAgent(settings, n, cleanups));
  };
  await realAgent(few);

  // 3. Initial Sync of ENTRIES more entries, registered while the agent was stopped.
  let t = performance.now();
  await createMany("bulk", ENTRIES);
  const createS = (performance.now() - t) / 1000;
  const total = few + ENTRIES;
  const t0 = performance.now();
  running = await startInProcess();
  let syncAt = NaN;
  onSyncCall(running.agent.connection, () => (syncAt = Number.isNaN(syncAt) ? performance.now() : syncAt));
  const applies: TimedApply[] = [];
  timeApply(running.cache, (applied) => applies.push(applied));
  log = new SnapshotLog(running.cache);
  const inCache = await log.when(`${total} entries`, (s) => s.entries.size >= total);
  const full = applies.find((a) => a.entries >= total);
  console.log(
    `initial Sync of ${total} entries (restart with the stored identity): Sync call → all in the cache ${fmt(inCache - syncAt)} ms (goal ≤ 2000 ms): ${fmt((full?.startMs ?? NaN) - syncAt)} ms until the message was in hand (server's full state, transfer, protobuf decode, entry parsing), then ${fmt(full?.ms ?? NaN)} ms the cache's apply; agent start → Sync call ${fmt(syncAt - t0)} ms (${ENTRIES} entries created through BatchCreateEntries in ${fmt(createS, 2)} s)`,
  );
  const issued = await log.when(`${total} SVIDs`, allHaveSvids(total), 600_000);
  console.log(
    `… all ${total} X509-SVIDs issued ${fmt((issued - syncAt) / 1000, 2)} s after the Sync call: ${fmt(total / ((issued - inCache) / 1000), 0)} SVIDs/s once the entries were in (informative: the HSM signs ~750/s)`,
  );

  // 4. Entries created with ENTRIES present (and every SVID issued, so nothing else is in flight).
  const incremental: number[] = [];
  const incrementalSvid: number[] = [];
  for (let i = 0; i < INCREMENTAL; i++) {
    log.forget();
    t = performance.now();
    const { id } = await admin.call("createEntry", { entry: entryInput(`late/${i}`, 2000 + i) });
    incremental.push((await log.when("a late entry", (s) => s.entries.has(id))) - t);
    incrementalSvid.push((await log.when("its SVID", (s) => s.entries.get(id)?.svid !== undefined)) - t);
  }
  console.log(
    `entry created with ${total} present → agent cache, ${INCREMENTAL} creates: ${p(incremental)} (goal ≤ 50 ms); → its SVID in cache ${p(incrementalSvid)}`,
  );
  log.close();
  log = undefined;
  await running.stop();
  running = undefined;

  // 5b. The real process with every entry and SVID.
  await realAgent(total + INCREMENTAL);
} finally {
  for (const cleanup of cleanups.reverse()) await cleanup();
}
