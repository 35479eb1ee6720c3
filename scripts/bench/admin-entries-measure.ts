// Entry creation through the admin API as an operator's tooling drives it: the server's own
// composition root (startServer: SoftHSM2 under the CA, SQLite, the audit log) and the generated
// admin client over the unix socket. Used by scripts/bench/server.ts.
import { mkdtemp, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { createLogger } from "../../common/logging/logger.js";
import type { EntryInput } from "../../proto/gen/admin.js";
import { AdminApiClient } from "../../server/cli/admin-client.js";
import { parseServerConfig } from "../../server/config/server-config.js";
import { startServer } from "../../server/run/start-server.js";
import { fixtureTempRoot, trackTempDir } from "../../test/fixtures/processes.js";
import { createSoftHsm } from "../../test/fixtures/softhsm.js";
import { serverConfig, TRUST_DOMAIN } from "../../test/server/server-process.js";
import { fmt, percentile } from "./stats.js";

function entry(n: number): EntryInput {
  return {
    spiffeId: `spiffe://${TRUST_DOMAIN}/bench/${n}`,
    parentId: `spiffe://${TRUST_DOMAIN}/hallmark/agent/tpm/${"0".repeat(64)}`,
    selectors: [{ type: "unix", value: `uid:${n}` }],
    x509SvidTtlSeconds: 0,
    jwtSvidTtlSeconds: 0,
    dnsNames: [],
    hint: "",
    node: false,
    delegation: undefined,
  };
}

/** Times each call of `op(i)` for i < count, one at a time; the total seconds and sorted latencies (ms). */
async function timed(count: number, op: (i: number) => Promise<void>): Promise<{ s: number; ms: number[] }> {
  const ms: number[] = [];
  const start = performance.now();
  for (let i = 0; i < count; i++) {
    const t = performance.now();
    await op(i);
    ms.push(performance.now() - t);
  }
  return { s: (performance.now() - start) / 1000, ms: ms.sort((x, y) => x - y) };
}

/** Creates `single` entries one call each, then `batches` batches of `batchSize`; the report lines. */
export async function measureAdminEntryCreate(
  single: number,
  batches: number,
  batchSize: number,
): Promise<string[]> {
  const hsm = await createSoftHsm();
  const dir = await mkdtemp(join(fixtureTempRoot(), "hallmark-bench-admin-"));
  trackTempDir(dir);
  // No health listener: only the admin socket is measured.
  const text = serverConfig(dir, hsm, 0).replace(/health_checks:[\s\S]*$/, "");
  await writeFile(join(dir, "server.yaml"), text);
  const config = parseServerConfig(text, join(dir, "server.yaml"));
  const server = await startServer(config, {
    logger: createLogger({ name: "bench", level: "silent" }),
    env: { HALLMARK_TEST_HSM_PIN: hsm.pin },
  });
  const client = new AdminApiClient(config.socketPath);
  try {
    const one = await timed(single, async (i) => {
      await client.call("createEntry", { entry: entry(i) });
    });
    const batched = await timed(batches, async (b) => {
      const entries = Array.from({ length: batchSize }, (_, j) => entry(single + b * batchSize + j));
      const { results } = await client.call("batchCreateEntries", { entries });
      const failed = results.find((r) => (r.status?.code ?? 0) !== 0);
      if (failed !== undefined) throw new Error(`a batched create failed: ${failed.status?.message ?? ""}`);
    });
    return [
      `admin API CreateEntry (unix socket, SQLite, one at a time): ${fmt(single / one.s)} entries/s, p50 ${fmt(percentile(one.ms, 50), 2)} ms, p99 ${fmt(percentile(one.ms, 99), 2)} ms (${single} entries)`,
      `admin API BatchCreateEntries (batches of ${batchSize}): ${fmt((batches * batchSize) / batched.s)} entries/s, per batch p50 ${fmt(percentile(batched.ms, 50))} ms, p99 ${fmt(percentile(batched.ms, 99))} ms (${batches} batches)`,
    ];
  } finally {
    client.close();
    await server.stop();
    await hsm.cleanup();
  }
}
