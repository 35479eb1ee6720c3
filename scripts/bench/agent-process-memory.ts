// The memory of a real `hallmark-agent run` process, as scripts/bench/agent.ts and
// scripts/bench/agent-memory.ts print it: spawned from dist/ (so tsx is not counted) with the
// memory probe preloaded, waited for until every entry has its SVID, then measured from /proc and
// by the probe (V8's share, before and after a full GC).
import { existsSync, readFileSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { performance } from "node:perf_hooks";
import { setTimeout as delay } from "node:timers/promises";
import type { EntryInput } from "../../proto/gen/admin.js";
import type { AdminApiClient } from "../../server/cli/admin-client.js";
import { MAX_BATCH_SIZE } from "../../server/registration/registration-service.js";
import { AgentProcess, compiledAgentCommand, type AgentSettings } from "../../test/agent/agent-process.js";
import { TRUST_DOMAIN } from "../../test/server/server-process.js";
import { processMemory } from "./agent-measure.js";
import { MEMORY_REPORT_MESSAGE, type GcTime, type MemoryFigures } from "./agent-memory-probe.js";
import { fmt } from "./stats.js";

/** Linux's USER_HZ: /proc/<pid>/stat counts CPU time in these ticks (100 on every architecture Node runs on). */
const CLOCK_TICKS_PER_S = 100;

/**
 * The compiled memory probe's path (a node without tsx cannot preload the .ts), once the compiled
 * agent and probe are known to exist. `benchUrl` is the calling bench script's import.meta.url.
 */
export function requireCompiledAgent(benchUrl: string): string {
  const probe = fileURLToPath(
    new URL(
      benchUrl.endsWith(".js") ? "./agent-memory-probe.js" : "../../dist/scripts/bench/agent-memory-probe.js",
      benchUrl,
    ),
  );
  for (const built of [compiledAgentCommand[0] as string, probe])
    if (!existsSync(built))
      throw new Error(
        `${built} is missing: run \`npm run build\` first (the RSS figure is of the compiled agent)`,
      );
  return probe;
}

/**
 * The node flags of the compiled agent's shebang (`#!/usr/bin/env -S node <flags>`): what
 * `hallmark-agent` runs with, and what spawning `node dist/agent/cli/main.js` would leave out.
 */
export function agentShebangFlags(): string[] {
  const first = readFileSync(compiledAgentCommand[0] as string, "utf8").split("\n", 1)[0] ?? "";
  const flags = /^#!\/usr\/bin\/env -S node\b(.*)$/.exec(first)?.[1] ?? "";
  return flags.split(" ").filter((f) => f !== "");
}

/**
 * node's arguments for the compiled agent as the bench runs it: its shebang's flags, then `flags`
 * (a later V8 flag wins over an earlier one), then the preloaded memory `probe`.
 */
export function probedAgentCommand(probe: string, flags: readonly string[] = []): string[] {
  return [...agentShebangFlags(), ...flags, "--expose-gc", "--import", probe, ...compiledAgentCommand];
}

/** A workload entry under the agent `parentId`, as the bench registers them. */
export function benchEntry(parentId: string, path: string, uid: number): EntryInput {
  return {
    spiffeId: `spiffe://${TRUST_DOMAIN}/bench/${path}`,
    parentId,
    selectors: [{ type: "unix", value: `uid:${uid}` }],
    x509SvidTtlSeconds: 0,
    jwtSvidTtlSeconds: 0,
    dnsNames: [],
    hint: "",
    node: false,
    delegation: undefined,
  };
}

/** Registers `count` entries `<prefix>/<i>` under `parentId` through BatchCreateEntries; their ids. */
export async function createBenchEntries(
  admin: AdminApiClient,
  parentId: string,
  prefix: string,
  count: number,
): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i += MAX_BATCH_SIZE) {
    const entries = Array.from({ length: Math.min(MAX_BATCH_SIZE, count - i) }, (_, j) =>
      benchEntry(parentId, `${prefix}/${i + j}`, i + j),
    );
    for (const r of (await admin.call("batchCreateEntries", { entries })).results) {
      if ((r.status?.code ?? 0) !== 0 || r.entry === undefined)
        throw new Error(`batch create failed: ${r.status?.message ?? "no entry"}`);
      ids.push(r.entry.id);
    }
  }
  return ids;
}

const MiB = (bytes: unknown): string => fmt(Number(bytes) / 2 ** 20);

/** User + system CPU seconds a process has used so far. */
async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8");
  // Fields after the command (which may hold spaces), from field 3 on; utime and stime are fields 14, 15.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_S;
}

/** The resident set split: anonymous memory (heaps, malloc) and the rest (mapped files: code). */
async function residentSplit(pid: number): Promise<{ anonMiB: number; fileMiB: number }> {
  const rollup = await readFile(`/proc/${pid}/smaps_rollup`, "utf8");
  const kib = (field: string): number =>
    Number(new RegExp(`^${field}:\\s+(\\d+) kB$`, "m").exec(rollup)?.[1]);
  return { anonMiB: kib("Anonymous") / 1024, fileMiB: (kib("Rss") - kib("Anonymous")) / 1024 };
}

/** One line on the process's memory now: /proc's figures, then the probe's before and after a full GC. */
export async function memoryLine(agent: AgentProcess): Promise<string> {
  const pid = agent.child.pid as number;
  const { rssMiB, hwmMiB } = await processMemory(pid);
  const from = agent.logs.length;
  process.kill(pid, "SIGUSR2");
  const report = await agent.waitForLog((l) => l.msg === MEMORY_REPORT_MESSAGE, {
    fromIndex: from,
    timeoutMs: 120_000,
  });
  const split = await residentSplit(pid);
  const v8 = (m: MemoryFigures): string =>
    `V8 heap used ${MiB(m.heapUsed)} of ${MiB(m.heapTotal)} MiB, external ${MiB(m.external)} MiB (ArrayBuffers ${MiB(m.arrayBuffers)} MiB), malloc in use ${MiB(m.mallocInUseBytes)} of ${MiB(m.mallocHeldBytes)} MiB`;
  const before = report.before as MemoryFigures;
  const afterGc = report.afterGc as MemoryFigures;
  const gc = report.gc as GcTime;
  const gcLine = `V8 collected ${gc.scavenges} times young (${fmt(gc.scavengeMs, 0)} ms) and ${gc.markCompacts} times whole (${fmt(gc.markCompactMs, 0)} ms) since the start`;
  return `VmRSS ${fmt(rssMiB)} MiB, VmHWM ${fmt(hwmMiB)} MiB; ${v8(before)}; ${gcLine}; after a full GC (and 11 s for the agent's malloc trim): VmRSS ${MiB(afterGc.vmRssBytes)} MiB (anonymous ${fmt(split.anonMiB)}, files ${fmt(split.fileMiB)}), ${v8(afterGc)}`;
}

/**
 * Spawns the agent of `settings`, waits until its /ready says it holds `entries` entries each with a
 * valid SVID, and returns the line describing its memory and what getting there cost; the process
 * is stopped before this returns (and `cleanups` stops it if the wait fails).
 */
export async function measureRealAgent(
  settings: AgentSettings,
  entries: number,
  cleanups: (() => Promise<unknown> | void)[],
): Promise<string> {
  const t0 = performance.now();
  const agent = await AgentProcess.start(settings);
  cleanups.push(() => agent.stop());
  let stdout = "";
  agent.child.stdout?.on("data", (chunk: Buffer) => (stdout += chunk.toString("utf8")));
  for (;;) {
    const body = await agent.health("/ready").then(
      (r) => r.body,
      () => undefined,
    );
    if (body !== undefined && body.entries === entries && body.entriesWithValidSvid === entries) break;
    if (agent.child.exitCode !== null || performance.now() - t0 > 600_000)
      throw new Error(`the agent process never held ${entries} SVIDs: ${agent.stderrText.slice(-2000)}`);
    await delay(200);
  }
  const readyS = (performance.now() - t0) / 1000;
  const cpuS = await cpuSeconds(agent.child.pid as number);
  // HALLMARK_BENCH_IDLE_S=<s>: also the RSS once the agent idled that long (what V8 and the agent
  // give back on their own once the burst is over), before the probe forces a collection.
  const idleS = Number(process.env.HALLMARK_BENCH_IDLE_S ?? 0);
  let idle = "";
  if (idleS > 0) {
    const atReady = await processMemory(agent.child.pid as number);
    await delay(idleS * 1000);
    const later = await processMemory(agent.child.pid as number);
    idle = `VmRSS ${fmt(atReady.rssMiB)} MiB when ready, ${fmt(later.rssMiB)} MiB ${idleS} s later; `;
  }
  const line = idle + (await memoryLine(agent));
  await agent.stop();
  // What the agent wrote, node's own output included (--trace-gc goes to stdout), kept for a look.
  const outputPath = process.env.HALLMARK_BENCH_AGENT_OUTPUT;
  if (outputPath !== undefined) await writeFile(outputPath, `${stdout}\n${agent.stderrText}`);
  return `agent process (dist/agent/cli/main.js) holding ${entries} entries with SVIDs, ready ${fmt(readyS)} s after spawn having used ${fmt(cpuS, 2)} s of CPU (goal at 10,000: ≤ 150 MB = 143 MiB): ${line}`;
}
