import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ManualClock } from "../../common/clock.js";
import { createLogger } from "../../common/logging/logger.js";
import type { AgentHealthReport } from "./agent-health.js";
import { listenAgentHealthHttp } from "./agent-health-http.js";
import { AgentHealthMonitor } from "./agent-health-monitor.js";
import { healthyInputs } from "./testdata/health-fixture.js";

describe("the agent's /live and /ready", () => {
  it("/ready is 200 with the report while healthy (outage included), 503 when not; /live stays 200", async () => {
    const clock = new ManualClock();
    const logger = createLogger({ name: "agent", level: "silent" });
    const monitor = new AgentHealthMonitor({ clock, logger, initial: healthyInputs(clock) });
    const http = await listenAgentHealthHttp({ bindAddress: "127.0.0.1", bindPort: 0 }, monitor, logger);
    const get = async (path: string): Promise<{ status: number; body: unknown }> => {
      const res = await fetch(`http://127.0.0.1:${http.port}${path}`);
      return { status: res.status, body: await res.json() };
    };
    try {
      const ready = await get("/ready");
      assert.equal(ready.status, 200);
      assert.deepEqual(ready.body, JSON.parse(JSON.stringify(monitor.report())));

      const healthy = healthyInputs(clock);
      monitor.update({ sync: { ...healthy.sync, connected: false } });
      const cutOff = await get("/ready");
      assert.equal(cutOff.status, 200, "still serving valid SVIDs");
      assert.match((cutOff.body as AgentHealthReport).problems[0] ?? "", /^The server cannot be reached/);

      monitor.update({ cache: { ...healthy.cache, entriesWithValidSvid: 0, serverReachable: false } });
      const down = await get("/ready");
      assert.equal(down.status, 503);
      assert.equal((down.body as AgentHealthReport).healthy, false);
      assert.deepEqual(await get("/live"), { status: 200, body: { live: true } });
    } finally {
      monitor.close();
      await http.close();
    }
  });
});
