/** Real callers for this folder's tests: processes connected to a real unix socket, as the kernel names them. */
import { once } from "node:events";
import { join } from "node:path";
import type { ChildProcess } from "node:child_process";
import { spawnTied } from "../../../test/fixtures/processes.js";
import { acceptPeer, type PeerConnection } from "../../../native/peercred/index.js";
import { acceptingServer, endProcess, sharedTempDir } from "../../../native/peercred/testdata/helpers.js";

/**
 * Opens `count` connections one after the other (so the listen backlog never overflows), with
 * `drop` one more after dropping to uid/gid 65534, prints "connected" and waits for stdin to end.
 */
const CONNECTOR = `
const net = require("node:net");
const [path, count, drop] = process.argv.slice(1);
const connect = () => new Promise((resolve, reject) => {
  const socket = net.connect(path, () => resolve(socket));
  socket.once("error", reject);
});
(async () => {
  for (let i = 0; i < Number(count); i++) await connect();
  if (drop === "drop") {
    process.setgroups([]);
    process.setgid(65534);
    process.setuid(65534);
    await connect();
  }
  process.stdout.write("connected\\n");
})().catch((err) => { process.stdout.write(err.code + "\\n"); process.exit(1); });
process.stdin.resume();
process.stdin.on("end", () => process.exit(0));
`;

export interface Caller {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Its connections in the order it made them, each read by acceptPeer as a listener would. */
  readonly connections: PeerConnection[];
}

/** A unix socket that real processes connect to; every accepted connection becomes a PeerConnection. */
export class CallerSockets {
  readonly #server: Awaited<ReturnType<typeof acceptingServer>>;
  readonly #removeDir: () => void;
  readonly #connections: PeerConnection[] = [];
  readonly #children: ChildProcess[] = [];
  readonly path: string;

  private constructor(
    path: string,
    server: Awaited<ReturnType<typeof acceptingServer>>,
    removeDir: () => void,
  ) {
    this.path = path;
    this.#server = server;
    this.#removeDir = removeDir;
  }

  static async open(): Promise<CallerSockets> {
    const temp = sharedTempDir("hallmark-caller-attestation-");
    const path = join(temp.dir, "api.sock");
    return new CallerSockets(path, await acceptingServer(path), temp.remove);
  }

  /** A process that opens `count` connections (and, with `dropPrivileges`, one more as 65534). */
  async start(count = 1, options: { dropPrivileges?: boolean } = {}): Promise<Caller> {
    const [caller] = await this.startMany(1, count, options);
    return caller!;
  }

  /** `processes` processes at once, `count` connections each. */
  async startMany(
    processes: number,
    count: number,
    options: { dropPrivileges?: boolean } = {},
  ): Promise<Caller[]> {
    const children = Array.from({ length: processes }, () => {
      const child = spawnTied(
        process.execPath,
        ["-e", CONNECTOR, this.path, String(count), options.dropPrivileges === true ? "drop" : "stay"],
        { stdio: ["pipe", "pipe", "inherit"] },
      );
      this.#children.push(child);
      return child;
    });
    await Promise.all(
      children.map(async (child) => {
        const [line] = (await once(child.stdout!, "data")) as [Buffer];
        const said = line.toString("utf8").trim();
        if (said !== "connected") throw new Error(`a caller could not connect: ${said}`);
      }),
    );
    const total = processes * (count + (options.dropPrivileges === true ? 1 : 0));
    const byPid = new Map<number, PeerConnection[]>(children.map((child) => [child.pid!, []]));
    for (let i = 0; i < total; i++) {
      const socket = await this.#server.nextSocket();
      const connection = {
        id: `test-connection:${this.#connections.length}`,
        ...acceptPeer(socket, { groups: true }),
      };
      this.#connections.push(connection);
      byPid.get(connection.credentials.pid)?.push(connection);
    }
    return children.map((child) => ({ child, pid: child.pid!, connections: byPid.get(child.pid!) ?? [] }));
  }

  /** Ends `caller`'s process and waits until it has been reaped (its PID free for anyone). */
  async end(caller: Caller): Promise<void> {
    await endProcess(caller.child);
  }

  async close(): Promise<void> {
    await Promise.all(this.#children.map((child) => endProcess(child)));
    for (const connection of this.#connections) connection.process.close();
    await this.#server.close();
    this.#removeDir();
  }
}
