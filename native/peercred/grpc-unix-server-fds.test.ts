import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { join } from "node:path";
import type { ChildProcess } from "node:child_process";
import {
  NOBODY,
  endProcess,
  openFdCount,
  openPidfdCount,
  sharedTempDir,
  startConnector,
} from "./testdata/helpers.js";
import { WhoAmIServer, runAsNobody, waitFor } from "./testdata/who-am-i-server.js";
import type { WhoAmIOutcome } from "./testdata/who-am-i-service.js";

// A file of its own, so that nothing another test left to close lazily moves the counts.
describe("UnixGrpcServer: descriptors", () => {
  it("holds one pidfd per open connection and none after the connections or the server close", async () => {
    const temp = sharedTempDir("hallmark-peercred-grpc-");
    const socketPath = join(temp.dir, "api.sock");
    const before = openFdCount();
    const server = new WhoAmIServer();
    await server.listen(socketPath);
    const listening = openFdCount();
    let held: ChildProcess | undefined;
    try {
      for (let round = 0; round < 2; round++) {
        const clients = Array.from({ length: 4 }, () => runAsNobody("grpc-client", [`unix:${socketPath}`]));
        for (const client of clients) {
          const outcome = (await client.lines()) as WhoAmIOutcome;
          assert.ok("reply" in outcome, JSON.stringify(outcome));
          // Closed, not only exited: the child's stdout pipe is a descriptor here too.
          await client.closed;
        }
        await waitFor(() => server.unix.connectionCount === 0, "every connection has closed");
        assert.equal(openPidfdCount(), 0);
        assert.equal(openFdCount(), listening);
      }
      held = await startConnector(socketPath, { uid: NOBODY, gid: NOBODY, groups: [] });
      await waitFor(() => server.unix.connectionCount === 1, "the server accepted the connection");
      assert.equal(openPidfdCount(), 1);
    } finally {
      await server.close();
      temp.remove();
    }
    // The connection still open when the server closed lost its pidfd with it.
    assert.equal(server.unix.connectionCount, 0);
    assert.equal(openPidfdCount(), 0);
    if (held) {
      const closed = once(held, "close");
      await endProcess(held);
      await closed;
    }
    assert.equal(openFdCount(), before);
  });
});
