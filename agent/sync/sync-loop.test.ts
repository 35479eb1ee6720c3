import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { ManualClock } from "../../common/clock.js";
import { createLogger } from "../../common/logging/logger.js";
import { SeededRandom } from "../../common/random.js";
import { TrustDomain } from "../../common/spiffe/index.js";
import type { Entry, SyncResponse } from "../../proto/gen/node.js";
import type { SyncMessage } from "../node/convert.js";
import { entryMessage } from "../node/testdata/entry-message.js";
import type { NodeConnection } from "../node/node-connection.js";
import { SyncLoop } from "./sync-loop.js";

const td = TrustDomain.parse("example.org");

const entry = (id: string, spiffeId = `spiffe://example.org/w/${id}`): Entry =>
  entryMessage(id, { spiffeId });

/**
 * The stream handling of the loop, on a stand-in for the connection (the loop against the real node
 * API is test/agent/sync-loop.test.ts): what it does with a message it cannot apply, which a real
 * server does not send.
 */
/** A stand-in connection whose every Sync call opens a stream the test writes to (and ends). */
function scriptedConnection(): { connection: NodeConnection; streams: PassThrough[] } {
  const streams: PassThrough[] = [];
  const connection = {
    identity: undefined,
    prove: () => Promise.resolve(),
    client: {
      sync: () => {
        const stream = new PassThrough({ objectMode: true });
        Object.assign(stream, { cancel: () => stream.destroy(new Error("cancelled")) });
        streams.push(stream);
        return stream;
      },
    },
  } as unknown as NodeConnection;
  return { connection, streams };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe("SyncLoop's handling of one stream", () => {
  it("ends the stream at a message it cannot apply, applies nothing after it, and records why", async () => {
    const { connection, streams } = scriptedConnection();
    const applied: SyncMessage[] = [];
    const loop = new SyncLoop({
      connection,
      trustDomain: td,
      apply: (m) => applied.push(m),
      clock: new ManualClock(),
      random: new SeededRandom(1),
      logger: createLogger({ name: "sync-loop-unit", level: "silent" }),
      syncIntervalMs: 3_600_000,
    });
    const abort = new AbortController();
    const running = loop.run(abort.signal);
    await tick();
    const stream = streams[0] as PassThrough;
    const message = (revision: number, entries: Entry[]): SyncResponse => ({
      revision,
      full: revision === 1,
      entries,
      deletedEntryIds: [],
      bundle: undefined,
    });
    stream.write(message(1, [entry("a")]));
    stream.write(message(2, [entry("b", "spiffe://elsewhere.org/b")]));
    stream.write(message(3, [entry("c")]));
    await tick();
    assert.deepEqual(
      applied.map((m) => m.revision),
      [1],
      "neither the bad message nor the one after it",
    );
    assert.equal(loop.health().revision, 1);
    assert.equal(loop.health().lastError?.code, "NODE_MESSAGE_INVALID");
    assert.match(loop.health().lastError?.message ?? "", /elsewhere\.org\/b is in another trust domain/);
    assert.equal(stream.destroyed, true, "the stream was cancelled");
    abort.abort();
    assert.deepEqual(await running, { kind: "stopped" });
  });
});

describe("SyncLoop's reconnects, as its metrics count them", () => {
  it("counts each attempt to reopen a lost stream, and not a planned restart (rotation, full resync)", async () => {
    const { connection, streams } = scriptedConnection();
    const clock = new ManualClock();
    let reconnects = 0;
    const loop = new SyncLoop({
      connection,
      trustDomain: td,
      apply: () => undefined,
      clock,
      random: new SeededRandom(1),
      logger: createLogger({ name: "sync-loop-unit", level: "silent" }),
      syncIntervalMs: 3_600_000,
      metrics: { reconnecting: () => reconnects++ },
    });
    const abort = new AbortController();
    const running = loop.run(abort.signal);
    await tick();
    const full = { revision: 1, full: true, entries: [], deletedEntryIds: [], bundle: undefined };
    (streams[0] as PassThrough).write(full);
    await tick();
    loop.restart();
    await tick();
    assert.equal(streams.length, 2, "a restart opens a new stream at once");
    assert.equal(reconnects, 0, "a planned restart is not a reconnect");

    (streams[1] as PassThrough).destroy(new Error("the server went away"));
    await tick();
    assert.equal(reconnects, 1);
    clock.advance(60_000);
    await tick();
    assert.equal(streams.length, 3, "reopened after the backoff");
    (streams[2] as PassThrough).destroy(new Error("still away"));
    await tick();
    assert.equal(reconnects, 2, "each attempt counts");
    abort.abort();
    assert.deepEqual(await running, { kind: "stopped" });
  });
});
