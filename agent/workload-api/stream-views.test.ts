import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { SpiffeBundle } from "../../common/spiffe/bundle.js";
import { TrustDomain } from "../../common/spiffe/spiffe-id.js";
import { X509BundlesResponse, X509SVIDResponse } from "../../proto/gen/workload.js";
import type { CachedEntry, X509SvidWithKey } from "../cache/index.js";
import { testEntry } from "../cache/testdata/test-svid-server.js";
import { acceptingEncoded, EncodedMessage } from "./encoded-message.js";
import { x509BundlesView, x509SvidView, type ViewOutcome } from "./stream-views.js";
import { WireEncodings } from "./wire-encodings.js";
import { SpiffeWorkloadAPIService } from "../../proto/gen/workload.js";

// Stand-ins for what the views read: the DER is opaque bytes to them.
const svid = (serial: string): X509SvidWithKey =>
  ({
    certChain: [Buffer.from(`leaf-${serial}`), Buffer.from("intermediate")],
    pkcs8PrivateKey: Buffer.from(`key-${serial}`),
    serial,
    expiresAtMs: 0,
    renewAtMs: 0,
  }) as unknown as X509SvidWithKey;
const bundle = (root: string): SpiffeBundle =>
  ({
    trustDomain: TrustDomain.parse("example.org"),
    x509Authorities: [Buffer.from(root)],
  }) as unknown as SpiffeBundle;

function sent<T>(outcome: ViewOutcome<T>): EncodedMessage<T> {
  assert.equal(outcome.kind, "send");
  return outcome.message();
}

describe("stream views: each message encoded once, shared by every stream that sends it", () => {
  it("gives every caller of the same identities the same bytes, which decode to the full message", () => {
    const encodings = new WireEncodings();
    const view = x509SvidView(encodings);
    const a: CachedEntry = { entry: testEntry("a", { hint: "db" }), svid: svid("1") };
    const first = sent(view([a], bundle("root")));
    // Another stream, another snapshot's bundle object with the same roots: the same message.
    const second = sent(view([a], bundle("root")));
    assert.equal(second, first);
    assert.deepEqual(X509SVIDResponse.decode(first.bytes), {
      svids: [
        {
          spiffeId: "spiffe://example.org/workload/a",
          x509Svid: Buffer.from("leaf-1intermediate"),
          x509SvidKey: Buffer.from("key-1"),
          bundle: Buffer.from("root"),
          hint: "db",
        },
      ],
      crl: [],
      federatedBundles: {},
    });
  });

  it("encodes anew when anything in the message changed: the SVID, the bundle, another entry", () => {
    const encodings = new WireEncodings();
    const view = x509SvidView(encodings);
    const svid1 = svid("1");
    const a: CachedEntry = { entry: testEntry("a"), svid: svid1 };
    const b: CachedEntry = { entry: testEntry("b"), svid: svid("2") };
    const base = sent(view([a], bundle("root")));
    const rotated = sent(view([{ ...a, svid: svid("3") }], bundle("root")));
    const newRoots = sent(view([a], bundle("root-2")));
    const more = sent(view([a, b], bundle("root-2")));
    assert.equal(new Set([base, rotated, newRoots, more]).size, 4);
    assert.deepEqual(
      X509SVIDResponse.decode(more.bytes).svids.map((s) => s.spiffeId),
      ["spiffe://example.org/workload/a", "spiffe://example.org/workload/b"],
    );
  });

  it("shares bundle stream messages too, keyed by the trust domain", () => {
    const encodings = new WireEncodings();
    const view = x509BundlesView(encodings);
    const a: CachedEntry = { entry: testEntry("a"), svid: svid("1") };
    const roots = bundle("root");
    const one = sent(view([a], roots));
    assert.equal(sent(view([a], roots)), one);
    assert.deepEqual(X509BundlesResponse.decode(one.bytes), {
      crl: [],
      bundles: { "spiffe://example.org": Buffer.from("root") },
    });
  });

  it("serializes an encoded message as its bytes and any other value with the generated encoder", () => {
    const serialize = acceptingEncoded(SpiffeWorkloadAPIService).fetchX509Bundles.responseSerialize;
    const message = { crl: [], bundles: { "spiffe://example.org": Buffer.from("root") } };
    const bytes = Buffer.from(X509BundlesResponse.encode(message).finish());
    assert.ok(serialize(message).equals(bytes));
    const encoded = new EncodedMessage(bytes);
    assert.equal(serialize(encoded as unknown as X509BundlesResponse), bytes);
  });
});
