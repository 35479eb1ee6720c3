import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { runOk } from "../../../test/fixtures/processes.js";
import { SeededRandom } from "../../../common/random.js";
import { TpmVerificationError } from "./errors.js";
import { kdfa, kdfe } from "./kdf.js";
import { TPM_ALG } from "../constants.js";

const HASHES = {
  sha1: TPM_ALG.SHA1,
  sha256: TPM_ALG.SHA256,
  sha384: TPM_ALG.SHA384,
  sha512: TPM_ALG.SHA512,
} as const;
type HashName = keyof typeof HASHES;

// The TPM reference implementation's own KDFa self-test (KdfTestData.h, as shipped in libtpms):
// a 20-byte key, the label "KDFSELFTESTLABEL", two 8-byte contexts and 160 output bits.
const SELF_TEST = {
  key: Buffer.from("271FA08BBDC5060EC3DFA928FF9B73123A12DA0C", "hex"),
  label: "KDFSELFTESTLABEL",
  contextU: Buffer.from("CE244F395DCA7391", "hex"),
  contextV: Buffer.from("DA504031DDF12E83", "hex"),
  out: {
    sha1: "55b5a7184aa07423c47dae766c26a2377d7cf851",
    sha256: "bb0259e1c8ba607e6a2cd704b69a902e9ade84c4",
    sha384: "1dce70c9113eb2dba47bd9cfc72bf46f45b09312",
    sha512: "8be2c1b85b78569b9fa759f5857c56d684810fd3",
  } satisfies Record<HashName, string>,
};

async function opensslKdf(kind: "KBKDF" | "SSKDF", bytes: number, opts: string[]): Promise<Buffer> {
  const args = ["kdf", "-keylen", String(bytes)];
  for (const o of opts) args.push("-kdfopt", o);
  args.push(kind);
  const { stdout } = await runOk("openssl", args);
  // Without -binary OpenSSL prints colon-separated hex, which survives the text pipe intact.
  return Buffer.from(stdout.replace(/[^0-9a-fA-F]/g, ""), "hex");
}

describe("kdfa", () => {
  for (const [hash, expected] of Object.entries(SELF_TEST.out) as [HashName, string][]) {
    it(`matches the TPM reference self-test vector for ${hash}`, () => {
      const out = kdfa(
        HASHES[hash],
        SELF_TEST.key,
        SELF_TEST.label,
        SELF_TEST.contextU,
        SELF_TEST.contextV,
        160,
      );
      assert.equal(out.toString("hex"), expected);
    });
  }

  it("treats a label with or without its NUL terminator alike", () => {
    const a = kdfa(TPM_ALG.SHA256, SELF_TEST.key, "STORAGE", Buffer.alloc(0), Buffer.alloc(0), 128);
    const b = kdfa(
      TPM_ALG.SHA256,
      SELF_TEST.key,
      Buffer.from("STORAGE\0"),
      Buffer.alloc(0),
      Buffer.alloc(0),
      128,
    );
    assert.deepEqual(a, b);
  });

  it("clears the excess high bits of the first octet for a bit count that is not whole bytes", () => {
    const full = kdfa(TPM_ALG.SHA256, SELF_TEST.key, "X", Buffer.alloc(0), Buffer.alloc(0), 16);
    const odd = kdfa(TPM_ALG.SHA256, SELF_TEST.key, "X", Buffer.alloc(0), Buffer.alloc(0), 13);
    assert.equal(odd.length, 2);
    assert.equal((odd[0] ?? 0) & 0xe0, 0);
    // The bit count is part of the PRF input, so the 13-bit stream is not a prefix of the 16-bit one.
    assert.notDeepEqual(odd, full);
  });

  it("agrees with OpenSSL's SP 800-108 KBKDF over many blocks and hashes", async () => {
    const rnd = new SeededRandom(0x6b646661);
    for (const hash of ["sha1", "sha256", "sha384", "sha512"] as const) {
      const key = rnd.bytes(32);
      const contextU = rnd.bytes(20);
      const contextV = rnd.bytes(11);
      const bytes = 97; // several PRF blocks and a partial one for every hash
      const ours = kdfa(HASHES[hash], key, "INTEGRITY", contextU, contextV, bytes * 8);
      const theirs = await opensslKdf("KBKDF", bytes, [
        "mac:HMAC",
        `digest:${hash.toUpperCase()}`,
        `hexkey:${key.toString("hex")}`,
        "salt:INTEGRITY",
        `hexinfo:${Buffer.concat([contextU, contextV]).toString("hex")}`,
      ]);
      assert.deepEqual(ours, theirs, hash);
    }
  });

  it("refuses a zero or fractional bit count with KDF_LENGTH_INVALID", () => {
    const kdfLengthInvalid = (err: unknown): boolean =>
      err instanceof TpmVerificationError && err.code === "KDF_LENGTH_INVALID";
    for (const bits of [0, 1.5, 0xffff * 8 + 1]) {
      assert.throws(
        () => kdfa(TPM_ALG.SHA256, SELF_TEST.key, "X", Buffer.alloc(0), Buffer.alloc(0), bits),
        kdfLengthInvalid,
      );
      assert.throws(
        () => kdfe(TPM_ALG.SHA256, SELF_TEST.key, "X", Buffer.alloc(0), Buffer.alloc(0), bits),
        kdfLengthInvalid,
      );
    }
  });
});

describe("kdfe", () => {
  it("agrees with OpenSSL's SP 800-56C single-step KDF (Z || label || 0 || U || V)", async () => {
    const rnd = new SeededRandom(0x6b646665);
    for (const hash of ["sha1", "sha256", "sha384", "sha512"] as const) {
      const z = rnd.bytes(48);
      const partyU = rnd.bytes(48);
      const partyV = rnd.bytes(48);
      const bytes = 83;
      const ours = kdfe(HASHES[hash], z, "IDENTITY", partyU, partyV, bytes * 8);
      const otherInfo = Buffer.concat([Buffer.from("IDENTITY\0"), partyU, partyV]);
      const theirs = await opensslKdf("SSKDF", bytes, [
        `digest:${hash.toUpperCase()}`,
        `hexkey:${z.toString("hex")}`,
        `hexinfo:${otherInfo.toString("hex")}`,
      ]);
      assert.deepEqual(ours, theirs, hash);
    }
  });

  it("gives a known answer for a fixed input", () => {
    // H(00000001 || Z || "IDENTITY\0" || U || V) with Z = 32 x 0x01, U = 32 x 0x02, V = 32 x 0x03,
    // computed independently with `openssl kdf ... SSKDF`.
    const out = kdfe(
      TPM_ALG.SHA256,
      Buffer.alloc(32, 1),
      "IDENTITY",
      Buffer.alloc(32, 2),
      Buffer.alloc(32, 3),
      256,
    );
    assert.equal(out.toString("hex"), KDFE_KAT);
  });
});

const KDFE_KAT = "2073a3306eedcfb178183d8a721f949bba9c3d4501b6c2839487bbdd3b973070";
