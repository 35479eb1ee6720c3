/** The agent socket with the health service over a report the test sets, and a Watch reader. */
import { dirname, join } from "node:path";
import { Metadata, credentials, type ServiceError } from "@grpc/grpc-js";
import { ManualClock } from "../../../common/clock.js";
import { createLogger } from "../../../common/logging/logger.js";
import { sharedTempDir } from "../../../native/peercred/testdata/helpers.js";
import type { HealthCheckResponse_ServingStatus as ServingStatus } from "../../../proto/gen/health.js";
import { HealthClient } from "../../../proto/gen/health.js";
import type { AgentHealthInputs } from "../agent-health.js";
import { AgentHealthMonitor } from "../agent-health-monitor.js";
import { AgentSocket } from "../agent-socket.js";
import { AgentHealthService } from "../health-service.js";

export const HOUR = 3_600_000;

/** An agent that is attested for an hour, synced, with `entries` entries all holding valid SVIDs. */
export function healthyInputs(clock: ManualClock, entries = 3): AgentHealthInputs {
  return {
    identity: {
      attested: true,
      spiffeId: "spiffe://example.org/hallmark/agent/tpm/0f0f",
      expiresAtMs: clock.nowMs() + HOUR,
    },
    sync: { connected: true, synced: true, lastSyncAtMs: clock.nowMs() },
    cache: { entries, entriesWithValidSvid: entries, pending: 0, serverReachable: true },
  };
}

export interface HealthFixture {
  readonly dir: string;
  readonly socketPath: string;
  readonly clock: ManualClock;
  readonly monitor: AgentHealthMonitor;
  readonly service: AgentHealthService;
  readonly socket: AgentSocket;
  close(): Promise<void>;
}

/** A real AgentSocket in a socketDir() (or at a path the test owns), serving the health service over an AgentHealthMonitor on a manual clock. */
export async function startHealthFixture(
  initial?: (clock: ManualClock) => AgentHealthInputs,
  at?: { socketPath: string },
): Promise<HealthFixture> {
  const {
    dir,
    socketPath,
    remove: removeDir,
  } = at === undefined
    ? socketDir()
    : { dir: dirname(at.socketPath), socketPath: at.socketPath, remove: () => undefined };
  const clock = new ManualClock();
  const logger = createLogger({ name: "agent", level: "silent" });
  const monitor = new AgentHealthMonitor({ clock, logger, initial: initial?.(clock) });
  const service = new AgentHealthService(monitor);
  let socket: AgentSocket;
  try {
    socket = await AgentSocket.listen({ socketPath, logger }, (server) => service.register(server));
  } catch (err) {
    removeDir();
    throw err;
  }
  return {
    dir,
    socketPath,
    clock,
    monitor,
    service,
    socket,
    async close() {
      monitor.close();
      await socket.close();
      removeDir();
    },
  };
}

/**
 * A fresh temp dir that other users can traverse (mode 0755, where the test runner's own temp root
 * is 0700), and the agent socket's path in it: `<dir>/public/api.sock`, as in the default layout.
 */
export function socketDir(): { dir: string; socketPath: string; remove: () => void } {
  const { dir, remove } = sharedTempDir("hallmark-agent-health-");
  return { dir, socketPath: join(dir, "public", "api.sock"), remove };
}

/** A Watch on `socketPath` read one message at a time; `end()` cancels it and returns its final status. */
export function watchHealth(
  socketPath: string,
  service = "",
): {
  next(): Promise<ServingStatus>;
  /** Whether the stream has ended (it must not, while the client has not cancelled). */
  readonly ended: boolean;
  /** Resolves when the stream ends by itself, with the error it ended with. */
  done(): Promise<ServiceError | undefined>;
  cancel(): Promise<ServiceError | undefined>;
} {
  const client = new HealthClient(`unix:${socketPath}`, credentials.createInsecure());
  const call = client.watch({ service }, new Metadata());
  const received: ServingStatus[] = [];
  const waiting: ((status: ServingStatus) => void)[] = [];
  let ended = false;
  let failure: ServiceError | undefined;
  let rejectWaiting: (err: Error) => void = () => undefined;
  const finished = new Promise<void>((resolve) => {
    call.on("error", (err: ServiceError) => {
      failure = err;
      ended = true;
      rejectWaiting(err);
      resolve();
    });
    call.on("end", () => {
      ended = true;
      rejectWaiting(new Error("the Watch stream ended"));
      resolve();
    });
  });
  call.on("data", ({ status }: { status: ServingStatus }) => {
    const waiter = waiting.shift();
    if (waiter) waiter(status);
    else received.push(status);
  });
  return {
    next() {
      const ready = received.shift();
      if (ready !== undefined) return Promise.resolve(ready);
      if (ended) return Promise.reject(new Error("the Watch stream ended"));
      return new Promise((resolve, reject) => {
        waiting.push(resolve);
        rejectWaiting = reject;
      });
    },
    get ended() {
      return ended;
    },
    async done() {
      await finished;
      client.close();
      return failure;
    },
    async cancel() {
      call.cancel();
      await finished;
      client.close();
      return failure;
    },
  };
}
