/**
 * PID reuse, for real: run as PID 1 of a fresh PID namespace (`unshare --pid --fork --mount-proc`),
 * where nothing else takes PIDs and /proc/sys/kernel/ns_last_pid picks the next one. A caller
 * connects and exits; a newcomer is started on the caller's PID; only then is the connection's
 * caller read, once through SO_PEERPIDFD and once through the pidfd_open fallback. Prints one JSON
 * line with what each way saw.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { acceptPeer } from "../accept-peer.js";
import { PeerCredError } from "../errors.js";
import { SO_PEERPIDFD } from "../linux-abi.js";
import { failingSocketOption } from "./helpers.js";

async function startProcess(args: string[]): Promise<ChildProcess & { pid: number }> {
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] });
  await once(child.stdout, "data");
  return child as ChildProcess & { pid: number };
}

async function stop(child: ChildProcess): Promise<void> {
  const exited = once(child, "exit");
  child.kill("SIGKILL");
  await exited;
}

/** What a way of reading the caller concluded about the connection. */
async function observe(socket: Socket, fallback: boolean): Promise<object> {
  try {
    const peer = acceptPeer(
      socket,
      fallback ? { syscalls: failingSocketOption(SO_PEERPIDFD, "ENOPROTOOPT") } : {},
    );
    try {
      const cmdline = await peer.process.readProcText("cmdline").catch((err: unknown) => err);
      return {
        pid: peer.credentials.pid,
        source: peer.process.pidfdSource,
        alive: peer.process.isAlive(),
        read: cmdline instanceof PeerCredError ? cmdline.code : String(cmdline).split("\0").join(" ").trim(),
      };
    } finally {
      peer.process.close();
    }
  } catch (err) {
    return { error: err instanceof PeerCredError ? err.code : String(err) };
  }
}

const dir = mkdtempSync(join(tmpdir(), "hallmark-pid-reuse-"));
try {
  const path = join(dir, "s.sock");
  const server = createServer({ pauseOnConnect: true });
  server.listen(path);
  await once(server, "listening");
  const accepted = once(server, "connection") as Promise<[Socket]>;
  const caller = await startProcess([
    "-e",
    "require('node:net').connect(process.argv[1], () => process.stdout.write('connected'))",
    path,
  ]);
  const [socket] = await accepted;
  await stop(caller);

  // Start the newcomer on the caller's PID; a thread started meanwhile could take it, so retry.
  let newcomer: ChildProcess & { pid: number };
  for (let attempt = 0; ; attempt++) {
    writeFileSync("/proc/sys/kernel/ns_last_pid", String(caller.pid - 1));
    newcomer = await startProcess([
      "-e",
      "process.stdout.write('up'); setInterval(() => {}, 1000)",
      "newcomer",
    ]);
    if (newcomer.pid === caller.pid || attempt === 5) break;
    await stop(newcomer);
  }

  const result = {
    callerPid: caller.pid,
    newcomerPid: newcomer.pid,
    peerPidfd: await observe(socket, false),
    pidfdOpen: await observe(socket, true),
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
  await stop(newcomer);
  socket.destroy();
  server.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
