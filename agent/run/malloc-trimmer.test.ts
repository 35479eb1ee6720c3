import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { ManualClock, systemClock } from "../../common/clock.js";
import { createLogger } from "../../common/logging/logger.js";
import { glibcMallocTrim, MallocTrimmer, type MajorGcSource, type TrimMalloc } from "./malloc-trimmer.js";

setFlagsFromString("--expose-gc");
const collectGarbage = runInNewContext("gc") as () => void;

const MiB = 2 ** 20;
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** A major GC source the test fires by hand. */
function handGcs(): { source: MajorGcSource; fire(): void; closed: () => boolean } {
  let listener: (() => void) | undefined;
  let closed = false;
  return {
    source: (l) => {
      listener = l;
      return { close: () => void (closed = true) };
    },
    fire: () => listener?.(),
    closed: () => closed,
  };
}

/** 60 MiB of malloc'd buffers of which a tenth is kept: freed, the rest are holes free() cannot give back. */
function fragmentMalloc(): Buffer[] {
  return Array.from({ length: 20_000 }, () => Buffer.allocUnsafeSlow(3000)).filter((_, i) => i % 10 === 0);
}

function logged(): { logger: ReturnType<typeof createLogger>; lines: string[] } {
  const lines: string[] = [];
  const logger = createLogger({
    name: "trim-test",
    level: "debug",
    destination: { write: (l) => void lines.push(l) },
  });
  return { logger, lines };
}

describe("MallocTrimmer", () => {
  it("trims a second after a major GC, then at most once in 10 s however many GCs come", async () => {
    const clock = new ManualClock();
    const gcs = handGcs();
    let trims = 0;
    const trim: TrimMalloc = () => {
      trims++;
      return Promise.resolve();
    };
    const trimmer = new MallocTrimmer({ clock, logger: logged().logger, trim, majorGcs: gcs.source });
    clock.advance(120_000);
    assert.equal(trims, 0, "nothing before a GC");
    gcs.fire();
    clock.advance(999);
    assert.equal(trims, 0);
    clock.advance(1);
    assert.equal(trims, 1, "1 s after the GC");
    await turn();
    gcs.fire();
    gcs.fire();
    clock.advance(9_999);
    assert.equal(trims, 1, "not within 10 s of the last trim");
    clock.advance(1);
    assert.equal(trims, 2, "one trim for both GCs, 10 s after the last");
    await turn();
    clock.advance(600_000);
    assert.equal(trims, 2, "no GC, no trim");
    trimmer.close();
    assert.ok(gcs.closed());
  });

  it("stops for good when a trim fails, saying so, and trims nothing after close()", async () => {
    const clock = new ManualClock();
    const gcs = handGcs();
    let trims = 0;
    const { logger, lines } = logged();
    const failing = new MallocTrimmer({
      clock,
      logger,
      trim: () => {
        trims++;
        return Promise.reject(new Error("no malloc_trim here"));
      },
      majorGcs: gcs.source,
    });
    gcs.fire();
    clock.advance(1_000);
    await turn();
    assert.ok(
      lines.some((l) => l.includes("cannot return free malloc memory") && l.includes("no malloc_trim here")),
    );
    assert.ok(gcs.closed());
    gcs.fire();
    clock.advance(3_600_000);
    assert.equal(trims, 1);
    failing.close();

    const closing = handGcs();
    const closed = new MallocTrimmer({
      clock,
      logger,
      trim: () => Promise.resolve(void trims++),
      majorGcs: closing.source,
    });
    closing.fire();
    closed.close();
    clock.advance(3_600_000);
    assert.equal(trims, 1, "the trim scheduled before close() never ran");
  });

  it("gives back malloc memory that freed ArrayBuffers left between live ones, after a real major GC", async () => {
    const trim = await glibcMallocTrim();
    assert.ok(trim !== undefined, "this test machine runs glibc");
    const kept = fragmentMalloc();
    const { logger, lines } = logged();
    const trimmer = new MallocTrimmer({ clock: systemClock, logger, trim, settleMs: 100 });
    try {
      collectGarbage();
      await new Promise((resolve) => setTimeout(resolve, 50));
      collectGarbage();
      const before = process.memoryUsage.rss();
      for (let i = 0; i < 500 && !lines.some((l) => l.includes("returned free malloc memory")); i++)
        await new Promise((resolve) => setTimeout(resolve, 20));
      const after = process.memoryUsage.rss();
      assert.ok(
        before - after > 20 * MiB,
        `RSS went from ${(before / MiB).toFixed(1)} to ${(after / MiB).toFixed(1)} MiB`,
      );
      assert.equal(kept.length, 2000);
    } finally {
      trimmer.close();
    }
  });
});
