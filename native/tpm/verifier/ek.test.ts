import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHash, generateKeyPairSync, randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startSwtpm, type SwtpmFixture } from "../../../test/fixtures/swtpm.js";
import { cryptoRandom } from "../../../common/random.js";
import { opensslCert } from "../../../common/spiffe/testdata/openssl.js";
import {
  marshalTpmtPublic,
  tpmObjectName,
  unmarshalTpm2bPublic,
  type TpmtPublic,
} from "../structures/public.js";
import { encodeToolsCredentialFile } from "./credential-file.js";
import { checkEkCertificateMatches, ekCertificatePublicKey, ekHash, ekPublicFromSpki, ekSpki } from "./ek.js";
import { TpmVerificationError } from "./errors.js";
import { makeCredential } from "./make-credential.js";
import { Tpm2Tools } from "../../../test/tpm/verifier-testing/tpm2-tools.js";

describe("EK identity against the swtpm EK certificates and openssl", () => {
  let tpm: SwtpmFixture;
  let tools: Tpm2Tools;
  const eks: Record<"rsa" | "ecc", { pub: TpmtPublic; cert: Buffer; name: string }> = {} as never;

  before(async () => {
    tpm = await startSwtpm();
    tools = await Tpm2Tools.open(tpm);
    for (const kind of ["rsa", "ecc"] as const) {
      const handle = `0x${tpm.ekHandles[kind].toString(16)}`;
      const { stdout } = await tools.ok("tpm2_readpublic", ["-c", handle, "-o", `ek-${kind}.pub`]);
      await tools.ok("tpm2_nvread", [`0x${tpm.ekCertIndexes[kind].toString(16)}`, "-o", `ek-${kind}.der`]);
      eks[kind] = {
        pub: unmarshalTpm2bPublic(await tools.read(`ek-${kind}.pub`)),
        cert: await tools.read(`ek-${kind}.der`),
        name: /^name: ([0-9a-f]+)$/m.exec(stdout)?.[1] ?? "",
      };
    }
  });
  after(() => tpm?.stop());

  for (const kind of ["rsa", "ecc"] as const) {
    it(`ekHash of the ${kind} EK equals openssl's SHA-256 of the certificate's SubjectPublicKeyInfo`, async () => {
      const { stdout } = await tools.ok("sh", [
        "-c",
        `openssl x509 -inform der -in ek-${kind}.der -pubkey -noout | openssl pkey -pubin -outform der | sha256sum`,
      ]);
      const expected = stdout.split(" ")[0];
      assert.match(expected ?? "", /^[0-9a-f]{64}$/);
      assert.equal(ekHash(eks[kind].pub), expected);
    });

    it(`the ${kind} EK certificate matches the EK the TPM presents`, () => {
      assert.doesNotThrow(() => checkEkCertificateMatches(eks[kind].cert, eks[kind].pub));
    });

    it(`the EK public rebuilt from the ${kind} certificate has the TPM's Name and SPKI`, () => {
      const rebuilt = ekPublicFromSpki(ekCertificatePublicKey(eks[kind].cert));
      assert.equal(tpmObjectName(rebuilt).toString("hex"), eks[kind].name);
      assert.deepEqual(ekSpki(rebuilt), ekSpki(eks[kind].pub));
      assert.deepEqual(ekPublicFromSpki(ekSpki(eks[kind].pub)), rebuilt);
    });
  }

  it("refuses an EK certificate for the other EK", () => {
    assert.throws(
      () => checkEkCertificateMatches(eks.rsa.cert, eks.ecc.pub),
      (err: unknown) => err instanceof TpmVerificationError && err.code === "EK_CERTIFICATE_KEY_MISMATCH",
    );
    assert.throws(
      () => checkEkCertificateMatches(eks.ecc.cert, eks.rsa.pub),
      (err: unknown) => err instanceof TpmVerificationError && err.code === "EK_CERTIFICATE_KEY_MISMATCH",
    );
  });

  it("refuses an EK whose modulus or point differs from the certificate's by one bit", () => {
    const rsa = eks.rsa.pub;
    if (rsa.type !== "rsa") return assert.fail("expected an RSA EK");
    const n = Buffer.from(rsa.unique);
    n[100]! ^= 1;
    assert.throws(
      () => checkEkCertificateMatches(eks.rsa.cert, { ...rsa, unique: n }),
      (err: unknown) => err instanceof TpmVerificationError && err.code === "EK_CERTIFICATE_KEY_MISMATCH",
    );
    const ecc = eks.ecc.pub;
    if (ecc.type !== "ecc") return assert.fail("expected an ECC EK");
    const x = Buffer.from(ecc.unique.x);
    x[0]! ^= 0x80;
    assert.throws(
      () => checkEkCertificateMatches(eks.ecc.cert, { ...ecc, unique: { x, y: ecc.unique.y } }),
      (err: unknown) => err instanceof TpmVerificationError && err.code === "EK_CERTIFICATE_KEY_MISMATCH",
    );
  });

  it("refuses garbage as a certificate", () => {
    assert.throws(
      () => checkEkCertificateMatches(randomBytes(100), eks.rsa.pub),
      (err: unknown) => err instanceof TpmVerificationError && err.code === "EK_CERTIFICATE_INVALID",
    );
  });

  it("a credential made for the EK rebuilt from its certificate is activated by the TPM", async () => {
    await tools.createEk("ek-t", "rsa");
    await tools.createAk("ak", "ek-t.ctx");
    const akPublic = marshalTpmtPublic(unmarshalTpm2bPublic(await tools.read("ak.pub")));
    const ekFromCert = marshalTpmtPublic(ekPublicFromSpki(ekCertificatePublicKey(eks.ecc.cert)));
    const credential = randomBytes(32);
    const challenge = makeCredential({
      ekPublic: ekFromCert,
      akPublic,
      credential,
      random: cryptoRandom,
    });
    await tools.write("cred.bin", encodeToolsCredentialFile(challenge));
    const result = await tools.activate("cred.bin", "ak.ctx", `0x${tpm.ekHandles.ecc.toString(16)}`, false);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(await tools.read("activated.bin"), credential);
  });

  it("ekHash is the SHA-256 of ekSpki, in lowercase hex", () => {
    assert.equal(ekHash(eks.ecc.pub), createHash("sha256").update(ekSpki(eks.ecc.pub)).digest("hex"));
  });
});

describe("EK keys and certificates on curves node:crypto cannot export", () => {
  const isUnsupported = (err: unknown): boolean =>
    err instanceof TpmVerificationError && err.code === "EK_KEY_UNSUPPORTED";
  // brainpool and P-224 have no JWK form in node:crypto; secp256k1 and P-192 do but are no EK curve.
  const curves = ["brainpoolP256r1", "brainpoolP384r1", "secp224r1", "secp256k1", "prime192v1"];

  for (const namedCurve of curves) {
    it(`ekPublicFromSpki refuses a ${namedCurve} key with EK_KEY_UNSUPPORTED`, () => {
      const { publicKey } = generateKeyPairSync("ec", { namedCurve });
      assert.throws(() => ekPublicFromSpki(publicKey), isUnsupported);
      assert.throws(() => ekPublicFromSpki(publicKey.export({ type: "spki", format: "der" })), isUnsupported);
    });
  }

  it("ekPublicFromSpki refuses an Ed25519 key and an RSA-1024 key", () => {
    assert.throws(() => ekPublicFromSpki(generateKeyPairSync("ed25519").publicKey), isUnsupported);
    const rsa1024 = generateKeyPairSync("rsa", { modulusLength: 1024 }).publicKey;
    assert.throws(() => ekPublicFromSpki(rsa1024), isUnsupported);
  });

  it("a brainpoolP256r1 / secp224r1 EK certificate is refused with typed errors, never a crash", async () => {
    const dir = await mkdtemp(join(tmpdir(), "hallmark-ek-curve-"));
    try {
      const ecEk = ekPublicFromSpki(generateKeyPairSync("ec", { namedCurve: "prime256v1" }).publicKey);
      for (const curve of ["brainpoolP256r1", "secp224r1"]) {
        const { certPath } = await opensslCert(dir, curve, [], "/CN=ek", curve);
        const cert = await readFile(certPath, "utf8");
        assert.throws(() => ekPublicFromSpki(ekCertificatePublicKey(cert)), isUnsupported, curve);
        assert.throws(
          () => checkEkCertificateMatches(cert, ecEk),
          (err: unknown) => err instanceof TpmVerificationError && err.code === "EK_CERTIFICATE_KEY_MISMATCH",
          curve,
        );
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
