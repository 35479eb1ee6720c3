/** Real processes as callers, for the attestor tests. */
import { once } from "node:events";
import { join } from "node:path";
import type { ChildProcess } from "node:child_process";
import { spawnTied } from "../../../test/fixtures/processes.js";
import { acceptPeer, type Peer } from "../../../native/peercred/index.js";
import {
  acceptingServer,
  endProcess,
  sharedTempDir,
  startConnector,
  type UserSpec,
} from "../../../native/peercred/testdata/helpers.js";

/** A live process that does nothing, to pin with a pidfd while its /proc comes from a fixture. */
export async function startSleeper(): Promise<ChildProcess & { pid: number }> {
  const child = spawnTied(process.execPath, [
    "-e",
    "process.stdout.write('up\\n'); setInterval(() => {}, 1000)",
  ]);
  await once(child.stdout!, "data");
  return child as ChildProcess & { pid: number };
}

export interface RealCaller {
  /** The caller as the listener read it at accept (SO_PEERCRED, SO_PEERPIDFD, SO_PEERGROUPS). */
  readonly peer: Peer;
  readonly child: ChildProcess & { pid: number };
  /** Closes the pidfd, ends the process and the listener. */
  end(): Promise<void>;
}

export interface RealCallerOptions {
  user?: UserSpec;
  /** Read SO_PEERGROUPS (default true). */
  groups?: boolean;
  /** The node binary the caller runs (default this one). */
  executable?: string;
}

/** Real callers over real unix sockets, each on a socket of its own in one shared temp dir. */
export class RealCallers {
  readonly #temp = sharedTempDir("hallmark-attestor-callers-");
  #sockets = 0;

  async connect(options: RealCallerOptions = {}): Promise<RealCaller> {
    const path = join(this.#temp.dir, `s${this.#sockets++}.sock`);
    const server = await acceptingServer(path);
    const child = (await startConnector(path, options.user, options.executable)) as ChildProcess & {
      pid: number;
    };
    const peer = acceptPeer(await server.nextSocket(), { groups: options.groups ?? true });
    return {
      peer,
      child,
      end: async () => {
        peer.process.close();
        await endProcess(child);
        await server.close();
      },
    };
  }

  /** A file path in the shared temp dir (other users can reach it). */
  path(name: string): string {
    return join(this.#temp.dir, name);
  }

  remove(): void {
    this.#temp.remove();
  }
}
