import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { DeviceTransport } from "./device.js";
import { openTransport, parseTpmEndpoint } from "./open.js";
import { SocketTransport } from "./socket.js";

describe("parseTpmEndpoint", () => {
  it("reads device paths, unix sockets and tcp host:port", () => {
    assert.deepEqual(parseTpmEndpoint("/dev/tpmrm0"), { kind: "device", path: "/dev/tpmrm0" });
    assert.deepEqual(parseTpmEndpoint("unix:/run/swtpm.sock"), { kind: "unix", path: "/run/swtpm.sock" });
    assert.deepEqual(parseTpmEndpoint("tcp:localhost:2321"), { kind: "tcp", host: "localhost", port: 2321 });
    assert.deepEqual(parseTpmEndpoint("tcp:[::1]:2321"), { kind: "tcp", host: "::1", port: 2321 });
  });

  it("rejects what it cannot read, naming it", () => {
    for (const bad of ["tpmrm0", "unix:", "tcp:host", "tcp:host:0", "tcp:host:70000", "tcp::2321"]) {
      assert.throws(
        () => parseTpmEndpoint(bad),
        (err: unknown) => {
          assert.equal((err as { code?: string }).code, "TPM_ENDPOINT_INVALID", bad);
          return true;
        },
      );
    }
  });

  it("opens the matching transport", () => {
    assert.ok(openTransport({ kind: "device", path: "/dev/tpm0" }) instanceof DeviceTransport);
    assert.ok(openTransport({ kind: "unix", path: "/x.sock" }) instanceof SocketTransport);
    assert.equal(openTransport({ kind: "tcp", host: "h", port: 1 }).endpoint, "tcp:h:1");
  });
});
