import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createInterface } from "node:readline";
import { once } from "node:events";
import { run, spawnTied } from "../fixtures/processes.js";
import {
  healthyInputs,
  startHealthFixture,
  type HealthFixture,
} from "../../agent/health/testdata/health-fixture.js";
import { buildGoProgram } from "./go-program.js";

/**
 * The agent's health service asked by grpc-go's own health client
 * (google.golang.org/grpc/health/grpc_health_v1), the code grpc_health_probe and Kubernetes' gRPC
 * probes are built on: if our proto or service strayed from the protocol, this is where it shows.
 */
describe("grpc.health.v1 interop: grpc-go's health client against the agent socket", () => {
  let probe: string;
  let f: HealthFixture;
  before(async () => {
    probe = await buildGoProgram("grpc-health-check");
    f = await startHealthFixture((clock) => healthyInputs(clock));
  });
  after(() => f?.close());

  const check = async (...args: string[]): Promise<string[]> => {
    const result = await run(probe, ["-socket", f.socketPath, ...args]);
    assert.equal(result.code, 0, result.stderr);
    return result.stdout.split("\n").filter((l) => l !== "");
  };

  it("Check: SERVING, with the report trailer readable by a foreign client", async () => {
    const [status, trailer] = await check();
    assert.equal(status, "SERVING");
    const report = JSON.parse(trailer ?? "null") as { healthy: boolean; entries: number };
    assert.deepEqual([report.healthy, report.entries], [true, 3]);
    assert.deepEqual((await check("-service", "hallmark.agent.v1")).slice(0, 1), ["SERVING"]);
  });

  it("Check: NOT_SERVING when the agent is not healthy", async () => {
    f.monitor.update({ identity: { attested: false } });
    try {
      const [status, trailer] = await check();
      assert.equal(status, "NOT_SERVING");
      assert.deepEqual((JSON.parse(trailer ?? "null") as { problems: string[] }).problems, [
        "The agent has not attested to the server yet.",
      ]);
    } finally {
      f.monitor.update(healthyInputs(f.clock));
    }
  });

  it("Check: NotFound for an unknown service, as grpc-go's own server answers", async () => {
    assert.deepEqual(await check("-service", "no.such.Service"), ["error NotFound"]);
  });

  it("Watch: the current status, then the change", async () => {
    const child = spawnTied(probe, ["-socket", f.socketPath, "-watch", "2"]);
    const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
    try {
      assert.deepEqual(await lines.next(), { done: false, value: "SERVING" });
      f.monitor.update({ sync: { connected: true, synced: false } });
      assert.deepEqual(await lines.next(), { done: false, value: "NOT_SERVING" });
      const [code] = (await once(child, "exit")) as [number | null];
      assert.equal(code, 0);
    } finally {
      child.kill("SIGKILL");
      f.monitor.update(healthyInputs(f.clock));
    }
  });

  it("Watch: SERVICE_UNKNOWN for an unknown service", async () => {
    const result = await run(probe, ["-socket", f.socketPath, "-service", "no.such.Service", "-watch", "1"]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, "SERVICE_UNKNOWN\n");
  });
});
