import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { ServerCredentials, status } from "@grpc/grpc-js";
import { SO_PEERCRED } from "./linux-abi.js";
import { NOBODY, failingSocketOption, sharedTempDir } from "./testdata/helpers.js";
import { WhoAmIServer, isAlive, runAsNobody, waitFor } from "./testdata/who-am-i-server.js";
import { callWhoAmI, type WhoAmIOutcome } from "./testdata/who-am-i-service.js";

describe("UnixGrpcServer: gRPC handlers learn their caller from the kernel", () => {
  let temp: ReturnType<typeof sharedTempDir>;
  let server: WhoAmIServer;
  let socketPath: string;
  before(async () => {
    temp = sharedTempDir("hallmark-peercred-grpc-");
    socketPath = join(temp.dir, "api.sock");
    server = new WhoAmIServer();
    await server.listen(socketPath);
  });
  after(async () => {
    await server.close();
    temp.remove();
  });

  it("tells a handler the uid, gid and pid of a grpc-js client running as another user", async () => {
    const client = runAsNobody("grpc-client", [`unix:${socketPath}`]);
    const outcome = (await client.lines()) as WhoAmIOutcome;
    await client.exited;
    assert.ok("reply" in outcome, JSON.stringify(outcome));
    assert.deepEqual(outcome.reply, {
      pid: client.child.pid,
      uid: NOBODY,
      gid: NOBODY,
      groups: [],
      pidfdSource: "SO_PEERPIDFD",
      procUid: `${NOBODY}\t${NOBODY}\t${NOBODY}\t${NOBODY}`,
    });
    const seen = server.seen.at(-1);
    assert.equal(seen?.alive, true);
    assert.equal(seen?.peer?.credentials.pid, client.child.pid);
  });

  it("sees a caller whose process exited before the handler checked as gone, though its connection lives on, and refuses it", async () => {
    // The connector connects, hands the connection to another process and exits: the kernel's
    // credentials name the connector, whose PID is now free for anyone to take.
    const run = runAsNobody("handoff-connector", [socketPath]);
    const { connector, client } = (await run.lines()) as { connector: number; client: number };
    try {
      await run.exited;
      assert.equal(isAlive(connector), false);
      // fd-proxy-client writes to the stdout it inherited from the connector.
      assert.deepEqual(await run.lines(), { ready: client });
      const arrival = server.nextArrival();
      process.kill(client, "SIGUSR2");
      const seen = await arrival;
      const outcome = (await run.lines()) as WhoAmIOutcome;
      assert.equal(seen.peer?.credentials.pid, connector);
      assert.equal(seen.peer?.credentials.uid, NOBODY);
      assert.equal(seen.alive, false);
      assert.equal(seen.error?.code, "PEER_GONE");
      assert.ok("error" in outcome, JSON.stringify(outcome));
      assert.equal(outcome.error.code, status.PERMISSION_DENIED);
      assert.match(outcome.error.details, /^PEER_GONE: /);
    } finally {
      if (isAlive(client)) process.kill(client, "SIGKILL");
    }
  });

  it("refuses a call whose connection closed before the handler looked", async () => {
    let open!: () => void;
    server.gate = new Promise((resolve) => (open = resolve));
    const arrival = server.nextArrival();
    const client = runAsNobody("grpc-client", [`unix:${socketPath}`]);
    const seen = await arrival;
    client.child.kill("SIGKILL");
    await client.exited;
    await waitFor(() => server.unix.connectionCount === 0, "the server saw the connection close");
    open();
    server.gate = Promise.resolve();
    await waitFor(() => seen.error !== undefined || seen.peer !== undefined, "the handler has checked");
    assert.equal(seen.peer, undefined);
    assert.equal(seen.error?.code, "CONNECTION_CLOSED");
  });

  it("refuses a call that did not come through the unix socket", async () => {
    const port = await new Promise<number>((resolve, reject) =>
      server.grpc.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (err, bound) =>
        err ? reject(err) : resolve(bound),
      ),
    );
    try {
      const outcome = await callWhoAmI(`127.0.0.1:${port}`, false);
      assert.ok("error" in outcome, JSON.stringify(outcome));
      assert.equal(outcome.error.code, status.PERMISSION_DENIED);
      assert.match(outcome.error.details, /^UNKNOWN_CONNECTION: /);
      assert.equal(server.seen.at(-1)?.error?.code, "UNKNOWN_CONNECTION");
    } finally {
      server.grpc.unbind(`127.0.0.1:${port}`);
    }
  });
});

describe("UnixGrpcServer: connections whose caller cannot be read", () => {
  it("are served, and every call on them is refused with the reason", async () => {
    const temp = sharedTempDir("hallmark-peercred-grpc-");
    const brokenPeercred = failingSocketOption(SO_PEERCRED, "ENOBUFS");
    const server = new WhoAmIServer();
    await server.listen(join(temp.dir, "api.sock"), { syscalls: brokenPeercred });
    try {
      const outcome = await callWhoAmI(`unix:${join(temp.dir, "api.sock")}`, false);
      assert.ok("error" in outcome, JSON.stringify(outcome));
      assert.equal(outcome.error.code, status.UNAVAILABLE);
      assert.match(outcome.error.details, /^SYSCALL_FAILED: getsockopt\(SO_PEERCRED\) failed: ENOBUFS/);
    } finally {
      await server.close();
      temp.remove();
    }
  });
});
