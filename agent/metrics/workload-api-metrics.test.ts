import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { status, type ServiceError } from "@grpc/grpc-js";
import { Registry } from "prom-client";
import { ManualClock } from "../../common/clock.js";
import type { Selector } from "../../common/selector.js";
import { parseExposition, type Exposition } from "../../common/metrics/testdata/exposition.js";
import type { X509SVIDResponse } from "../../proto/gen/workload.js";
import { testEntry } from "../cache/testdata/test-svid-server.js";
import {
  StreamReader,
  apiFixtures,
  asCaller,
  callFails,
  callSucceeds,
} from "../workload-api/testdata/workload-api-fixture.js";
import { PromAgentMetrics } from "./prom-agent-metrics.js";

const uid = (n: number): Selector => ({ type: "unix", value: `uid:${n}` });
const REQUESTS = "hallmark_agent_workload_api_requests_total";
const STREAMS = "hallmark_agent_workload_api_streams_open";

const startApi = apiFixtures();

async function scrape(registry: Registry): Promise<Exposition> {
  return parseExposition(await registry.metrics());
}

/** Scrapes until `check` holds (the server learns of a client's cancel a moment after it). */
async function until(
  registry: Registry,
  what: string,
  check: (e: Exposition) => boolean,
): Promise<Exposition> {
  for (let i = 0; i < 500; i++) {
    const exposition = await scrape(registry);
    if (check(exposition)) return exposition;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error(`never happened: ${what}`);
}

describe("Workload API metrics (a real socket, the real API, prom-client's text)", () => {
  it("counts each call by method and gRPC status where the status is set, and the open streams by method", async () => {
    const registry = new Registry();
    const metrics = new PromAgentMetrics(registry, new ManualClock());
    const f = await startApi({
      serving: [testEntry("a")],
      callers: { w: [uid(1000)], nobody: [uid(4242)] },
      metrics,
      firstMessageWaitMs: 0,
    });
    const requests = (e: Exposition, method: string, code: string): number =>
      e.samples(REQUESTS, { method, grpc_code: code }).reduce((sum, s) => sum + s.value, 0);

    const before = await scrape(registry);
    assert.equal(before.family(REQUESTS).type, "counter");
    assert.equal(requests(before, "FetchJWTSVID", "OK"), 0, "the OK series exist from the start");
    assert.equal(before.value(STREAMS, { method: "FetchX509SVID" }), 0);

    await callSucceeds((cb) => f.client.fetchJwtsvid({ audience: ["svc"], spiffeId: "" }, asCaller("w"), cb));
    const noHeader = await callFails((cb) =>
      f.client.fetchJwtsvid({ audience: ["svc"], spiffeId: "" }, asCaller("w", []), cb),
    );
    assert.equal(noHeader.code, status.INVALID_ARGUMENT);
    const afterUnary = await scrape(registry);
    assert.equal(requests(afterUnary, "FetchJWTSVID", "OK"), 1);
    assert.equal(requests(afterUnary, "FetchJWTSVID", "INVALID_ARGUMENT"), 1);

    const stream = new StreamReader<X509SVIDResponse>(f.client.fetchX509Svid({}, asCaller("w")));
    await stream.next();
    const open = await scrape(registry);
    assert.equal(open.value(STREAMS, { method: "FetchX509SVID" }), 1, "one stream served now");
    assert.equal(requests(open, "FetchX509SVID", "CANCELLED"), 0, "a stream counts when it ends");
    await stream.cancel();
    const left = await until(
      registry,
      "the cancel reached the server",
      (e) => e.value(STREAMS, { method: "FetchX509SVID" }) === 0,
    );
    assert.equal(requests(left, "FetchX509SVID", "CANCELLED"), 1, "the client left");

    const denied = (await new StreamReader(
      f.client.fetchX509Svid({}, asCaller("nobody")),
    ).end()) as ServiceError;
    assert.equal(denied.code, status.PERMISSION_DENIED);
    const afterDenied = await scrape(registry);
    assert.equal(requests(afterDenied, "FetchX509SVID", "PERMISSION_DENIED"), 1);
    assert.equal(afterDenied.value(STREAMS, { method: "FetchX509SVID" }), 0);

    const bundles = new StreamReader(f.client.fetchJwtBundles({}, asCaller("w")));
    await bundles.next();
    assert.equal((await scrape(registry)).value(STREAMS, { method: "FetchJWTBundles" }), 1);
    f.api.close();
    assert.equal((await bundles.end())?.code, status.UNAVAILABLE);
    const closed = await scrape(registry);
    assert.equal(requests(closed, "FetchJWTBundles", "UNAVAILABLE"), 1, "ended by the agent stopping");
    assert.equal(closed.value(STREAMS, { method: "FetchJWTBundles" }), 0);
  });
});
