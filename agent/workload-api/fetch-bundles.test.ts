import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { status } from "@grpc/grpc-js";
import { createLocalJWKSet, jwtVerify } from "jose";
import type { Selector } from "../../common/selector.js";
import type { SpiffeBundle } from "../../common/spiffe/bundle.js";
import type { JWTBundlesResponse, X509BundlesResponse } from "../../proto/gen/workload.js";
import { turns } from "../cache/testdata/cache-fixture.js";
import { testEntry } from "../cache/testdata/test-svid-server.js";
import { splitCertificates } from "./testdata/svid-checks.js";
import {
  StreamReader,
  asCaller,
  apiFixtures,
  bundleWithAnotherRoot,
  callSucceeds,
  type ApiFixture,
} from "./testdata/workload-api-fixture.js";

const TD = "spiffe://example.org";
const uid = (n: number): Selector => ({ type: "unix", value: `uid:${n}` });

const start = apiFixtures();
/** Entry "a" (unix:uid:1000) holding its SVID; caller "w" matches it, "nobody" nothing. */
const started = (): Promise<ApiFixture> =>
  start({ serving: [testEntry("a")], callers: { w: [uid(1000)], nobody: [uid(4242)] } });

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

    const changed = await bundleWithAnotherRoot(f);
    f.sync([], { bundle: changed });
    const next = await stream.next();
    assert.deepEqual(
      splitCertificates(next.bundles[TD]!).map((c) => c.raw),
      changed.x509Authorities,
    );
    await stream.cancel();
  });

  it("answers a caller no entry matches PERMISSION_DENIED, and ends an open stream when the caller's last entry goes", async () => {
    const f = await started();
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
    const refused = new StreamReader<JWTBundlesResponse>(f.client.fetchJwtBundles({}, asCaller("nobody")));
    const err = await refused.end();
    assert.equal(err?.code, status.PERMISSION_DENIED);
    assert.match(err.details, /no identity issued/);
  });
});
