import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HealthHttpServer } from "../../common/health/health-http.js";
import { createLogger } from "../../common/logging/logger.js";
import type { CaHealth } from "../ca/index.js";
import { openSqliteDatastore } from "../datastore/index.js";
import { healthReport } from "./health-report.js";

const logger = createLogger({ name: "test", level: "silent" });
/** The CA's health as CaManager reports it (its own tests cover how it gets there). */
const caReporting = (health: CaHealth) => ({ health: () => health });
const healthyCa = caReporting({ healthy: true, consecutiveFailures: 0 });
const failingCa = caReporting({
  healthy: false,
  consecutiveFailures: 3,
  lastError: { code: "PKCS11_TOKEN_NOT_PRESENT", message: "token away", at: new Date(0) },
});

describe("health", () => {
  it("is ready only when the CA is healthy and the datastore answers", async () => {
    const dir = await mkdtemp(join(tmpdir(), "health-"));
    try {
      const datastore = await openSqliteDatastore({ path: join(dir, "ds.sqlite3") });
      assert.equal((await healthReport({ ca: healthyCa, datastore })).healthy, true);
      const caDown = await healthReport({ ca: failingCa, datastore });
      assert.deepEqual([caDown.healthy, caDown.datastore.reachable], [false, true]);

      const http = await HealthHttpServer.listen(
        { bindAddress: "127.0.0.1", bindPort: 0 },
        () => healthReport({ ca: healthyCa, datastore }),
        logger,
      );
      const url = (path: string) => `http://127.0.0.1:${http.port}${path}`;
      try {
        assert.equal((await fetch(url("/ready"))).status, 200);
        await datastore.close();
        const closed = await healthReport({ ca: healthyCa, datastore });
        assert.equal(closed.healthy, false);
        assert.match(closed.datastore.error ?? "", /^CLOSED: /);
        const ready = await fetch(url("/ready"));
        assert.equal(ready.status, 503);
        assert.equal(
          ((await ready.json()) as { datastore: { reachable: boolean } }).datastore.reachable,
          false,
        );
        assert.equal((await fetch(url("/live"))).status, 200, "alive while not ready");
        assert.equal((await fetch(url("/metrics"))).status, 404);
      } finally {
        await http.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
