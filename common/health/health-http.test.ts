import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { capturingLogger } from "../logging/testdata/capturing-logger.js";
import { HealthHttpServer, type ReadinessProbe } from "./health-http.js";

async function withHealthHttp(
  ready: ReadinessProbe,
  test: (url: (path: string) => string, logs: () => string) => Promise<void>,
): Promise<void> {
  const { logger, text } = capturingLogger();
  const http = await HealthHttpServer.listen({ bindAddress: "127.0.0.1", bindPort: 0 }, ready, logger);
  try {
    await test((path) => `http://127.0.0.1:${http.port}${path}`, text);
  } finally {
    await http.close();
  }
}

describe("HealthHttpServer", () => {
  it("answers /ready with the current report as the body: 200 when healthy, 503 when not", async () => {
    let report = { healthy: true, detail: "all good" };
    await withHealthHttp(
      () => Promise.resolve(report),
      async (url) => {
        const ok = await fetch(url("/ready"));
        assert.equal(ok.status, 200);
        assert.equal(ok.headers.get("content-type"), "application/json");
        assert.deepEqual(await ok.json(), { healthy: true, detail: "all good" });

        report = { healthy: false, detail: "no SVID" };
        const down = await fetch(url("/ready?verbose=1"));
        assert.equal(down.status, 503, "asked anew on every request; the query is ignored");
        assert.deepEqual(await down.json(), { healthy: false, detail: "no SVID" });
        assert.equal((await fetch(url("/live"))).status, 200, "alive while not ready");
      },
    );
  });

  it("answers 503 and logs when the report cannot be made (rejected or thrown)", async () => {
    let fail: () => Promise<never> = () => Promise.reject(new Error("datastore gone"));
    await withHealthHttp(
      () => fail(),
      async (url, logs) => {
        const rejected = await fetch(url("/ready"));
        assert.equal(rejected.status, 503);
        assert.deepEqual(await rejected.json(), { healthy: false });
        assert.match(logs(), /health check failed/);
        assert.match(logs(), /datastore gone/);

        fail = () => {
          throw new Error("probe threw before returning a promise");
        };
        const thrown = await fetch(url("/ready"));
        assert.equal(thrown.status, 503);
        assert.match(logs(), /probe threw before returning a promise/);
        assert.equal((await fetch(url("/live"))).status, 200, "the listener survived");
      },
    );
  });

  it("serves only GET /live and GET /ready", async () => {
    await withHealthHttp(
      () => Promise.resolve({ healthy: true }),
      async (url) => {
        assert.equal((await fetch(url("/metrics"))).status, 404);
        assert.equal((await fetch(url("/ready"), { method: "POST" })).status, 404);
        assert.equal((await fetch(url("/"))).status, 404);
      },
    );
  });

  it("fails to listen with the bind error (port taken)", async () => {
    await withHealthHttp(
      () => Promise.resolve({ healthy: true }),
      async (url) => {
        const port = Number(new URL(url("/")).port);
        await assert.rejects(
          HealthHttpServer.listen(
            { bindAddress: "127.0.0.1", bindPort: port },
            () => Promise.resolve({ healthy: true }),
            capturingLogger().logger,
          ),
          /EADDRINUSE/,
        );
      },
    );
  });
});
