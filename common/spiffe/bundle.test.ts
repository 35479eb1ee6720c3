import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { trackTempDir } from "../../test/fixtures/processes.js";
import { opensslCert } from "./testdata/openssl.js";
import {
  jwtAuthoritiesAsJwks,
  parseBundle,
  serializeBundle,
  bundleToPem,
  type SpiffeBundle,
} from "./bundle.js";
import { TrustDomain } from "./spiffe-id.js";

const td = TrustDomain.parse("example.org");
let certDer: Buffer;

function sampleBundle(): SpiffeBundle {
  const der = certDer;
  const { publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  return {
    trustDomain: td,
    sequence: 7,
    refreshHintSeconds: 300,
    x509Authorities: [der],
    jwtAuthorities: [{ keyId: "k1", publicKey }],
  };
}

describe("SPIFFE bundle codec", () => {
  before(async () => {
    const dir = await mkdtemp(join(tmpdir(), "hallmark-bundle-"));
    trackTempDir(dir);
    certDer = (
      await opensslCert(dir, "root", ["basicConstraints=critical,CA:TRUE", "keyUsage=critical,keyCertSign"])
    ).der;
  });

  it("round-trips a bundle through the JWKS document", () => {
    const bundle = sampleBundle();
    const doc = JSON.parse(serializeBundle(bundle)) as {
      keys: Record<string, unknown>[];
      spiffe_sequence: number;
      spiffe_refresh_hint: number;
    };
    assert.equal(doc.spiffe_sequence, 7);
    assert.equal(doc.spiffe_refresh_hint, 300);
    const [x509, jwt] = doc.keys;
    assert.equal(x509?.use, "x509-svid");
    assert.equal(x509?.kid, undefined, "x509-svid keys carry no kid");
    assert.equal((x509?.x5c as string[]).length, 1);
    assert.equal(jwt?.use, "jwt-svid");
    assert.equal(jwt?.kid, "k1");
    const back = parseBundle(td, serializeBundle(bundle));
    assert.equal(back.sequence, 7);
    assert.equal(back.refreshHintSeconds, 300);
    assert.deepEqual(back.x509Authorities, bundle.x509Authorities);
    assert.ok(back.jwtAuthorities[0]?.publicKey.equals(bundle.jwtAuthorities[0]!.publicKey));
    assert.match(bundleToPem(back), /^-----BEGIN CERTIFICATE-----\n/);
    assert.deepEqual(
      jwtAuthoritiesAsJwks(back).keys.map((k) => (k as { kid?: string }).kid),
      ["k1"],
    );
  });

  it("skips keys with another use, as the spec asks", () => {
    const doc = JSON.parse(serializeBundle(sampleBundle())) as { keys: Record<string, unknown>[] };
    doc.keys.push({ use: "enc", kty: "oct", k: "AAAA" });
    assert.equal(parseBundle(td, JSON.stringify(doc)).jwtAuthorities.length, 1);
  });

  const cases: [
    string,
    (doc: { keys: Record<string, unknown>[]; spiffe_sequence?: unknown }) => void,
    RegExp,
  ][] = [
    [
      "an x509-svid key with two certificates",
      (d) => (d.keys[0]!.x5c = [d.keys[0]!.x5c, d.keys[0]!.x5c].flat()),
      /exactly one certificate/,
    ],
    [
      "an x509-svid key whose parameters do not match its certificate",
      (d) => Object.assign(d.keys[0]!, { x: d.keys[1]!.x, y: d.keys[1]!.y }),
      /do not match/,
    ],
    ["a jwt-svid key without kid", (d) => delete d.keys[1]!.kid, /has no kid/],
    ["a key with private material", (d) => (d.keys[1]!.d = "AAAA"), /private key material/],
    ["a negative sequence", (d) => (d.spiffe_sequence = -1), /spiffe_sequence/],
  ];
  for (const [name, mutate, reason] of cases) {
    it(`refuses ${name}`, () => {
      const doc = JSON.parse(serializeBundle(sampleBundle())) as { keys: Record<string, unknown>[] };
      mutate(doc);
      assert.throws(() => parseBundle(td, JSON.stringify(doc)), { code: "INVALID_BUNDLE", message: reason });
    });
  }

  it("refuses text that is not a JWKS", () => {
    assert.throws(() => parseBundle(td, "nope"), { code: "INVALID_BUNDLE", message: /not JSON/ });
    assert.throws(() => parseBundle(td, "{}"), { code: "INVALID_BUNDLE", message: /no "keys" array/ });
  });
});
