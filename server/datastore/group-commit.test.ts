import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { GroupCommit } from "./group-commit.js";

/** A writer that records what each call got, and can be held or made to fail. */
class RecordingWriter {
  readonly batches: string[][] = [];
  readonly singles: string[] = [];
  refuse = new Set<string>();
  #release: (() => void) | undefined;
  hold = false;

  writeBatch = async (items: readonly string[]): Promise<void> => {
    this.batches.push([...items]);
    if (this.hold) await new Promise<void>((resolve) => (this.#release = resolve));
    if (items.some((i) => this.refuse.has(i))) throw new Error("the batch's transaction failed");
  };

  writeOne = (item: string): Promise<void> => {
    this.singles.push(item);
    return this.refuse.has(item) ? Promise.reject(new Error(`${item} refused`)) : Promise.resolve();
  };

  release(): void {
    this.hold = false;
    this.#release?.();
  }
}

const commitsOf = (w: RecordingWriter, maxBatch?: number) =>
  new GroupCommit<string>({
    writeBatch: w.writeBatch,
    writeOne: w.writeOne,
    ...(maxBatch === undefined ? {} : { maxBatch }),
  });

describe("GroupCommit", () => {
  it("writes the records of one turn of the event loop in one batch, and settles each", async () => {
    const w = new RecordingWriter();
    const commits = commitsOf(w);
    await Promise.all(["a", "b", "c"].map((x) => commits.write(x)));
    assert.deepEqual(w.batches, [["a", "b", "c"]]);
    assert.deepEqual(w.singles, []);
  });

  it("writes a lone record on its own", async () => {
    const w = new RecordingWriter();
    await commitsOf(w).write("a");
    assert.deepEqual(w.batches, []);
    assert.deepEqual(w.singles, ["a"]);
  });

  it("gathers what arrives while a batch commits into the next batch", async () => {
    const w = new RecordingWriter();
    const commits = commitsOf(w);
    w.hold = true;
    const first = [commits.write("a"), commits.write("b")];
    await new Promise((resolve) => setImmediate(resolve));
    const second = [commits.write("c"), commits.write("d"), commits.write("e")];
    w.release();
    await Promise.all([...first, ...second]);
    assert.deepEqual(w.batches, [
      ["a", "b"],
      ["c", "d", "e"],
    ]);
  });

  it("when a batch fails, writes each record alone: only the bad one is refused", async () => {
    const w = new RecordingWriter();
    w.refuse.add("b");
    const commits = commitsOf(w);
    const results = await Promise.allSettled(["a", "b", "c"].map((x) => commits.write(x)));
    assert.deepEqual(
      results.map((r) => r.status),
      ["fulfilled", "rejected", "fulfilled"],
    );
    const refused = results[1];
    assert.match(refused?.status === "rejected" ? String(refused.reason) : "", /b refused/);
    assert.deepEqual(w.singles, ["a", "b", "c"]);
  });

  it("splits at maxBatch", async () => {
    const w = new RecordingWriter();
    const commits = commitsOf(w, 2);
    await Promise.all(["a", "b", "c", "d", "e"].map((x) => commits.write(x)));
    assert.deepEqual(w.batches, [
      ["a", "b"],
      ["c", "d"],
    ]);
    assert.deepEqual(w.singles, ["e"]);
  });
});
