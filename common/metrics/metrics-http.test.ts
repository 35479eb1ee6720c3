import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { request, type IncomingMessage } from "node:http";
import { Counter, Gauge, register as globalRegister, type Registry } from "prom-client";
import { HttpListenError } from "../http/http-listener.js";
import { capturingLogger } from "../logging/testdata/capturing-logger.js";
import { MetricsHttpServer } from "./metrics-http.js";
import { createMetricsRegistry } from "./metrics-registry.js";
import { parseExposition } from "./testdata/exposition.js";

async function withMetricsHttp(
  registry: Registry,
  test: (url: (path: string) => string, http: MetricsHttpServer, logs: () => string) => Promise<void>,
): Promise<void> {
  const { logger, text } = capturingLogger();
  const http = await MetricsHttpServer.listen({ bindAddress: "127.0.0.1", bindPort: 0 }, registry, logger);
  try {
    await test((path) => `http://127.0.0.1:${http.port}${path}`, http, text);
  } finally {
    await http.close();
  }
}

describe("the metrics registry and GET /metrics", () => {
  it("serves the registry in the Prometheus text format, with the registry's content type", async () => {
    const registry = createMetricsRegistry();
    const served = new Counter({
      name: "hallmark_test_things_total",
      help: "Things, for the test.",
      labelNames: ["kind"],
      registers: [registry],
    });
    served.labels('a "quoted" kind').inc(3);
    await withMetricsHttp(registry, async (url) => {
      const res = await fetch(url("/metrics?name[]=ignored"));
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("content-type"), registry.contentType);
      assert.match(registry.contentType, /^text\/plain; version=0\.0\.4/);
      const exposition = parseExposition(await res.text());
      assert.equal(exposition.family("hallmark_test_things_total").type, "counter");
      assert.equal(exposition.family("hallmark_test_things_total").help, "Things, for the test.");
      assert.equal(exposition.value("hallmark_test_things_total", { kind: 'a "quoted" kind' }), 3);
      // Node's own process metrics, under the names the standard dashboards use.
      assert.ok(exposition.value("process_cpu_user_seconds_total") >= 0);
      assert.equal(exposition.family("nodejs_heap_size_used_bytes").type, "gauge");
      assert.equal(exposition.family("nodejs_eventloop_lag_seconds").type, "gauge");
    });
  });

  it("is one registry per process part, never prom-client's global one", async () => {
    const first = createMetricsRegistry();
    const second = createMetricsRegistry();
    new Gauge({ name: "hallmark_test_only_in_first", help: "A gauge.", registers: [first] }).set(1);
    assert.equal(second.getSingleMetric("hallmark_test_only_in_first"), undefined);
    assert.equal(globalRegister.getSingleMetric("hallmark_test_only_in_first"), undefined);
    assert.equal(globalRegister.getSingleMetric("process_cpu_user_seconds_total"), undefined);
    assert.doesNotMatch(await globalRegister.metrics(), /process_cpu/);
  });

  it("answers 404 to anything but GET /metrics", async () => {
    await withMetricsHttp(createMetricsRegistry(), async (url) => {
      assert.equal((await fetch(url("/"))).status, 404);
      assert.equal((await fetch(url("/metrics/"))).status, 404);
      assert.equal((await fetch(url("/ready"))).status, 404);
      assert.equal((await fetch(url("/metrics"), { method: "POST", body: "x" })).status, 404);
      assert.equal((await fetch(url("/metrics"))).status, 200, "and still serves");
    });
  });

  it("answers 500 and logs when a metric cannot be collected, and serves again after", async () => {
    const registry = createMetricsRegistry();
    let failing = true;
    new Gauge({
      name: "hallmark_test_flaky",
      help: "Fails to collect while told to.",
      registers: [registry],
      collect() {
        if (failing) throw new Error("the source went away");
        this.set(7);
      },
    });
    await withMetricsHttp(registry, async (url, _http, logs) => {
      const failed = await fetch(url("/metrics"));
      assert.equal(failed.status, 500);
      assert.match(logs(), /could not collect the metrics/);
      assert.match(logs(), /the source went away/);
      failing = false;
      const ok = await fetch(url("/metrics"));
      assert.equal(parseExposition(await ok.text()).value("hallmark_test_flaky"), 7);
    });
  });

  it("a port in use is a typed error naming the config key, not a crash", async () => {
    await withMetricsHttp(createMetricsRegistry(), async (_url, http) => {
      await assert.rejects(
        MetricsHttpServer.listen(
          { bindAddress: "127.0.0.1", bindPort: http.port },
          createMetricsRegistry(),
          capturingLogger().logger,
        ),
        (err: unknown) => {
          assert.ok(err instanceof HttpListenError, String(err));
          assert.equal(err.code, "HTTP_ADDRESS_IN_USE");
          assert.equal(err.category, "failed_precondition");
          assert.match(
            err.message,
            new RegExp(`cannot serve metrics on 127\\.0\\.0\\.1:${http.port}: the address is in use`),
          );
          assert.match(err.message, /metrics\.bind_port/);
          return true;
        },
      );
    });
  });

  it("close() ends kept-alive connections and frees the port", async () => {
    const registry = createMetricsRegistry();
    const { logger } = capturingLogger();
    const http = await MetricsHttpServer.listen({ bindAddress: "127.0.0.1", bindPort: 0 }, registry, logger);
    const port = http.port;
    // A scraper holding its connection open between scrapes must not hold the shutdown up.
    const kept = await new Promise<IncomingMessage>((resolve, reject) => {
      request({ host: "127.0.0.1", port, path: "/metrics", headers: { connection: "keep-alive" } }, resolve)
        .on("error", reject)
        .end();
    });
    kept.resume();
    await http.close();
    const again = await MetricsHttpServer.listen(
      { bindAddress: "127.0.0.1", bindPort: port },
      registry,
      logger,
    );
    assert.equal(again.port, port, "the same port, bound again");
    await again.close();
  });
});
