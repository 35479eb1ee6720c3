import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { Metadata, credentials, status as GrpcStatus, type ServiceError } from "@grpc/grpc-js";
import { ERROR_CODE_METADATA_KEY } from "../../common/grpc/status.js";
import { Publisher } from "../../common/subscription.js";
import {
  HealthCheckResponse_ServingStatus as ServingStatus,
  HealthClient,
  type HealthListResponse,
} from "../../proto/gen/health.js";
import { agentHealthReport, type AgentHealthReport } from "./agent-health.js";
import { AgentSocket } from "./agent-socket.js";
import { checkAgentHealth, HealthCheckError } from "./health-client.js";
import { AGENT_HEALTH_SERVICE, AgentHealthService } from "./health-service.js";
import {
  HOUR,
  healthyInputs,
  socketDir,
  startHealthFixture,
  watchHealth,
  type HealthFixture,
} from "./testdata/health-fixture.js";
import { createLogger } from "../../common/logging/logger.js";

describe("grpc.health.v1.Health on the agent socket", () => {
  let f: HealthFixture;
  before(async () => {
    f = await startHealthFixture((clock) => healthyInputs(clock));
  });
  after(() => f.close());

  it("Check answers SERVING for the agent as a whole and for hallmark.agent.v1, with the report in the trailer", async () => {
    for (const service of ["", AGENT_HEALTH_SERVICE]) {
      const answer = await checkAgentHealth(f.socketPath, { service });
      assert.equal(answer.status, ServingStatus.SERVING, service);
      assert.equal(answer.report?.healthy, true);
      assert.deepEqual(answer.report?.problems, []);
      assert.equal(answer.report?.spiffeId, "spiffe://example.org/hallmark/agent/tpm/0f0f");
      assert.equal(answer.report?.entries, 3);
    }
  });

  it("Check answers NOT_SERVING when the report is not healthy, and the trailer names the problems", async () => {
    const healthy = healthyInputs(f.clock);
    f.monitor.update({ cache: { ...healthy.cache, entriesWithValidSvid: 2, pending: 1 } });
    try {
      const answer = await checkAgentHealth(f.socketPath);
      assert.equal(answer.status, ServingStatus.NOT_SERVING);
      assert.equal(answer.report?.healthy, false);
      assert.deepEqual(answer.report?.problems, [
        "1 of 3 entries has no valid SVID, so its workloads get none: 1 is waiting for the server to sign its SVID.",
      ]);
    } finally {
      f.monitor.update(healthy);
    }
  });

  it("Check answers NOT_FOUND for a service it does not know, as the protocol says", async () => {
    const client = new HealthClient(`unix:${f.socketPath}`, credentials.createInsecure());
    try {
      const err = await new Promise<ServiceError | null>((resolve) =>
        client.check({ service: "grpc.reflection.v1.ServerReflection" }, (e) => resolve(e)),
      );
      assert.equal(err?.code, GrpcStatus.NOT_FOUND);
      assert.deepEqual(err?.metadata.get(ERROR_CODE_METADATA_KEY), ["UNKNOWN_SERVICE"]);
      assert.match(err?.details ?? "", /no health status for service "grpc.reflection.v1.ServerReflection"/);
    } finally {
      client.close();
    }
  });

  it("List names both services with the same status", async () => {
    const client = new HealthClient(`unix:${f.socketPath}`, credentials.createInsecure());
    try {
      const list = await new Promise<HealthListResponse>((resolve, reject) =>
        client.list({}, new Metadata(), (e, r) => (e ? reject(e) : resolve(r))),
      );
      assert.deepEqual(list.statuses, {
        "": { status: ServingStatus.SERVING },
        [AGENT_HEALTH_SERVICE]: { status: ServingStatus.SERVING },
      });
    } finally {
      client.close();
    }
  });

  it("Watch sends the status at once, then each change once, until the client cancels", async () => {
    const healthy = healthyInputs(f.clock);
    const watch = watchHealth(f.socketPath);
    assert.equal(await watch.next(), ServingStatus.SERVING);
    // Changes that keep the status send nothing; the next message is the flip.
    f.monitor.update({ sync: { ...healthy.sync, lastSyncAtMs: f.clock.nowMs() + 1 } });
    f.monitor.update({ sync: { ...healthy.sync, connected: false } });
    f.monitor.update({ identity: { attested: false } });
    assert.equal(await watch.next(), ServingStatus.NOT_SERVING);
    f.monitor.update({ identity: { attested: false, lastError: { code: "X", message: "y", atMs: 0 } } });
    f.monitor.update(healthy);
    assert.equal(await watch.next(), ServingStatus.SERVING);
    const ended = await watch.cancel();
    assert.equal(ended?.code, GrpcStatus.CANCELLED, "ended by the client, not by the server");
  });

  it("Watch tells an agent SVID's expiry as it happens, with nobody reporting anything", async () => {
    const watch = watchHealth(f.socketPath, AGENT_HEALTH_SERVICE);
    try {
      assert.equal(await watch.next(), ServingStatus.SERVING);
      f.clock.advance(HOUR);
      assert.equal(await watch.next(), ServingStatus.NOT_SERVING);
    } finally {
      await watch.cancel();
      f.monitor.update(healthyInputs(f.clock));
    }
  });

  it("Watch on an unknown service sends SERVICE_UNKNOWN and keeps the stream open", async () => {
    const watch = watchHealth(f.socketPath, "no.such.Service");
    assert.equal(await watch.next(), ServingStatus.SERVICE_UNKNOWN);
    // A round trip on another call: had the server ended the Watch, its end would be here by now.
    await checkAgentHealth(f.socketPath);
    assert.equal(watch.ended, false);
    const ended = await watch.cancel();
    assert.equal(ended?.code, GrpcStatus.CANCELLED);
  });
});

describe("AgentHealthService over any source of reports", () => {
  it("unsubscribes a Watch from the source when the client cancels", async () => {
    const { reports, socketPath, close } = await publisherBacked();
    try {
      const watches = [watchHealth(socketPath), watchHealth(socketPath)];
      for (const w of watches) assert.equal(await w.next(), ServingStatus.SERVING);
      assert.equal(reports.subscriberCount, 2);
      for (const w of watches) await w.cancel();
      await waitUntil(() => reports.subscriberCount === 0);
      assert.equal(reports.subscriberCount, 0);
    } finally {
      await close();
    }
  });

  it("shutdown turns every known service NOT_SERVING, tells open Watches, and says why in Check", async () => {
    const { service, socketPath, close } = await publisherBacked();
    try {
      const watch = watchHealth(socketPath);
      const unknown = watchHealth(socketPath, "no.such.Service");
      assert.equal(await watch.next(), ServingStatus.SERVING);
      assert.equal(await unknown.next(), ServingStatus.SERVICE_UNKNOWN);
      service.shutdown();
      assert.equal(await watch.next(), ServingStatus.NOT_SERVING);
      const answer = await checkAgentHealth(socketPath);
      assert.equal(answer.status, ServingStatus.NOT_SERVING);
      assert.equal(answer.report?.problems[0], "The agent is shutting down.");
      await watch.cancel();
      await unknown.cancel();
    } finally {
      await close();
    }
  });

  it("closing the socket ends open Watches and removes the socket; a Check then finds nothing", async () => {
    const { socketPath, close } = await publisherBacked();
    const watch = watchHealth(socketPath);
    assert.equal(await watch.next(), ServingStatus.SERVING);
    await close();
    const ended = await watch.done();
    assert.equal(ended?.code, GrpcStatus.UNAVAILABLE, "the server went away; the client did not cancel");
    const err = await checkAgentHealth(socketPath).then(
      () => assert.fail("a closed socket answered"),
      (e: unknown) => e,
    );
    assert.ok(err instanceof HealthCheckError);
    assert.equal(err.code, "AGENT_UNREACHABLE");
    assert.equal(err.errno, "ENOENT");
  });
});

/** The service over a bare Publisher of reports (the source shape the service asks for). */
async function publisherBacked(): Promise<{
  reports: Publisher<AgentHealthReport>;
  service: AgentHealthService;
  socket: AgentSocket;
  socketPath: string;
  close: () => Promise<void>;
}> {
  const { socketPath, remove } = socketDir();
  const now = Date.UTC(2026, 0, 1);
  const initial = agentHealthReport(
    {
      identity: { attested: true, expiresAtMs: now + 3_600_000 },
      sync: { connected: true, synced: true },
      cache: { entries: 0, entriesWithValidSvid: 0, pending: 0, serverReachable: true },
    },
    now,
  );
  const reports = new Publisher<AgentHealthReport>({ initial });
  const service = new AgentHealthService({
    report: () => reports.current ?? initial,
    subscribe: (listener) => reports.subscribe(listener),
  });
  const socket = await AgentSocket.listen(
    { socketPath, logger: createLogger({ name: "agent", level: "silent" }) },
    (server) => service.register(server),
  );
  const close = async (): Promise<void> => {
    await socket.close();
    remove();
  };
  return { reports, service, socket, socketPath, close };
}

async function waitUntil(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !condition(); i++) await new Promise((r) => setTimeout(r, 10));
}

describe("a source that cannot make its report", () => {
  it("gets INTERNAL on Check, List and Watch, not a guessed status; the healthcheck client says the check failed", async () => {
    const { socketPath, remove } = socketDir();
    const service = new AgentHealthService({
      report: () => {
        throw new Error("inputs are corrupt");
      },
      subscribe: () => ({ close: () => undefined }),
    });
    const socket = await AgentSocket.listen(
      { socketPath, logger: createLogger({ name: "agent", level: "silent" }) },
      (server) => service.register(server),
    );
    try {
      const err = await checkAgentHealth(socketPath).then(
        () => assert.fail("answered without a report"),
        (e: unknown) => e,
      );
      assert.ok(err instanceof HealthCheckError);
      assert.equal(err.code, "HEALTH_CHECK_FAILED");
      assert.match(err.message, /failed: INTERNAL: internal error$/);

      const client = new HealthClient(`unix:${socketPath}`, credentials.createInsecure());
      const listed = await new Promise<ServiceError | null>((resolve) => client.list({}, (e) => resolve(e)));
      client.close();
      assert.equal(listed?.code, GrpcStatus.INTERNAL);
      const watch = watchHealth(socketPath);
      assert.equal((await watch.done())?.code, GrpcStatus.INTERNAL);
    } finally {
      await socket.close();
      remove();
    }
  });
});

describe("the report trailer over a real socket", () => {
  it("carries an error message in any script, and one far larger than a header allows, without failing Check", async () => {
    const f = await startHealthFixture((clock) => healthyInputs(clock));
    try {
      const lastError = { code: "UNAVAILABLE", message: "serveur injoignable — ✗", atMs: f.clock.nowMs() };
      f.monitor.update({ identity: { attested: false, lastError } });
      const answer = await checkAgentHealth(f.socketPath);
      assert.equal(answer.status, ServingStatus.NOT_SERVING);
      assert.deepEqual(answer.report?.errors?.identity?.message, "serveur injoignable — ✗");

      f.monitor.update({
        identity: { attested: false, lastError: { ...lastError, message: "x".repeat(100_000) } },
      });
      const large = await checkAgentHealth(f.socketPath);
      assert.equal(large.status, ServingStatus.NOT_SERVING);
      assert.equal(large.report?.shortened, true);
      assert.match(large.report?.problems[0] ?? "", /^The agent is not attested: its last attempt failed/);
    } finally {
      await f.close();
    }
  });
});
