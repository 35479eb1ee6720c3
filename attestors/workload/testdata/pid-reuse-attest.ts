/**
 * PID reuse against the workload attestors, for real: run as PID 1 of a fresh PID namespace
 * (`unshare --pid --fork --mount-proc`), where /proc/sys/kernel/ns_last_pid picks the next PID. A
 * caller connects (its peer read at accept, as the Workload API does) and exits; a newcomer, of
 * another user and running another program, is started on the caller's PID; then the three
 * attestors attest the connection's caller. Prints one JSON line: what each attestor gave for the
 * caller, and, as the control, what they give for the newcomer pinned by its own pidfd.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger } from "../../../common/logging/logger.js";
import { acceptPeer, PeerCredError, PeerProcess, type Peer } from "../../../native/peercred/index.js";
import { CgroupAttestor } from "../cgroup/cgroup-attestor.js";
import { SystemdAttestor } from "../systemd/systemd-attestor.js";
import { UnixAttestor } from "../unix/unix-attestor.js";

async function startProcess(command: string, args: string[]): Promise<ChildProcess & { pid: number }> {
  const child = spawn(command, args, { stdio: ["ignore", "pipe", "inherit"] });
  await once(child.stdout, "data");
  return child as ChildProcess & { pid: number };
}

async function stop(child: ChildProcess): Promise<void> {
  const exited = once(child, "exit");
  child.kill("SIGKILL");
  await exited;
}

const logger = createLogger({ name: "pid-reuse", level: "silent" });
const unix = new UnixAttestor({ logger });
const attestors = [unix, new CgroupAttestor({ logger }), new SystemdAttestor({ logger })];
const options = { signal: new AbortController().signal, wants: () => true };

/** Each attestor's selectors as `type:value`, or the code of the error it gave. */
async function attestAll(peer: Peer): Promise<Record<string, string[] | string>> {
  const results: Record<string, string[] | string> = {};
  for (const attestor of attestors) {
    try {
      results[attestor.name] = (await attestor.attest(peer, options)).map((s) => `${s.type}:${s.value}`);
    } catch (err) {
      results[attestor.name] = err instanceof PeerCredError ? err.code : String(err);
    }
  }
  return results;
}

const dir = mkdtempSync(join(tmpdir(), "hallmark-attest-pid-reuse-"));
try {
  const path = join(dir, "s.sock");
  const server = createServer({ pauseOnConnect: true });
  server.listen(path);
  await once(server, "listening");
  const accepted = once(server, "connection") as Promise<[Socket]>;
  const caller = await startProcess(process.execPath, [
    "-e",
    "require('node:net').connect(process.argv[1], () => process.stdout.write('connected')); setInterval(() => {}, 1000)",
    path,
  ]);
  const [socket] = await accepted;
  const peer = acceptPeer(socket, { groups: true });
  await stop(caller);

  // The newcomer: another user, another program, on the caller's PID (a thread started meanwhile
  // could take it, so retry).
  let newcomer: ChildProcess & { pid: number };
  for (let attempt = 0; ; attempt++) {
    writeFileSync("/proc/sys/kernel/ns_last_pid", String(caller.pid - 1));
    newcomer = await startProcess("setpriv", [
      "--reuid=65534",
      "--regid=65534",
      "--clear-groups",
      "--",
      "/bin/sh",
      "-c",
      "echo up; exec sleep 600",
    ]);
    if (newcomer.pid === caller.pid || attempt === 5) break;
    await stop(newcomer);
  }

  const control = PeerProcess.open(newcomer.pid);
  const result = {
    callerPid: caller.pid,
    newcomerPid: newcomer.pid,
    pidfdSource: peer.process.pidfdSource,
    caller: await attestAll(peer),
    newcomer: await attestAll({
      credentials: { pid: newcomer.pid, uid: 65534, gid: 65534 },
      groups: [],
      process: control,
    }),
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
  control.close();
  peer.process.close();
  await stop(newcomer);
  socket.destroy();
  server.close();
} finally {
  await unix.close();
  rmSync(dir, { recursive: true, force: true });
}
