import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { status, type ClientReadableStream, type ServiceError } from "@grpc/grpc-js";
import { HallmarkError, abortError } from "../../common/errors.js";
import { ERROR_CODE_METADATA_KEY } from "../../common/grpc/status.js";
import type { Selector } from "../../common/selector.js";
import type { X509SVIDResponse } from "../../proto/gen/workload.js";
import { eventually } from "../cache/testdata/cache-fixture.js";
import { testEntry } from "../cache/testdata/test-svid-server.js";
import { reflect, registryOf, type ReflectionVersion } from "./testdata/reflection-client.js";
import {
  StreamReader,
  asCaller,
  callFails,
  apiFixtures,
  type ApiFixture,
} from "./testdata/workload-api-fixture.js";
import type { CallerSelectorsOf } from "./workload-api.js";

const uid = (n: number): Selector => ({ type: "unix", value: `uid:${n}` });

const startApi = apiFixtures();
/** Entry "a" (unix:uid:1000) holding its SVID, and caller "w" (unix:uid:1000). */
const start = (): Promise<ApiFixture> => startApi({ serving: [testEntry("a")], callers: { w: [uid(1000)] } });

/** Every Workload API method called once with `header` values; each call's error. */
async function everyMethodWith(f: ApiFixture, header: string[]): Promise<ServiceError[]> {
  const md = (): ReturnType<typeof asCaller> => asCaller("w", header);
  const streamError = async <T>(call: ClientReadableStream<T>): Promise<ServiceError> =>
    (await new StreamReader(call).end()) as ServiceError;
  return [
    await streamError(f.client.fetchX509Svid({}, md())),
    await streamError(f.client.fetchX509Bundles({}, md())),
    await streamError(f.client.fetchJwtBundles({}, md())),
    await callFails((cb) => f.client.fetchJwtsvid({ audience: ["svc"], spiffeId: "" }, md(), cb)),
    await callFails((cb) => f.client.validateJwtsvid({ audience: "svc", svid: "a.b.c" }, md(), cb)),
  ];
}

describe("WorkloadApi: the security header", () => {
  it("refuses every method without `workload.spiffe.io: true` with INVALID_ARGUMENT, as SPIRE words it, before attesting", async () => {
    const f = await start();
    for (const header of [[], ["false"], ["TRUE"], ["true", "true"]]) {
      for (const err of await everyMethodWith(f, header)) {
        assert.equal(err?.code, status.INVALID_ARGUMENT, `header ${JSON.stringify(header)}: ${err?.details}`);
        assert.match(err.details, /security header missing from request/);
        assert.equal(err.metadata.get(ERROR_CODE_METADATA_KEY)[0], "SECURITY_HEADER_MISSING");
      }
    }
    assert.deepEqual(f.attested, []);
  });
});

describe("WorkloadApi: caller attestation", () => {
  it("matches with the selectors the kernel's record of the caller gives (its real UID)", async () => {
    const myUid = process.getuid?.() as number;
    const fx = await startApi({
      selectorsOf: (callers) => (call) => Promise.resolve([uid(callers.peerOf(call).credentials.uid)]),
      serving: [
        testEntry("mine", { selectors: [uid(myUid)] }),
        testEntry("not-mine", { selectors: [uid(myUid + 1)] }),
      ],
    });
    const stream = new StreamReader<X509SVIDResponse>(fx.client.fetchX509Svid({}, asCaller("")));
    const message = await stream.next();
    assert.deepEqual(
      message.svids.map((s) => s.spiffeId),
      ["spiffe://example.org/workload/mine"],
    );
    await stream.cancel();
  });

  it("passes the attestation's refusals on through the one status map, and hides an unexpected failure", async () => {
    const failures: Error[] = [
      new HallmarkError("PEER_GONE", "the caller exited", { category: "permission_denied" }),
      new HallmarkError("ATTESTOR_TIMEOUT", "the unix attestor took longer than 5s", {
        category: "unavailable",
      }),
      new Error("ENOENT: /proc/1234/status"),
    ];
    let next = 0;
    const fx = await startApi({
      selectorsOf: () => () => Promise.reject(failures[next++] ?? new Error("no failure left")),
    });
    const outcomes: ServiceError[] = [];
    for (let i = 0; i < failures.length; i++) {
      outcomes.push(
        (await new StreamReader(fx.client.fetchX509Svid({}, asCaller("w"))).end()) as ServiceError,
      );
    }
    assert.deepEqual(
      outcomes.map((e) => [e.code, e.details]),
      [
        [status.PERMISSION_DENIED, "PEER_GONE: the caller exited"],
        [status.UNAVAILABLE, "ATTESTOR_TIMEOUT: the unix attestor took longer than 5s"],
        [status.INTERNAL, "internal error"],
      ],
    );
  });

  it("tells the attestation to stop when the client cancels its call", async () => {
    const signals: AbortSignal[] = [];
    const waitForAbort: CallerSelectorsOf = (_call, { signal }) => {
      signals.push(signal);
      return new Promise((_resolve, reject) =>
        signal.addEventListener("abort", () => reject(abortError(signal, "attesting"))),
      );
    };
    const fx = await startApi({ selectorsOf: () => waitForAbort });
    const stream = new StreamReader(fx.client.fetchX509Svid({}, asCaller("w")));
    await eventually("attesting", () => signals.length === 1);
    await stream.cancel();
    await eventually("the attestation's signal fired", () => signals[0]!.aborted);
  });
});

describe("WorkloadApi: close", () => {
  it("ends open streams with UNAVAILABLE, so clients reconnect, and answers later calls UNAVAILABLE", async () => {
    const f = await start();
    const open = new StreamReader<X509SVIDResponse>(f.client.fetchX509Svid({}, asCaller("w")));
    await open.next();
    f.api.close();
    const ended = await open.end();
    assert.equal(ended?.code, status.UNAVAILABLE);
    assert.equal(ended.metadata.get(ERROR_CODE_METADATA_KEY)[0], "WORKLOAD_API_CLOSED");
    assert.equal(f.api.openStreams, 0);
    const later = await callFails((cb) =>
      f.client.fetchJwtsvid({ audience: ["svc"], spiffeId: "" }, asCaller("w"), cb),
    );
    assert.equal(later.code, status.UNAVAILABLE);
    const laterStream = await new StreamReader(f.client.fetchJwtBundles({}, asCaller("w"))).end();
    assert.equal(laterStream?.code, status.UNAVAILABLE);
    const laterValidation = await callFails((cb) =>
      f.client.validateJwtsvid({ audience: "svc", svid: "a.b.c" }, asCaller("w"), cb),
    );
    assert.equal(laterValidation.code, status.UNAVAILABLE);
  });

  it("fails a call whose attestation is still running when the API closes", async () => {
    const pending: AbortSignal[] = [];
    const fx = await startApi({
      selectorsOf:
        () =>
        (_call, { signal }) => {
          pending.push(signal);
          return new Promise((_resolve, reject) =>
            signal.addEventListener("abort", () => reject(abortError(signal, "attesting"))),
          );
        },
    });
    const stream = new StreamReader(fx.client.fetchX509Svid({}, asCaller("w")));
    await eventually("attesting", () => pending.length === 1);
    fx.api.close();
    const err = await stream.end();
    assert.equal(err?.code, status.UNAVAILABLE);
    assert.equal(err.metadata.get(ERROR_CODE_METADATA_KEY)[0], "WORKLOAD_API_CLOSED");
  });
});

describe("WorkloadApi: server reflection", () => {
  for (const version of ["v1", "v1alpha"] as ReflectionVersion[]) {
    it(`lists SpiffeWorkloadAPI and the health service, and describes them with resolvable imports (${version})`, async () => {
      const f = await start();
      const [list, workload, method, health] = await reflect(f.socketPath, version, [
        { listServices: "*" },
        { fileContainingSymbol: "SpiffeWorkloadAPI" },
        { fileContainingSymbol: "SpiffeWorkloadAPI.FetchX509SVID" },
        { fileContainingSymbol: "grpc.health.v1.Health" },
      ]);
      const names = list!.listServicesResponse!.service.map((s) => s.name);
      assert.ok(names.includes("SpiffeWorkloadAPI"), names.join(", "));
      assert.ok(names.includes("grpc.health.v1.Health"), names.join(", "));

      const { first, registry } = registryOf(workload!);
      assert.equal(first.name, "workload.proto");
      assert.deepEqual(first.dependency, ["google/protobuf/struct.proto"]);
      assert.equal(
        workload!.originalRequest?.fileContainingSymbol,
        "SpiffeWorkloadAPI",
        "the client's own request",
      );
      const service = registry.getService("SpiffeWorkloadAPI");
      assert.deepEqual(
        service?.methods.map((m) => [m.name, m.methodKind]),
        [
          ["FetchX509SVID", "server_streaming"],
          ["FetchX509Bundles", "server_streaming"],
          ["FetchJWTSVID", "unary"],
          ["FetchJWTBundles", "server_streaming"],
          ["ValidateJWTSVID", "unary"],
        ],
      );
      assert.equal(
        registry.getMessage("ValidateJWTSVIDResponse")?.field.claims?.message?.typeName,
        "google.protobuf.Struct",
      );
      assert.equal(registryOf(method!).first.name, "workload.proto");
      assert.equal(registryOf(health!).registry.getService("grpc.health.v1.Health")?.methods.length, 3);
    });
  }
});
