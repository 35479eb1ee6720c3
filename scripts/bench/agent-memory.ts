// The memory of a real `hallmark-agent run` process (dist/) holding `entries` entries, each with
// its X509-SVID, against a real `hallmark-server run` (SoftHSM2, SQLite) and swtpm: the part of
// scripts/bench/agent.ts that measures memory, alone, so a change can be measured in a minute, and
// run once per variant of node flags against the same server and entries (to weigh a V8 flag's
// memory against its CPU). Per variant it prints: seconds from spawn to every SVID in, the agent's
// CPU seconds until then (user+system, /proc/<pid>/stat), VmRSS/VmHWM, V8's share before and after
// a full GC, and the after-GC RSS split into anonymous memory and mapped files (/proc/<pid>/smaps_rollup).
// Needs `npm run build` first. Run:
//   node --import tsx scripts/bench/agent-memory.ts [entries=10000] [node flags of a variant]...
// e.g. `... 10000 "" "--max-semi-space-size=1"` runs the plain agent, then the agent with that flag
// (each variant's flags are split on spaces; "" is none). A word NAME=value sets that environment
// variable for the variant's process (`GLIBC_TUNABLES=glibc.malloc.arena_max=2`).
import { mkdtemp, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { TRUST_DOMAIN, startServerProcess } from "../../test/server/server-process.js";
import { AdminApiClient } from "../../server/cli/admin-client.js";
import { fixtureTempRoot, freePort, trackTempDir } from "../../test/fixtures/processes.js";
import { startSwtpm } from "../../test/fixtures/swtpm.js";
import { identifyTpm, openTpm } from "../../native/tpm/index.js";
import { compiledAgentCommand, type AgentSettings } from "../../test/agent/agent-process.js";
import { createBenchEntries, measureRealAgent, requireCompiledAgent } from "./agent-process-memory.js";

const ENTRIES = Number(process.argv[2] ?? 10_000);
const variants = process.argv.length > 3 ? process.argv.slice(3) : [""];

const memoryProbe = requireCompiledAgent(import.meta.url);
const cleanups: (() => Promise<unknown> | void)[] = [];
try {
  const sw = await startSwtpm();
  cleanups.push(() => sw.stop());
  const port = await freePort();
  const server = await startServerProcess({ nodeApiPort: port, ekCaBundlePath: sw.ekCaBundlePath });
  cleanups.push(() => server.stop());
  const admin = new AdminApiClient(server.socketPath);
  cleanups.push(() => admin.close());
  const dir = await mkdtemp(join(fixtureTempRoot(), "hallmark-bench-agent-memory-"));
  trackTempDir(dir);
  const shown = await server.cli(["bundle", "show", "--format", "pem"]);
  if (shown.code !== 0) throw new Error(`bundle show: ${shown.stderr}`);
  const trustBundlePath = join(dir, "bootstrap.pem");
  await writeFile(trustBundlePath, shown.stdout);

  const { tpm } = await openTpm({ kind: "unix", path: sw.socketPath });
  const agentId = `spiffe://${TRUST_DOMAIN}/hallmark/agent/tpm/${(await identifyTpm(tpm)).ekHash}`;
  await tpm.close();
  await createBenchEntries(admin, agentId, "bulk", ENTRIES);

  for (const variant of variants) {
    const words = variant.split(" ").filter((w) => w !== "");
    const env = words.filter((w) => /^[A-Z_][A-Z0-9_]*=/.test(w));
    const flags = words.filter((w) => !env.includes(w));
    const settings: AgentSettings = {
      serverPort: port,
      trustBundlePath,
      swtpmSocket: sw.socketPath,
      dir: join(dir, "agent"),
      logLevel: "info",
      command: [...flags, "--expose-gc", "--import", memoryProbe, ...compiledAgentCommand],
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
