/**
 * PID reuse against CallerAttestation, for real: run as PID 1 of a fresh PID namespace (`unshare
 * --pid --fork --mount-proc`), where /proc/sys/kernel/ns_last_pid picks the next PID. In each case a
 * caller connects and exits, and a newcomer is started on the caller's very PID (same user, so the
 * same credentials: only the pidfds tell them apart). The attestor `arg` is careless on purpose: it
 * reads /proc/<pid>/cmdline by PID, not through the pinned process, so it reports whichever
 * process holds the PID when it reads. Prints one JSON line with what each call got.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ManualClock } from "../../../common/clock.js";
import { isHallmarkError } from "../../../common/errors.js";
import { createLogger } from "../../../common/logging/logger.js";
import { acceptPeer, type PeerConnection } from "../../../native/peercred/index.js";
import { CallerAttestation } from "../caller-attestation.js";
import { pinCaller } from "../pin-caller.js";
import { Gate, lastArgumentByPid, RecordingAttestor } from "./test-attestors.js";
import { until } from "./fixture.js";

const CONNECT = "require('node:net').connect(process.argv[1], () => process.stdout.write('connected'))";

interface Process {
  child: ChildProcess;
  pid: number;
  connection: PeerConnection;
}

const dir = mkdtempSync(join(tmpdir(), "hallmark-caller-pid-reuse-"));
const path = join(dir, "api.sock");
const server = createServer({ pauseOnConnect: true });
server.listen(path);
await once(server, "listening");
// Start libuv's threads now: a thread started later would take a PID meant for a newcomer.
await readFile("/proc/self/status");

let accepted = 0;
async function connect(name: string, onPid?: number): Promise<Process> {
  const connection = once(server, "connection") as Promise<[Socket]>;
  if (onPid !== undefined) writeFileSync("/proc/sys/kernel/ns_last_pid", String(onPid - 1));
  const child = spawn(process.execPath, ["-e", CONNECT, path, name], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  await once(child.stdout, "data");
  const [socket] = await connection;
  return { child, pid: child.pid!, connection: { id: `scenario:${++accepted}`, ...acceptPeer(socket) } };
}

/** A newcomer named `name` on exactly `pid` (a thread started meanwhile could take it: retried). */
async function newcomerOn(pid: number, name: string): Promise<Process> {
  for (let attempt = 0; ; attempt++) {
    const newcomer = await connect(name, pid);
    if (newcomer.pid === pid || attempt === 5) return newcomer;
    await end(newcomer);
  }
}

async function end(process: Process): Promise<void> {
  const exited = once(process.child, "exit");
  process.child.kill("SIGKILL");
  await exited;
}

async function outcome(call: Promise<unknown>): Promise<unknown> {
  try {
    return await call;
  } catch (err) {
    return { error: isHallmarkError(err) ? err.code : String(err) };
  }
}

const gate = new Gate();
const arg = new RecordingAttestor("arg", gate.answer(lastArgumentByPid("arg")));
const attestation = new CallerAttestation({
  attestors: [arg],
  wants: () => true,
  clock: new ManualClock(),
  logger: createLogger({ name: "agent", level: "silent" }),
});

try {
  // A: the PID is taken before the caller's call is even looked at.
  const callerA = await connect("caller-a");
  await end(callerA);
  const newcomerA = await newcomerOn(callerA.pid, "newcomer-a");
  const a = {
    callerPid: callerA.pid,
    newcomerPid: newcomerA.pid,
    call: await outcome(attestation.selectorsOf(callerA.connection)),
    pin: await outcome(Promise.resolve().then(() => pinCaller(callerA.connection))),
    attestorCalls: arg.calls,
  };
  await end(newcomerA);

  // B: the PID is taken while the caller is attested; the newcomer calls meanwhile.
  gate.shut();
  const callerB = await connect("caller-b");
  const callB = outcome(attestation.selectorsOf(callerB.connection));
  await until(() => gate.waiting === 1, "the caller's attestation is at the gate");
  await end(callerB);
  const newcomerB = await newcomerOn(callerB.pid, "newcomer-b");
  const newcomerCallB = outcome(attestation.selectorsOf(newcomerB.connection));
  // Had it joined the caller's attestation, no second one would come: wait a little, not forever.
  await until(() => gate.waiting === 2, "the newcomer's attestation is at the gate", 1_000).catch(
    () => undefined,
  );
  const attestationsInFlight = gate.waiting;
  gate.open();
  const b = {
    callerPid: callerB.pid,
    newcomerPid: newcomerB.pid,
    attestationsInFlight,
    /** What the careless attestor answered for the caller's attestation: the newcomer's argument. */
    call: await callB,
    newcomerCall: await newcomerCallB,
    attestorSawForCaller: arg.answered[a.attestorCalls],
  };
  await end(newcomerB);

  // C: the caller's result is cached; then the PID is taken and the newcomer calls.
  const callerC = await connect("caller-c");
  const cachedC = await outcome(attestation.selectorsOf(callerC.connection));
  await end(callerC);
  const newcomerC = await newcomerOn(callerC.pid, "newcomer-c");
  const callsBefore = arg.calls;
  const c = {
    callerPid: callerC.pid,
    newcomerPid: newcomerC.pid,
    cached: cachedC,
    newcomerCall: await outcome(attestation.selectorsOf(newcomerC.connection)),
    newcomerAttested: arg.calls - callsBefore,
    call: await outcome(attestation.selectorsOf(callerC.connection)),
  };
  await end(newcomerC);

  process.stdout.write(`${JSON.stringify({ a, b, c })}\n`);
} finally {
  attestation.close();
  server.close();
  rmSync(dir, { recursive: true, force: true });
}
