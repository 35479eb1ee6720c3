import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { status } from "@grpc/grpc-js";
import type { Selector } from "../../common/selector.js";
import type { X509SVIDResponse } from "../../proto/gen/workload.js";
import { allServed, eventually, turns } from "../cache/testdata/cache-fixture.js";
import { testEntry } from "../cache/testdata/test-svid-server.js";
import { WorkloadAttestationError } from "../workload-attestation/workload-attestation-error.js";
import { checkX509Svid, leafSerial, splitCertificates } from "./testdata/svid-checks.js";
import type { WorkloadApi } from "./workload-api.js";
import {
  StreamReader,
  apiFixtures,
  asCaller,
  bundleWithAnotherRoot,
  type ApiFixture,
} from "./testdata/workload-api-fixture.js";

const HOUR = 3_600_000;
const uid = (n: number): Selector => ({ type: "unix", value: `uid:${n}` });
const path = (p: string): Selector => ({ type: "unix", value: `path:${p}` });
const id = (name: string): string => `spiffe://example.org/workload/${name}`;

const start = apiFixtures();
/** Entry "a" (unix:uid:1000) holding its SVID, and caller "w" (unix:uid:1000). */
const servingA = (): Promise<ApiFixture> => start({ serving: [testEntry("a")], callers: { w: [uid(1000)] } });

function watch(f: ApiFixture, caller: string): StreamReader<X509SVIDResponse> {
  return new StreamReader(f.client.fetchX509Svid({}, asCaller(caller)));
}

const idsOf = (message: X509SVIDResponse): string[] => message.svids.map((s) => s.spiffeId);

describe("FetchX509SVID", () => {
  it("sends at once every SVID of every entry whose selectors the caller all holds, each one usable", async () => {
    const f = await start({
      serving: [
        testEntry("a", { selectors: [uid(1000)] }),
        testEntry("b", { selectors: [uid(1000), path("/srv/app")], hint: "internal" }),
        testEntry("c", { selectors: [uid(1000), path("/srv/other")] }),
        testEntry("d", { selectors: [uid(2000)] }),
      ],
      callers: { app: [uid(1000), path("/srv/app"), { type: "unix", value: "gid:1000" }] },
    });

    const stream = watch(f, "app");
    const message = await stream.next();
    assert.deepEqual(idsOf(message), [id("a"), id("b")], "entry-id order: a is the default identity");
    assert.deepEqual(
      message.svids.map((s) => s.hint),
      ["", "internal"],
    );
    checkX509Svid(message.svids[0]!, id("a"), f.f.clock.nowMs());
    checkX509Svid(message.svids[1]!, id("b"), f.f.clock.nowMs());
    const bundle = f.f.server.ca.bundle;
    assert.deepEqual(
      splitCertificates(message.svids[0]!.bundle).map((c) => c.raw),
      bundle.x509Authorities,
    );
    assert.deepEqual(message.federatedBundles, {});
    assert.deepEqual(message.crl, []);
    assert.deepEqual(f.attested, ["app"]);
    await stream.cancel();
  });

  it("answers a caller no entry matches PERMISSION_DENIED (a superset of the caller's selectors is not a match)", async () => {
    const f = await start({
      serving: [testEntry("b", { selectors: [uid(1000), path("/srv/app")] })],
      callers: { "uid-only": [uid(1000)] },
    });
    const stream = watch(f, "uid-only");
    const err = await stream.end();
    assert.equal(err?.code, status.PERMISSION_DENIED);
    assert.match(err.details, /no identity issued/);
    assert.equal(stream.messages.length, 0);
  });

  it("sends one SVID per hint: of entries sharing a hint, the first by entry id", async () => {
    const f = await start({
      serving: [
        testEntry("e1", { hint: "internal" }),
        testEntry("e2", { hint: "internal" }),
        testEntry("e3", { hint: "external" }),
        testEntry("e4"),
        testEntry("e5"),
      ],
      callers: { w: [uid(1000)] },
    });
    const stream = watch(f, "w");
    const message = await stream.next();
    assert.deepEqual(idsOf(message), [id("e1"), id("e3"), id("e4"), id("e5")]);
    assert.deepEqual(
      message.svids.map((s) => s.hint),
      ["internal", "external", "", ""],
    );
    await stream.cancel();
  });

  it("sends a new message when the caller's SVID rotates, attesting the caller only once", async () => {
    const f = await servingA();
    const stream = watch(f, "w");
    const first = await stream.next();
    f.f.clock.advance(HOUR / 2);
    const rotated = await stream.next();
    assert.notEqual(leafSerial(rotated.svids[0]!), leafSerial(first.svids[0]!));
    assert.notDeepEqual(rotated.svids[0]!.x509SvidKey, first.svids[0]!.x509SvidKey, "a fresh key");
    checkX509Svid(rotated.svids[0]!, id("a"), f.f.clock.nowMs());
    assert.deepEqual(f.attested, ["w"]);
    await stream.cancel();
  });

  it("sends a new message when a matching entry is added or deleted, and none for an entry of another caller", async () => {
    const f = await servingA();
    const stream = watch(f, "w");
    assert.deepEqual(idsOf(await stream.next()), [id("a")]);

    f.sync([testEntry("other", { selectors: [uid(2000)] })]);
    await eventually("the other entry's SVID", () => allServed(f.f.cache.snapshot, 2));
    await turns(5);
    assert.equal(stream.messages.length, 1, "an entry the caller does not match changes nothing for it");

    f.sync([testEntry("b")]);
    assert.deepEqual(idsOf(await stream.next()), [id("a"), id("b")], "sent once b's SVID arrived");

    f.sync([], { deletedEntryIds: ["a"] });
    assert.deepEqual(idsOf(await stream.next()), [id("b")]);

    f.sync([], { deletedEntryIds: ["b"] });
    const err = await stream.end();
    assert.equal(err?.code, status.PERMISSION_DENIED, "the last entry went: no identity");
    assert.equal(stream.messages.length, 3);
    assert.equal(f.api.openStreams, 0);
  });

  it("attests an open stream's caller again when an entry starts to use a selector kind no entry used, and sends what now matches", async () => {
    const holder: { api?: WorkloadApi } = {};
    const attestations: string[] = [];
    // An attestation that, like the real ones, looks for a path only when some entry uses one.
    const f = await start({
      serving: [testEntry("a")],
      selectorsOf: () => () => {
        const withPath = holder.api!.wants("unix", "path");
        attestations.push(withPath ? "with path" : "without path");
        return Promise.resolve(withPath ? [uid(1000), path("/srv/app")] : [uid(1000)]);
      },
    });
    holder.api = f.api;
    const stream = watch(f, "w");
    assert.deepEqual(idsOf(await stream.next()), [id("a")]);

    f.sync([testEntry("b", { selectors: [uid(1000), path("/srv/app")] })]);
    assert.deepEqual(idsOf(await stream.next()), [id("a"), id("b")]);
    assert.deepEqual(attestations, ["without path", "with path"]);

    // An entry whose selector kinds are all in use already attests nobody again.
    f.sync([testEntry("c", { selectors: [uid(1000), path("/srv/other")] })]);
    await eventually("c's SVID", () => allServed(f.f.cache.snapshot, 3));
    await turns(5);
    assert.equal(attestations.length, 2);
    assert.equal(stream.messages.length, 2);
    await stream.cancel();
  });

  it("ends an open stream with the status of a new attestation that failed", async () => {
    let calls = 0;
    const f = await start({
      serving: [testEntry("a")],
      selectorsOf: () => () => {
        calls++;
        if (calls === 1) return Promise.resolve([uid(1000)]);
        return Promise.reject(new WorkloadAttestationError("ATTESTOR_TIMEOUT", "the unix attestor is slow"));
      },
    });
    const stream = watch(f, "w");
    await stream.next();
    f.sync([testEntry("b", { selectors: [uid(1000), path("/srv/app")] })]);
    const err = await stream.end();
    assert.equal(err?.code, status.UNAVAILABLE);
    assert.match(err?.details ?? "", /the unix attestor is slow/);
    assert.equal(f.api.openStreams, 0);
  });

  it("sends a new message when the bundle's X.509 authorities change, none for a bundle that says the same", async () => {
    const f = await servingA();
    const stream = watch(f, "w");
    const first = await stream.next();
    const bundle = f.f.server.ca.bundle;

    f.sync([], { bundle: { ...bundle, sequence: bundle.sequence } });
    await turns(5);
    assert.equal(stream.messages.length, 1, "the same bundle again is no change");

    const rotated = await bundleWithAnotherRoot(f);
    f.sync([], { bundle: rotated });
    const next = await stream.next();
    assert.deepEqual(next.svids[0]!.x509Svid, first.svids[0]!.x509Svid, "same SVID");
    assert.deepEqual(
      splitCertificates(next.svids[0]!.bundle).map((c) => c.raw),
      rotated.x509Authorities,
    );
    await stream.cancel();
  });

  it("waits for a matching entry's SVID still on its way rather than send an empty or partial first message", async () => {
    const f = await start({ callers: { w: [uid(1000)] } });
    f.f.server.holding = true;
    f.sync([testEntry("a"), testEntry("b")]);
    await eventually("the batch is at the server", () => f.f.server.heldCalls === 1);
    const stream = watch(f, "w");
    await eventually("attested", () => f.attested.length === 1);
    await turns(5);
    assert.equal(stream.messages.length, 0);
    f.f.server.release();
    assert.deepEqual(idsOf(await stream.next()), [id("a"), id("b")], "one message with both");
    await stream.cancel();
  });

  it("sends what it has once the wait is over, when an entry's SVID does not come", async () => {
    const f = await start({ firstMessageWaitMs: 1000, callers: { w: [uid(1000)] } });
    f.f.server.refuse.add("b");
    f.sync([testEntry("a"), testEntry("b")]);
    await eventually("a's SVID", () => f.f.cache.snapshot.entries.get("a")?.svid !== undefined);
    const stream = watch(f, "w");
    await eventually("attested", () => f.attested.length === 1);
    await turns(5);
    assert.equal(stream.messages.length, 0, "waiting for b");
    f.f.clock.advance(1000);
    assert.deepEqual(idsOf(await stream.next()), [id("a")]);
    await stream.cancel();
  });

  it("stays open without a message while no SVID of the caller's has arrived, and sends the first that does", async () => {
    const f = await start({ firstMessageWaitMs: 10, callers: { w: [uid(1000)] } });
    f.f.server.unreachable = true;
    f.sync([testEntry("a")]);
    const stream = watch(f, "w");
    await eventually("attested", () => f.attested.length === 1);
    f.f.clock.advance(10);
    await turns(5);
    assert.equal(stream.messages.length, 0);
    assert.equal(stream.ended, false);
    f.f.server.unreachable = false;
    f.sync([testEntry("a", { revision: 2 })]);
    assert.deepEqual(idsOf(await stream.next()), [id("a")]);
    await stream.cancel();
  });

  it("forgets a stream the client cancelled", async () => {
    const f = await servingA();
    const stream = watch(f, "w");
    await stream.next();
    assert.equal(f.api.openStreams, 1);
    await stream.cancel();
    await eventually("the stream is forgotten", () => f.api.openStreams === 0);
  });
});
