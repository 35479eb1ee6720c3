// The memory of a real `hallmark-agent run` process (dist/) holding `entries` entries, each with
// its X509-SVID, against a real `hallmark-server run` (SoftHSM2, SQLite) and swtpm: the part of
// scripts/bench/agent.ts that measures memory, alone, so a change can be measured in a minute, and
// run once per variant of node flags against the same server and entries (to weigh a V8 flag's
// memory against its CPU). The agent runs with the flags of its bin script's shebang, as
// `hallmark-agent` does, then the variant's (which may override them). Per variant it prints:
// seconds from spawn to every SVID in, the agent's CPU seconds until then (user+system,
// /proc/<pid>/stat), VmRSS/VmHWM, V8's and malloc's share, V8's collections, then the same after
// a full GC, with the RSS split into anonymous memory and mapped files (/proc/<pid>/smaps_rollup).
// HALLMARK_BENCH_IDLE_S=<s> also prints the RSS after that long idle; HALLMARK_BENCH_AGENT_OUTPUT
// =<file> keeps the agent's output (with --trace-gc, say); HALLMARK_BENCH_AGENT_LOG_LEVEL its level.
// Needs `npm run build` first. Run:
//   node --import tsx scripts/bench/agent-memory.ts [entries=10000] [node flags of a variant]...
// e.g. `... 10000 "" "--max-semi-space-size=1"` runs the plain agent, then the agent with that flag
// (each variant's flags are split on spaces; "" is none). A word NAME=value sets that environment
// variable for the variant's process (`GLIBC_TUNABLES=glibc.malloc.arena_max=2`).
import { join } from "node:path";
import type { AgentSettings } from "../../test/agent/agent-process.js";
import {
  createBenchEntries,
  measureRealAgent,
  probedAgentCommand,
  requireCompiledAgent,
} from "./agent-process-memory.js";
import { startBenchServer } from "./agent-bench-server.js";

const ENTRIES = Number(process.argv[2] ?? 10_000);
const variants = process.argv.length > 3 ? process.argv.slice(3) : [""];

const memoryProbe = requireCompiledAgent(import.meta.url);
const cleanups: (() => Promise<unknown> | void)[] = [];
try {
  const { admin, port, swtpmSocket, dir, trustBundlePath, agentId } = await startBenchServer(
    "agent-memory",
    cleanups,
  );
  await createBenchEntries(admin, agentId, "bulk", ENTRIES);

  for (const variant of variants) {
    const words = variant.split(" ").filter((w) => w !== "");
    const env = words.filter((w) => /^[A-Z_][A-Z0-9_]*=/.test(w));
    const flags = words.filter((w) => !env.includes(w));
    const settings: AgentSettings = {
      serverPort: port,
      trustBundlePath,
      swtpmSocket,
      dir: join(dir, "agent"),
      logLevel: process.env.HALLMARK_BENCH_AGENT_LOG_LEVEL ?? "info",
      command: probedAgentCommand(memoryProbe, flags),
    };
    // The agent process inherits this process's environment when it is spawned.
    const saved = { ...process.env };
    for (const assignment of env) {
      const at = assignment.indexOf("=");
      process.env[assignment.slice(0, at)] = assignment.slice(at + 1);
    }
    try {
      console.log(
        `variant ${JSON.stringify(variant)}: ${await measureRealAgent(settings, ENTRIES, cleanups)}`,
      );
    } finally {
      process.env = saved;
    }
  }
} finally {
  for (const cleanup of cleanups.reverse()) await cleanup();
}
