import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { DEFAULT_AGENT_SOCKET_PATH } from "../health/agent-socket-path.js";
import { parseEndpointSocket, resolveWorkloadSocket } from "./endpoint-socket.js";
import { WorkloadApiClientError } from "./errors.js";

describe("SPIFFE_ENDPOINT_SOCKET", () => {
  it("takes both unix forms of the SPIFFE Workload Endpoint specification", () => {
    assert.equal(parseEndpointSocket("unix:///run/hallmark/api.sock"), "/run/hallmark/api.sock");
    assert.equal(parseEndpointSocket("unix:/run/hallmark/api.sock"), "/run/hallmark/api.sock");
    assert.equal(parseEndpointSocket("unix:///tmp/with%20space.sock"), "/tmp/with space.sock");
  });

  for (const [value, reason] of [
    ["/tmp/api.sock", /not a URI/],
    ["tcp://127.0.0.1:8081", /unix socket only, not over TCP/],
    ["http://localhost/api.sock", /the scheme must be unix, not http/],
    ["unix://localhost/tmp/api.sock", /must not name a host \("localhost"\)/],
    ["unix:relative/api.sock", /the path must be absolute/],
    ["unix:///", /the path must be absolute/],
    ["unix:///tmp/api.sock?x=1", /must not hold a query/],
    ["unix:///tmp/api.sock#frag", /must not hold a fragment/],
    ["unix:///tmp/%00.sock", /NUL byte/],
  ] as const) {
    it(`refuses ${value}, saying why`, () => {
      assert.throws(
        () => parseEndpointSocket(value),
        (err: unknown) =>
          err instanceof WorkloadApiClientError &&
          err.code === "INVALID_ENDPOINT_SOCKET" &&
          err.message.startsWith(
            `SPIFFE_ENDPOINT_SOCKET="${value}" is not a Workload API socket address: `,
          ) &&
          reason.test(err.message),
      );
    });
  }

  it("--socket-path wins over the variable, the variable over the default", () => {
    const env = { SPIFFE_ENDPOINT_SOCKET: "unix:///from/env.sock" };
    assert.deepEqual(resolveWorkloadSocket("/from/flag.sock", env), {
      path: "/from/flag.sock",
      source: "flag",
    });
    assert.deepEqual(resolveWorkloadSocket(undefined, env), { path: "/from/env.sock", source: "env" });
    assert.deepEqual(resolveWorkloadSocket(undefined, {}), {
      path: DEFAULT_AGENT_SOCKET_PATH,
      source: "default",
    });
    assert.deepEqual(resolveWorkloadSocket(undefined, { SPIFFE_ENDPOINT_SOCKET: "" }), {
      path: DEFAULT_AGENT_SOCKET_PATH,
      source: "default",
    });
  });

  it("a malformed variable is an error, not a fall back to the default; with --socket-path it is not read", () => {
    assert.throws(() => resolveWorkloadSocket(undefined, { SPIFFE_ENDPOINT_SOCKET: "tcp://1.2.3.4:1" }), {
      code: "INVALID_ENDPOINT_SOCKET",
    });
    assert.equal(
      resolveWorkloadSocket("/x.sock", { SPIFFE_ENDPOINT_SOCKET: "tcp://1.2.3.4:1" }).path,
      "/x.sock",
    );
  });
});
