import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { WatcherIndex, type Watcher } from "./watcher-index.js";

function watcher(name: string, ...keys: string[]): Watcher & { name: string } {
  return { name, caller: new Set(keys), refresh: () => undefined, fail: () => undefined };
}

const names = (watchers: Watcher[]): string[] =>
  watchers.map((w) => (w as Watcher & { name: string }).name).sort();

describe("WatcherIndex", () => {
  it("routes an entry change only to streams whose caller holds every selector of the entry, before or after", () => {
    const index = new WatcherIndex();
    index.add(watcher("app", "unix:uid:1000", "unix:path:/srv/app"));
    index.add(watcher("other", "unix:uid:1000", "unix:path:/srv/other"));
    index.add(watcher("root", "unix:uid:0"));

    const change = (before?: string[], after?: string[]): Watcher[] =>
      index.affectedBy({
        bundleChanged: false,
        wantsGrew: false,
        entries: [{ id: "e", ...(before ? { before } : {}), ...(after ? { after } : {}) }],
      });
    assert.deepEqual(names(change(undefined, ["unix:uid:1000"])), ["app", "other"]);
    assert.deepEqual(names(change(["unix:uid:1000", "unix:path:/srv/app"])), ["app"]);
    assert.deepEqual(names(change(["unix:uid:0"], ["unix:uid:1000", "unix:path:/srv/other"])), [
      "other",
      "root",
    ]);
    assert.deepEqual(names(change(undefined, ["unix:uid:4242"])), []);
  });

  it("routes a bundle change to every stream, and forgets a stream that ended", () => {
    const index = new WatcherIndex();
    const app = watcher("app", "unix:uid:1000");
    index.add(app);
    index.add(watcher("root", "unix:uid:0"));
    assert.deepEqual(names(index.affectedBy({ bundleChanged: true, wantsGrew: false, entries: [] })), [
      "app",
      "root",
    ]);
    index.delete(app);
    assert.equal(index.size, 1);
    assert.deepEqual(
      names(
        index.affectedBy({
          bundleChanged: false,
          wantsGrew: false,
          entries: [{ id: "e", after: ["unix:uid:1000"] }],
        }),
      ),
      [],
    );
  });
});
