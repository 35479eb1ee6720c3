import { afterEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { status } from "@grpc/grpc-js";
import { createLocalJWKSet, jwtVerify } from "jose";
import type { Selector } from "../../common/selector.js";
import type { SpiffeBundle } from "../../common/spiffe/bundle.js";
import type { JWTBundlesResponse, X509BundlesResponse } from "../../proto/gen/workload.js";
import { allServed, eventually, turns } from "../cache/testdata/cache-fixture.js";
import { TestSvidServer, testEntry } from "../cache/testdata/test-svid-server.js";
import { splitCertificates } from "./testdata/svid-checks.js";
import {
  StreamReader,
  asCaller,
  callSucceeds,
  startApi,
  type ApiFixture,
} from "./testdata/workload-api-fixture.js";

const TD = "spiffe://example.org";
const uid = (n: number): Selector => ({ type: "unix", value: `uid:${n}` });

let fx: ApiFixture | undefined;
afterEach(async () => {
  await fx?.close();
  fx = undefined;
});

/** An API with entry "a" (unix:uid:1000) served and caller "w" matching it. */
async function started(): Promise<ApiFixture> {
  fx = await startApi();
  fx.sync([testEntry("a")]);
  await eventually("one SVID", () => allServed(fx!.f.cache.snapshot, 1));
  fx.callers.set("w", [uid(1000)]);
  return fx;
}

/** The bundle with one more JWT authority (a fresh key) and the next sequence number. */
function withExtraJwtKey(bundle: SpiffeBundle, keyId: string): SpiffeBundle {
  const { publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  return {
    ...bundle,
    sequence: bundle.sequence + 1,
    jwtAuthorities: [...bundle.jwtAuthorities, { keyId, publicKey }],
  };
}

describe("FetchX509Bundles", () => {
  it("sends the trust domain's X.509 authorities as concatenated DER keyed by spiffe://<td>, again when they change", async () => {
    const f = await started();
    const stream = new StreamReader<X509BundlesResponse>(f.client.fetchX509Bundles({}, asCaller("w")));
    const first = await stream.next();
    assert.deepEqual(Object.keys(first.bundles), [TD]);
    const bundle = f.f.server.ca.bundle;
    assert.deepEqual(
      splitCertificates(first.bundles[TD]!).map((c) => c.raw),
      bundle.x509Authorities,
    );
    assert.deepEqual(first.crl, []);

    f.sync([], { bundle: withExtraJwtKey(bundle, "jwt-only") });
    await turns(5);
    assert.equal(stream.messages.length, 1, "a JWT key changes nothing X.509");

    const other = await TestSvidServer.start(f.f.clock);
    try {
      const changed = {
        ...bundle,
        sequence: bundle.sequence + 2,
        x509Authorities: [...bundle.x509Authorities, ...other.ca.bundle.x509Authorities],
      };
      f.sync([], { bundle: changed });
      const next = await stream.next();
      assert.deepEqual(
        splitCertificates(next.bundles[TD]!).map((c) => c.raw),
        changed.x509Authorities,
      );
    } finally {
      await other.stop();
    }
    await stream.cancel();
  });

  it("answers a caller no entry matches PERMISSION_DENIED, and ends an open stream when the caller's last entry goes", async () => {
    const f = await started();
    f.callers.set("nobody", [uid(4242)]);
    const refused = new StreamReader<X509BundlesResponse>(f.client.fetchX509Bundles({}, asCaller("nobody")));
    assert.equal((await refused.end())?.code, status.PERMISSION_DENIED);

    const stream = new StreamReader<X509BundlesResponse>(f.client.fetchX509Bundles({}, asCaller("w")));
    await stream.next();
    f.sync([], { deletedEntryIds: ["a"] });
    assert.equal((await stream.end())?.code, status.PERMISSION_DENIED);
  });
});

describe("FetchJWTBundles", () => {
  it("sends a JWK Set of only the JWT authorities keyed by spiffe://<td>, which verifies the agent's JWT-SVIDs", async () => {
    const f = await started();
    const stream = new StreamReader<JWTBundlesResponse>(f.client.fetchJwtBundles({}, asCaller("w")));
    const first = await stream.next();
    assert.deepEqual(Object.keys(first.bundles), [TD]);
    const jwks = JSON.parse(first.bundles[TD]!.toString()) as { keys: Record<string, unknown>[] };
    const bundle = f.f.server.ca.bundle;
    assert.deepEqual(
      jwks.keys.map((k) => k.kid),
      bundle.jwtAuthorities.map((a) => a.keyId),
    );
    for (const key of jwks.keys) {
      assert.equal(key.x5c, undefined, "no X.509 authority");
      assert.equal(key.d, undefined, "no private part");
    }

    const { svids } = await callSucceeds<{ svids: { svid: string }[] }>((cb) =>
      f.client.fetchJwtsvid({ audience: ["svc"], spiffeId: "" }, asCaller("w"), cb),
    );
    const { payload } = await jwtVerify(svids[0]!.svid, createLocalJWKSet(jwks as never), {
      audience: "svc",
      currentDate: f.f.clock.now(),
    });
    assert.equal(payload.sub, "spiffe://example.org/workload/a");

    const rotated = withExtraJwtKey(bundle, "next-key");
    f.sync([], { bundle: rotated });
    const next = await stream.next();
    const nextKeys = (JSON.parse(next.bundles[TD]!.toString()) as { keys: { kid: string }[] }).keys;
    assert.deepEqual(
      nextKeys.map((k) => k.kid),
      rotated.jwtAuthorities.map((a) => a.keyId),
    );
    await stream.cancel();
  });

  it("answers a caller no entry matches PERMISSION_DENIED", async () => {
    const f = await started();
    f.callers.set("nobody", [uid(4242)]);
    const refused = new StreamReader<JWTBundlesResponse>(f.client.fetchJwtBundles({}, asCaller("nobody")));
    const err = await refused.end();
    assert.equal(err?.code, status.PERMISSION_DENIED);
    assert.match(err.details, /no identity issued/);
  });
});
