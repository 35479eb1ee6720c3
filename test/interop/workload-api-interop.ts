/**
 * What the go-spiffe and py-spiffe interop tests share: the JSON summary both programs print, and
 * a rotation made while a program watches.
 */
import { once } from "node:events";
import { spawnTied } from "../fixtures/processes.js";
import type { TestWorkloadApiServer } from "../../agent/workload-client/testdata/test-workload-api-server.js";

/** The summary go-spiffe-client and py-spiffe-client.py print (the same keys, on purpose). */
export interface InteropSummary {
  ok: boolean;
  x509_svids: { spiffe_id: string; serial: string; chain_length: number; verified_chain_length: number }[];
  x509_bundles: string[];
  jwt_svid: {
    spiffe_id: string;
    audience: string[];
    /** By the library's own validator against the fetched JWT bundles. */
    validated_by_library: boolean;
    validated_by_workload_api: boolean;
    other_audience_refused: boolean;
  } | null;
  rotation: { old_serial: string; new_serial: string | null; verified: boolean } | null;
  failures: string[];
}

/** What `go-spiffe-client -burst N` prints: N clients' first FetchX509SVID message, timed. */
export interface BurstSummary {
  clients: number;
  served: number;
  failed: number;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
  wall_ms: number;
  errors: Record<string, number>;
}

export interface RotationRun {
  readonly code: number | null;
  readonly stdout: string;
  /** The serial number of the SVID served once the program was watching. */
  readonly rotatedSerial: string;
}

/**
 * Runs an interop program asked to watch for a rotation: once it holds a FetchX509SVID stream open,
 * the server rotates `spiffeId`'s SVID (a fresh key and serial), and the program should see it
 * and exit.
 */
export async function rotateWhileWatching(
  server: TestWorkloadApiServer,
  spiffeId: string,
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<RotationRun> {
  const child = spawnTied(command, args, { env });
  let stdout = "";
  child.stdout?.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  const exited = once(child, "exit");
  await server.waitForX509Streams(1);
  const rotated = await server.issue(spiffeId);
  server.serve({ svids: [{ svid: rotated }] });
  const [code] = (await exited) as [number | null];
  return { code, stdout, rotatedSerial: rotated.serialHex };
}
