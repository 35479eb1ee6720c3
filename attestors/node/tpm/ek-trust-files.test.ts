import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { derToPem } from "../../../common/spiffe/bundle.js";
import { fixtureTempRoot, trackTempDir } from "../../../test/fixtures/processes.js";
import { basicConstraints, cn, keyUsage, makeCert, newKey } from "../../../test/tpm/ek-certs.js";
import { EkTrustError } from "../../../native/tpm/index.js";
import { loadEkTrust } from "./ek-trust-files.js";

describe("loadEkTrust: TPM manufacturer CAs from files and directories", () => {
  const validity = { notBefore: new Date("2020-01-01"), notAfter: new Date("2050-01-01") };
  const caExtensions = [basicConstraints(true), keyUsage(["keyCertSign"])];
  const rootKey = newKey();
  const root = makeCert({ subject: cn("Root"), key: rootKey, ...validity, extensions: caExtensions });
  const intermediate = makeCert({
    subject: cn("Intermediate"),
    key: newKey(),
    issuer: { subject: cn("Root"), key: rootKey },
    ...validity,
    extensions: caExtensions,
  });
  let dir = "";
  before(async () => {
    dir = await mkdtemp(join(fixtureTempRoot(), "hallmark-ek-cas-"));
    trackTempDir(dir);
    await mkdir(join(dir, "cas"));
    await writeFile(join(dir, "cas", "b-intermediate.CRT"), derToPem(intermediate, "CERTIFICATE"));
    await writeFile(join(dir, "cas", "a-root.pem"), derToPem(root, "CERTIFICATE"));
    await writeFile(join(dir, "cas", "notes.txt"), "not read");
    await writeFile(
      join(dir, "bundle.pem"),
      derToPem(root, "CERTIFICATE") + derToPem(intermediate, "CERTIFICATE"),
    );
    await writeFile(
      join(dir, "garbage.pem"),
      "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    );
  });

  it("reads the certificate files of a directory, and a bundle file", async () => {
    for (const paths of [[join(dir, "cas")], [join(dir, "bundle.pem")]]) {
      const trust = await loadEkTrust(paths);
      assert.deepEqual(
        trust.roots.map((c) => c.der),
        [root],
      );
      assert.deepEqual(
        trust.intermediates.map((c) => c.der),
        [intermediate],
      );
    }
  });

  it("names a path it cannot read, and a file that holds no certificate", async () => {
    await assert.rejects(loadEkTrust([join(dir, "missing")]), (err: unknown) => {
      assert.ok(err instanceof EkTrustError);
      assert.equal(err.code, "EK_TRUST_UNREADABLE");
      assert.match(err.message, /missing: ENOENT/);
      return true;
    });
    await assert.rejects(loadEkTrust([join(dir, "garbage.pem")]), (err: unknown) => {
      assert.ok(err instanceof EkTrustError);
      assert.equal(err.code, "EK_TRUST_CERTIFICATE_INVALID");
      assert.match(err.message, /garbage\.pem/);
      return true;
    });
  });

  it("refuses a configuration with no root", async () => {
    await writeFile(join(dir, "intermediate-only.pem"), derToPem(intermediate, "CERTIFICATE"));
    await assert.rejects(loadEkTrust([join(dir, "intermediate-only.pem")]), { code: "EK_TRUST_NO_ROOT" });
    await assert.rejects(loadEkTrust([]), { code: "EK_TRUST_NO_ROOT" });
  });
});
