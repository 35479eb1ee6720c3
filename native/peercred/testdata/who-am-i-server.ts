/** The gRPC side of this folder's tests: a server whose handler reports its caller, and clients run as NOBODY. */
import { once } from "node:events";
import { setTimeout as delay } from "node:timers/promises";
import type { ChildProcess } from "node:child_process";
import {
  Server,
  type ServerUnaryCall,
  type UntypedServiceImplementation,
  type sendUnaryData,
} from "@grpc/grpc-js";
import { spawnTied } from "../../../test/fixtures/processes.js";
import { toGrpcError } from "../../../common/grpc/status.js";
import { PeerCredError } from "../errors.js";
import { UnixGrpcServer, type PeerConnection } from "../grpc-unix-server.js";
import type { PeerSyscalls } from "../syscalls.js";
import { NOBODY, asUser, testdataScript } from "./helpers.js";
import { whoAmIService, type WhoAmIReply } from "./who-am-i-service.js";

type Call = ServerUnaryCall<unknown, WhoAmIReply>;

/** What the handler saw, for the test to compare with what the client was told. */
export interface Seen {
  peer?: PeerConnection;
  alive?: boolean;
  error?: PeerCredError;
}

/**
 * A gRPC server whose one handler asks `unix.peerOf(call)`, reads /proc/<pid>/status through the
 * pinned process and answers with it; before answering it awaits `gate`, so a test can change the
 * world between the call's arrival and the handler's check.
 */
export class WhoAmIServer {
  readonly grpc = new Server();
  unix!: UnixGrpcServer;
  gate: Promise<void> = Promise.resolve();
  readonly arrived: ((seen: Seen) => void)[] = [];
  readonly seen: Seen[] = [];

  constructor() {
    const implementation: UntypedServiceImplementation = {
      whoAmI: (call: Call, callback: sendUnaryData<WhoAmIReply>) => void this.#handle(call, callback),
    };
    this.grpc.addService(whoAmIService, implementation);
  }

  async listen(socketPath: string, options: { syscalls?: PeerSyscalls } = {}): Promise<void> {
    this.unix = await UnixGrpcServer.listen(this.grpc, {
      socketPath,
      socketMode: 0o777,
      peer: { groups: true, syscalls: options.syscalls },
    });
  }

  async #handle(call: Call, callback: sendUnaryData<WhoAmIReply>): Promise<void> {
    const seen: Seen = {};
    this.seen.push(seen);
    this.arrived.shift()?.(seen);
    await this.gate;
    try {
      const peer = this.unix.peerOf(call);
      seen.peer = peer;
      seen.alive = peer.process.isAlive();
      const status = await peer.process.readProcText("status");
      const { pid, uid, gid } = peer.credentials;
      callback(null, {
        pid,
        uid,
        gid,
        groups: peer.groups === undefined ? null : [...peer.groups],
        pidfdSource: peer.process.pidfdSource,
        procUid: /^Uid:(.*)$/m.exec(status)?.[1]?.trim() ?? "",
      });
    } catch (err) {
      if (err instanceof PeerCredError) seen.error = err;
      callback(toGrpcError(err));
    }
  }

  nextArrival(): Promise<Seen> {
    return new Promise((resolve) => this.arrived.push(resolve));
  }

  async close(): Promise<void> {
    await this.unix?.close();
    this.grpc.forceShutdown();
  }
}

export interface NobodyRun {
  child: ChildProcess;
  /** The next JSON line the child printed. */
  lines: () => Promise<unknown>;
  /** Resolves when the child has exited (promises made at spawn, so no event is missed). */
  exited: Promise<unknown>;
  /** Resolves when it has exited and its stdout pipe is closed. */
  closed: Promise<unknown>;
}

/** Runs a testdata script as NOBODY. */
export function runAsNobody(script: string, args: string[]): NobodyRun {
  const child = spawnTied(
    "setpriv",
    [
      ...asUser({ uid: NOBODY, gid: NOBODY, groups: [] }),
      process.execPath,
      ...testdataScript(script),
      ...args,
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  let buffered = "";
  const queue: unknown[] = [];
  const waiting: ((value: unknown) => void)[] = [];
  child.stdout!.on("data", (chunk: Buffer) => {
    buffered += chunk.toString("utf8");
    let newline: number;
    while ((newline = buffered.indexOf("\n")) >= 0) {
      const value: unknown = JSON.parse(buffered.slice(0, newline));
      buffered = buffered.slice(newline + 1);
      const waiter = waiting.shift();
      if (waiter) waiter(value);
      else queue.push(value);
    }
  });
  return {
    child,
    exited: once(child, "exit"),
    closed: once(child, "close"),
    lines: () =>
      queue.length > 0 ? Promise.resolve(queue.shift()) : new Promise((resolve) => waiting.push(resolve)),
  };
}

export async function waitFor(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (condition()) return;
    await delay(10);
  }
  throw new Error(`timed out waiting until ${what}`);
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
