import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { status as GrpcStatus } from "@grpc/grpc-js";
import { OperationAbortedError } from "../../common/errors.js";
import { toGrpcError } from "../../common/grpc/status.js";
import { PeerCredError } from "../../native/peercred/index.js";
import { openPidfdCount } from "../../native/peercred/testdata/helpers.js";
import { CallerSockets } from "./testdata/callers.js";
import { attestationFixture, gatedFixture, turn, until } from "./testdata/fixture.js";
import {
  answers,
  credentialSelectors,
  Gate,
  neverAnswers,
  processId,
  processName,
  RecordingAttestor,
} from "./testdata/test-attestors.js";
import { CALLER_ATTESTATION_DEFAULTS } from "./caller-attestation.js";
import { WorkloadAttestationError, type WorkloadAttestationErrorCode } from "./workload-attestation-error.js";

const TTL = CALLER_ATTESTATION_DEFAULTS.cacheTtlMs;
const DEADLINE = CALLER_ATTESTATION_DEFAULTS.attestorTimeoutMs;

function attestationError(code: WorkloadAttestationErrorCode, message?: RegExp): (err: unknown) => true {
  return (err) => {
    assert.ok(
      err instanceof WorkloadAttestationError,
      `expected a WorkloadAttestationError, got ${String(err)}`,
    );
    assert.equal(err.code, code);
    if (message) assert.match(err.message, message);
    return true;
  };
}

describe("CallerAttestation: the selectors of the process that made a connection", () => {
  let sockets: CallerSockets;
  before(async () => {
    sockets = await CallerSockets.open();
  });
  after(async () => {
    await sockets.close();
  });

  it("runs every attestor at once on the pinned caller and answers their selectors merged, one of each, in order", async () => {
    const caller = await sockets.start();
    const [connection] = caller.connections;
    const wants = (_type: string, key: string): boolean => key === "name";
    const status = new RecordingAttestor("status", processName("status"));
    let statusRunningWhenIdStarted = 0;
    const id = new RecordingAttestor("id", async (peer, options) => {
      statusRunningWhenIdStarted = status.running;
      const own = await processId("id")(peer, options);
      return [...own, ...own];
    });
    const { attestation } = attestationFixture([status, id], { wants });

    const selectors = await attestation.selectorsOf(connection!);

    assert.deepEqual(selectors, [
      { type: "id", value: `pid:${caller.pid}` },
      { type: "status", value: "name:node" },
    ]);
    assert.equal(
      statusRunningWhenIdStarted,
      1,
      "the second attestor started while the first was still reading",
    );
    const seen = status.seen[0]!;
    // The attestors read a process pinned by the attestation's own pidfd, with the connection's credentials.
    assert.notEqual(seen.caller.process, connection!.process);
    assert.equal(seen.caller.process.pid, caller.pid);
    assert.deepEqual(seen.caller.credentials, connection!.credentials);
    assert.deepEqual(seen.caller.groups, connection!.groups);
    assert.equal(seen.options.wants, wants);
    attestation.close();
  });

  it("runs only the attestors one of whose selector keys some entry uses", async () => {
    const caller = await sockets.start();
    const used = new RecordingAttestor("used", credentialSelectors("used"));
    const unused = new RecordingAttestor("unused", credentialSelectors("unused"));
    const wants = (type: string, key: string): boolean => type === "used" && key === "uid";
    const { attestation } = attestationFixture([used, unused], { wants });

    const selectors = await attestation.selectorsOf(caller.connections[0]!);

    assert.deepEqual(
      selectors.map((s) => s.type),
      ["used", "used"],
    );
    assert.equal(unused.calls, 0, "an attestor whose selectors no entry uses was run");
    attestation.close();
  });

  it("attests again, neither serving the cache nor joining one in flight, once an entry uses a selector kind that was skipped", async () => {
    const caller = await sockets.start();
    const [connection] = caller.connections;
    let generation = 0;
    const { attestation, gate, attestor } = gatedFixture("status", processName("status"), {
      wantsGeneration: () => generation,
    });
    gate.open();
    await attestation.selectorsOf(connection!);
    await attestation.selectorsOf(connection!);
    assert.equal(attestor.calls, 1, "the second call within the TTL is served from the cache");

    generation++;
    await attestation.selectorsOf(connection!);
    assert.equal(attestor.calls, 2, "a result made before the generation went up was served");

    // One in flight under an older generation is not joined either.
    generation++;
    gate.shut();
    const before = attestation.selectorsOf(connection!);
    await until(() => attestor.running === 1, "the attestation started");
    generation++;
    const afterBump = attestation.selectorsOf(connection!);
    await until(() => attestor.calls === 4, "a second attestation started under the new generation");
    gate.open();
    await Promise.all([before, afterBump]);
    attestation.close();
  });

  it("shares one attestation among concurrent calls from one process, on one connection or several", async () => {
    const caller = await sockets.start(3);
    const { attestation, gate, attestor: cred } = gatedFixture("cred", credentialSelectors("cred"));

    const calls = caller.connections.flatMap((connection) =>
      [1, 2, 3].map(() => attestation.selectorsOf(connection)),
    );
    await until(() => gate.waiting === 1, "the attestation is at the gate");
    gate.open();
    const results = await Promise.all(calls);

    assert.equal(calls.length, 9);
    assert.equal(cred.calls, 1);
    for (const selectors of results) assert.equal(selectors, results[0]);
    assert.deepEqual(results[0], [
      { type: "cred", value: "gid:0" },
      { type: "cred", value: "uid:0" },
    ]);
    attestation.close();
  });

  it("never shares between two processes", async () => {
    const [first, second] = await sockets.startMany(2, 1);
    const { attestation, gate, attestor: id } = gatedFixture("id", processId("id"));

    const calls = [first!, second!].map((caller) => attestation.selectorsOf(caller.connections[0]!));
    await until(() => gate.waiting === 2, "both attestations are at the gate");
    gate.open();

    assert.deepEqual(await Promise.all(calls), [
      [{ type: "id", value: `pid:${first!.pid}` }],
      [{ type: "id", value: `pid:${second!.pid}` }],
    ]);
    assert.equal(id.calls, 2);
    attestation.close();
  });

  it("attests a process once per set of credentials it connected with, so a dropped privilege stays dropped", async () => {
    const caller = await sockets.start(1, { dropPrivileges: true });
    const [asRoot, asNobody] = caller.connections;
    assert.deepEqual([asRoot!.credentials.uid, asNobody!.credentials.uid], [0, 65534]);
    const cred = new RecordingAttestor("cred", credentialSelectors("cred"));
    const { attestation } = attestationFixture([cred]);

    const [root, nobody] = await Promise.all([
      attestation.selectorsOf(asRoot!),
      attestation.selectorsOf(asNobody!),
    ]);
    assert.deepEqual(root, [
      { type: "cred", value: "gid:0" },
      { type: "cred", value: "uid:0" },
    ]);
    assert.deepEqual(nobody, [
      { type: "cred", value: "gid:65534" },
      { type: "cred", value: "uid:65534" },
    ]);
    // Each result is cached under its own credentials.
    assert.deepEqual(await attestation.selectorsOf(asNobody!), nobody);
    assert.equal(cred.calls, 2);
    attestation.close();
  });

  it("serves a cached result while the process lives and for less than the TTL, then attests again", async () => {
    const caller = await sockets.start(2);
    const [one, two] = caller.connections;
    const cred = new RecordingAttestor("cred", credentialSelectors("cred"));
    const { attestation, clock } = attestationFixture([cred]);

    const first = await attestation.selectorsOf(one!);
    assert.equal(
      await attestation.selectorsOf(two!),
      first,
      "another connection of the process hits the cache",
    );
    clock.advance(TTL - 1);
    assert.equal(await attestation.selectorsOf(one!), first);
    assert.equal(cred.calls, 1);
    clock.advance(1);
    assert.deepEqual(await attestation.selectorsOf(one!), first);
    assert.equal(cred.calls, 2);
    attestation.close();
  });

  it("with cacheTtlMs 0 attests every call, and still shares concurrent ones", async () => {
    const caller = await sockets.start();
    const [connection] = caller.connections;
    const cred = new RecordingAttestor("cred", credentialSelectors("cred"));
    const { attestation } = attestationFixture([cred], { cacheTtlMs: 0 });
    const before = openPidfdCount();

    await Promise.all([attestation.selectorsOf(connection!), attestation.selectorsOf(connection!)]);
    assert.equal(cred.calls, 1);
    await attestation.selectorsOf(connection!);
    assert.equal(cred.calls, 2);
    assert.equal(attestation.stats.cached, 0);
    assert.equal(openPidfdCount(), before, "no pidfd is kept");
    attestation.close();
  });

  it("drops a cached result, and gives back its pidfd, once its process has exited", async () => {
    const caller = await sockets.start();
    const cred = new RecordingAttestor("cred", credentialSelectors("cred"));
    const { attestation, clock } = attestationFixture([cred], { cacheTtlMs: 60_000 });
    const before = openPidfdCount();

    await attestation.selectorsOf(caller.connections[0]!);
    assert.equal(attestation.stats.cached, 1);
    assert.equal(openPidfdCount(), before + 1, "the cache pins the process with a pidfd of its own");
    await sockets.end(caller);
    clock.advance(60_000);

    assert.equal(attestation.stats.cached, 0);
    assert.equal(openPidfdCount(), before);
    attestation.close();
  });

  it("keeps at most cacheMaxEntries results, dropping the least recently served", async () => {
    const [a, b, c] = await sockets.startMany(3, 1);
    const id = new RecordingAttestor("id", processId("id"));
    const { attestation } = attestationFixture([id], { cacheMaxEntries: 2 });
    const call = (caller: typeof a): Promise<unknown> => attestation.selectorsOf(caller!.connections[0]!);

    await call(a);
    await call(b);
    await call(a);
    assert.equal(id.calls, 2);
    await call(c);
    assert.equal(attestation.stats.cached, 2);
    await call(a);
    assert.equal(id.calls, 3, "a was served recently and kept");
    await call(b);
    assert.equal(id.calls, 4, "b was evicted and attested again");
    attestation.close();
  });

  it("refuses a caller that exited before its call with CALLER_GONE (PermissionDenied), running no attestor", async () => {
    const caller = await sockets.start();
    const cred = new RecordingAttestor("cred", credentialSelectors("cred"));
    const { attestation } = attestationFixture([cred]);
    await sockets.end(caller);

    await assert.rejects(attestation.selectorsOf(caller.connections[0]!), (err) => {
      attestationError("CALLER_GONE", new RegExp(`process ${caller.pid}`))(err);
      assert.equal(toGrpcError(err).code, GrpcStatus.PERMISSION_DENIED);
      return true;
    });
    assert.equal(cred.calls, 0);
    attestation.close();
  });

  it("refuses a caller that exits while it is attested, though every attestor answered", async () => {
    const caller = await sockets.start();
    const { attestation, gate } = gatedFixture("cred", credentialSelectors("cred"));

    const call = attestation.selectorsOf(caller.connections[0]!);
    await until(() => gate.waiting === 1, "the attestation is at the gate");
    await sockets.end(caller);
    gate.open();

    await assert.rejects(call, attestationError("CALLER_GONE"));
    assert.equal(attestation.stats.cached, 0);
    attestation.close();
  });

  it("turns an attestor's PEER_GONE into CALLER_GONE", async () => {
    const caller = await sockets.start();
    const sawExit = new RecordingAttestor("unix", () =>
      Promise.reject(new PeerCredError("PEER_GONE", "reading /proc/1/status: the caller has exited")),
    );
    const { attestation } = attestationFixture([
      sawExit,
      new RecordingAttestor("cred", credentialSelectors("cred")),
    ]);

    await assert.rejects(attestation.selectorsOf(caller.connections[0]!), (err) => {
      attestationError("CALLER_GONE")(err);
      assert.ok((err as Error).cause instanceof PeerCredError);
      return true;
    });
    attestation.close();
  });

  it("answers ATTESTOR_TIMEOUT (Unavailable) naming the slow attestor and its deadline, at the deadline and not before, and warns", async () => {
    const caller = await sockets.start();
    const slow = new RecordingAttestor("slow", neverAnswers());
    const cred = new RecordingAttestor("cred", credentialSelectors("cred"));
    const { attestation, clock, logs } = attestationFixture([cred, slow]);

    let settled = false;
    const call = attestation.selectorsOf(caller.connections[0]!).finally(() => (settled = true));
    await until(() => slow.calls === 1, "the slow attestor runs");
    clock.advance(DEADLINE - 1);
    await turn();
    assert.equal(settled, false);
    clock.advance(1);

    await assert.rejects(call, (err) => {
      attestationError(
        "ATTESTOR_TIMEOUT",
        new RegExp(
          `process ${caller.pid}\\): workload attestor "slow" did not answer within ${DEADLINE} ms$`,
        ),
      )(err);
      const status = toGrpcError(err);
      assert.equal(status.code, GrpcStatus.UNAVAILABLE);
      assert.match(status.details, /^ATTESTOR_TIMEOUT: .*"slow"/);
      return true;
    });
    const warning = logs().find((line) => line.level === 40);
    assert.deepEqual(
      { pid: warning?.pid, attestor: warning?.attestor, timeoutMs: warning?.timeoutMs },
      { pid: caller.pid, attestor: "slow", timeoutMs: DEADLINE },
    );
    assert.deepEqual(attestation.stats, { running: 0, queued: 0, cached: 0 });
    attestation.close();
  });

  it("settles at once when one attestor fails, telling the others to stop, and names it without its internals", async () => {
    const caller = await sockets.start();
    const gate = new Gate();
    const waiting = new RecordingAttestor("waiting", gate.answer(credentialSelectors("waiting")));
    const broken = new RecordingAttestor("broken", () =>
      Promise.reject(new Error("EIO at /var/lib/secret-path")),
    );
    const { attestation, logs } = attestationFixture([waiting, broken]);
    gate.shut();

    await assert.rejects(attestation.selectorsOf(caller.connections[0]!), (err) => {
      attestationError("ATTESTOR_FAILED", /workload attestor "broken" failed/)(err);
      assert.doesNotMatch((err as Error).message, /secret-path/);
      assert.equal(toGrpcError(err).code, GrpcStatus.UNAVAILABLE);
      return true;
    });
    assert.equal(waiting.seen[0]?.options.signal.aborted, true);
    assert.equal(gate.waiting, 0);
    const warning = logs().find((line) => line.level === 40);
    assert.equal(warning?.attestor, "broken");
    assert.match(String(warning?.err), /EIO/);
    attestation.close();
  });

  it("fails an attestor that vouches for another attestor's selector type", async () => {
    const caller = await sockets.start();
    const forger = new RecordingAttestor("cgroup", answers([{ type: "unix", value: "uid:0" }]));
    const { attestation } = attestationFixture([forger]);

    await assert.rejects(
      attestation.selectorsOf(caller.connections[0]!),
      attestationError("ATTESTOR_FAILED", /"cgroup" answered a selector of type "unix"/),
    );
    attestation.close();
  });

  it("lets a caller whose deadline passes while queued leave at once; its attestation never runs", async () => {
    const [busy, late] = await sockets.startMany(2, 1);
    const { attestation, gate, attestor: id } = gatedFixture("id", processId("id"), { maxConcurrent: 1 });

    const first = attestation.selectorsOf(busy!.connections[0]!);
    const deadline = new AbortController();
    const queued = attestation.selectorsOf(late!.connections[0]!, { signal: deadline.signal });
    await until(() => gate.waiting === 1, "the first attestation runs");
    assert.deepEqual(attestation.stats, { running: 1, queued: 1, cached: 0 });
    deadline.abort(new DOMException("no answer within 100 ms", "TimeoutError"));

    await assert.rejects(
      queued,
      (err) => err instanceof OperationAbortedError && err.code === "DEADLINE_EXCEEDED",
    );
    assert.equal(attestation.stats.queued, 0);
    gate.open();
    await first;
    assert.deepEqual(
      id.seen.map((s) => s.caller.process.pid),
      [busy!.pid],
    );
    attestation.close();
  });

  it("calls off an attestation every caller has left: its attestors are told to stop and its slot is free at once", async () => {
    const [leaving, next] = await sockets.startMany(2, 1);
    const { attestation, gate, attestor: id } = gatedFixture("id", processId("id"), { maxConcurrent: 1 });

    const cancel = new AbortController();
    const call = attestation.selectorsOf(leaving!.connections[0]!, { signal: cancel.signal });
    await until(() => gate.waiting === 1, "the attestation runs");
    cancel.abort();
    await assert.rejects(call, (err) => err instanceof OperationAbortedError && err.code === "CANCELLED");
    assert.equal(id.seen[0]?.options.signal.aborted, true);

    gate.open();
    await until(() => attestation.stats.running === 0, "the slot is free");
    assert.deepEqual(await attestation.selectorsOf(next!.connections[0]!), [
      { type: "id", value: `pid:${next!.pid}` },
    ]);
    assert.equal(attestation.stats.cached, 1, "the abandoned attestation's result was not kept");
    attestation.close();
  });

  it("goes on for the callers still waiting when one of them leaves", async () => {
    const caller = await sockets.start(2);
    const { attestation, gate, attestor: id } = gatedFixture("id", processId("id"));

    const cancel = new AbortController();
    const leaving = attestation.selectorsOf(caller.connections[0]!, { signal: cancel.signal });
    const staying = attestation.selectorsOf(caller.connections[1]!);
    await until(() => gate.waiting === 1, "the attestation runs");
    cancel.abort();
    await assert.rejects(leaving, OperationAbortedError);
    assert.equal(id.seen[0]?.options.signal.aborted, false);
    gate.open();

    assert.deepEqual(await staying, [{ type: "id", value: `pid:${caller.pid}` }]);
    attestation.close();
  });

  it("on close refuses the waiting and later callers with CLOSED (Unavailable) and gives back every pidfd", async () => {
    const [cachedCaller, waitingCaller] = await sockets.startMany(2, 1);
    const before = openPidfdCount();
    const gate = new Gate();
    const id = new RecordingAttestor("id", gate.answer(processId("id")));
    const { attestation } = attestationFixture([id]);

    await attestation.selectorsOf(cachedCaller!.connections[0]!);
    gate.shut();
    const waiting = attestation.selectorsOf(waitingCaller!.connections[0]!);
    await until(() => gate.waiting === 1, "the attestation runs");
    assert.equal(openPidfdCount(), before + 2);
    attestation.close();

    await assert.rejects(waiting, (err) => {
      attestationError("CLOSED")(err);
      assert.equal(toGrpcError(err).code, GrpcStatus.UNAVAILABLE);
      return true;
    });
    await assert.rejects(attestation.selectorsOf(cachedCaller!.connections[0]!), attestationError("CLOSED"));
    await until(() => openPidfdCount() === before, "every pidfd is closed");
    attestation.close();
  });

  it("logs one debug line per attestation with the PID, duration and selector count, and not the selectors", async () => {
    const caller = await sockets.start();
    const { attestation, logs } = attestationFixture([
      new RecordingAttestor("cred", credentialSelectors("cred")),
    ]);

    await attestation.selectorsOf(caller.connections[0]!);
    await attestation.selectorsOf(caller.connections[0]!);

    const attested = logs().filter((line) => line.msg === "attested a Workload API caller");
    assert.equal(attested.length, 1);
    assert.deepEqual(
      {
        level: attested[0]?.level,
        pid: attested[0]?.pid,
        durationMs: attested[0]?.durationMs,
        count: attested[0]?.selectorCount,
      },
      { level: 20, pid: caller.pid, durationMs: 0, count: 2 },
    );
    assert.doesNotMatch(JSON.stringify(logs()), /uid:0/);
    attestation.close();
  });

  it("refuses a configuration it cannot carry out, naming what is wrong", () => {
    const cred = new RecordingAttestor("cred", credentialSelectors("cred"));
    assert.throws(() => attestationFixture([cred, cred]), /two workload attestors are named "cred"/);
    assert.throws(
      () => attestationFixture([cred], { attestorTimeoutMs: 0 }),
      /attestorTimeoutMs must be .* >= 1, not 0/,
    );
    assert.throws(() => attestationFixture([cred], { cacheTtlMs: -1 }), /cacheTtlMs must be .* >= 0, not -1/);
    assert.throws(
      () => attestationFixture([cred], { maxConcurrent: 0 }),
      /concurrency limit must be .* >= 1, not 0/,
    );
    assert.throws(
      () => attestationFixture([cred], { cacheMaxEntries: 0 }),
      /cache size must be .* >= 1, not 0/,
    );
  });
});
