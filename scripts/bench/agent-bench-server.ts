// What the agent benches run an agent against: swtpm, `hallmark-server run` as its own process
// (SoftHSM2, SQLite) with its admin API, the bootstrap bundle in a file, and the SPIFFE ID the
// agent will have (its EK hash: known before it attests, as `hallmark-agent tpm identify` shows it).
import { mkdtemp, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { identifyTpm, openTpm } from "../../native/tpm/index.js";
import { AdminApiClient } from "../../server/cli/admin-client.js";
import { fixtureTempRoot, freePort, trackTempDir } from "../../test/fixtures/processes.js";
import { startSwtpm } from "../../test/fixtures/swtpm.js";
import { startServerProcess, TRUST_DOMAIN, type ServerProcess } from "../../test/server/server-process.js";

export interface BenchServer {
  readonly server: ServerProcess;
  readonly admin: AdminApiClient;
  /** The node API's port. */
  readonly port: number;
  readonly swtpmSocket: string;
  /** A fresh directory for the agent's files. */
  readonly dir: string;
  readonly trustBundlePath: string;
  readonly agentId: string;
}

/** Starts it all; `cleanups` gets what stops each part, to run in reverse order. */
export async function startBenchServer(
  name: string,
  cleanups: (() => Promise<unknown> | void)[],
  options: { extraYaml?: string } = {},
): Promise<BenchServer> {
  const sw = await startSwtpm();
  cleanups.push(() => sw.stop());
  const port = await freePort();
  const server = await startServerProcess({
    nodeApiPort: port,
    ekCaBundlePath: sw.ekCaBundlePath,
    ...(options.extraYaml === undefined ? {} : { extraYaml: options.extraYaml }),
  });
  cleanups.push(() => server.stop());
  const admin = new AdminApiClient(server.socketPath);
  cleanups.push(() => admin.close());
  const dir = await mkdtemp(join(fixtureTempRoot(), `hallmark-bench-${name}-`));
  trackTempDir(dir);
  const shown = await server.cli(["bundle", "show", "--format", "pem"]);
  if (shown.code !== 0) throw new Error(`bundle show: ${shown.stderr}`);
  const trustBundlePath = join(dir, "bootstrap.pem");
  await writeFile(trustBundlePath, shown.stdout);
  const { tpm } = await openTpm({ kind: "unix", path: sw.socketPath });
  const agentId = `spiffe://${TRUST_DOMAIN}/hallmark/agent/tpm/${(await identifyTpm(tpm)).ekHash}`;
  await tpm.close();
  return { server, admin, port, swtpmSocket: sw.socketPath, dir, trustBundlePath, agentId };
}
