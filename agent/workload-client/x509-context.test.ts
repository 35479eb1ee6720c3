import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import { fixtureTempRoot, trackTempDir } from "../../test/fixtures/processes.js";
import type { X509SVIDResponse } from "../../proto/gen/workload.js";
import { WorkloadApiClientError } from "./errors.js";
import { issueSvid, makeTestPki, type TestPki, type TestSvid } from "./testdata/test-pki.js";
import { parseX509SvidResponse } from "./x509-context.js";

describe("parseX509SvidResponse: what a FetchX509SVID message must hold", () => {
  let pki: TestPki;
  let web: TestSvid;
  let db: TestSvid;
  let remove: () => void;
  before(async () => {
    const dir = mkdtempSync(join(fixtureTempRoot(), "hallmark-x509ctx-"));
    remove = trackTempDir(dir);
    pki = await makeTestPki(dir);
    web = await issueSvid(pki, "spiffe://example.org/web", 0x2001);
    db = await issueSvid(pki, "spiffe://example.org/db", 0x2002, "root");
  });
  after(() => remove());

  const message = (
    svid: TestSvid,
    changes: Partial<X509SVIDResponse["svids"][number]> = {},
  ): X509SVIDResponse => ({
    svids: [
      {
        spiffeId: svid.spiffeId,
        x509Svid: Buffer.concat(svid.chain),
        x509SvidKey: svid.keyPkcs8,
        bundle: pki.root.der,
        hint: "",
        ...changes,
      },
    ],
    crl: [],
    federatedBundles: {},
  });

  const refused = (response: X509SVIDResponse, reason: RegExp): void =>
    assert.throws(
      () => parseX509SvidResponse(response),
      (err: unknown) =>
        err instanceof WorkloadApiClientError &&
        err.code === "MALFORMED_RESPONSE" &&
        reason.test(err.message),
    );

  it("reads every SVID: ID, hint, chain leaf first, the key of the leaf, the bundle; federated bundles sorted", () => {
    const response = message(web, { hint: "internal" });
    response.svids.push(...message(db).svids);
    response.federatedBundles = {
      "spiffe://zeta.org": pki.root.der,
      "spiffe://alpha.org": pki.intermediate.der,
    };
    const context = parseX509SvidResponse(response);
    assert.deepEqual(
      context.svids.map((s) => [s.spiffeId.toString(), s.hint, s.chain.length, s.chain[0]?.serialNumber]),
      [
        ["spiffe://example.org/web", "internal", 2, "2001"],
        ["spiffe://example.org/db", "", 1, "2002"],
      ],
    );
    assert.ok(context.svids.every((s) => s.chain[0]?.checkPrivateKey(s.privateKey)));
    assert.ok(context.svids[0]?.chain[1]?.raw.equals(pki.intermediate.der));
    assert.ok(context.svids[0]?.bundle[0]?.raw.equals(pki.root.der));
    assert.deepEqual([...context.federatedBundles.keys()], ["spiffe://alpha.org", "spiffe://zeta.org"]);
  });

  it("refuses a message without SVIDs", () => {
    refused({ svids: [], crl: [], federatedBundles: {} }, /holds no X.509-SVID/);
  });

  it("refuses a key that is not the leaf's", () => {
    refused(
      message(web, { x509SvidKey: db.keyPkcs8 }),
      /SVID #0 \("spiffe:\/\/example.org\/web"\): the key does not belong/,
    );
  });

  it("refuses a key that is not PKCS#8 DER", () => {
    refused(
      message(web, { x509SvidKey: Buffer.from("not a key") }),
      /not an unencrypted DER PKCS#8 private key/,
    );
  });

  it("refuses an SVID listed under another SPIFFE ID than its certificate carries", () => {
    refused(
      message(web, { spiffeId: "spiffe://example.org/db" }),
      /its certificate says spiffe:\/\/example.org\/web/,
    );
  });

  it("refuses a leaf that is not an X509-SVID: the CA certificate of the trust domain", () => {
    refused(
      message(web, { x509Svid: pki.intermediate.der, spiffeId: "spiffe://example.org/ca" }),
      /SVID #0 .*a leaf SVID's ID must have a path/,
    );
  });

  it("refuses a chain or bundle that is not a run of DER certificates, or is empty", () => {
    refused(
      message(web, { x509Svid: Buffer.concat([web.chain[0] as Buffer, Buffer.from([0x30, 0x05, 1])]) }),
      /chain is not a run of DER certificates/,
    );
    refused(message(web, { bundle: Buffer.alloc(0) }), /bundle is empty/);
    refused(message(web, { x509Svid: Buffer.alloc(0) }), /chain is empty/);
  });

  it("refuses a federated bundle keyed by something that is not a trust domain ID", () => {
    const response = message(web);
    response.federatedBundles = { "spiffe://other.org/path": pki.root.der };
    refused(
      response,
      /federated bundle for "spiffe:\/\/other.org\/path" is keyed by something that is not a trust domain ID/,
    );
  });
});
