import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { constants, generateKeyPairSync, verify } from "node:crypto";
import { chmod, writeFile } from "node:fs/promises";
import { join } from "node:path";
import pkcs11js from "pkcs11js";
import { createSoftHsm, type SoftHsmFixture } from "../../test/fixtures/softhsm.js";
import { run } from "../../test/fixtures/processes.js";
import { Pkcs11KeyManager, type Pkcs11Config } from "./key-manager.js";
import { Pkcs11Module } from "./module.js";
import { Pkcs11Error } from "./errors.js";
import { ManualClock } from "../../common/clock.js";
import { ecdsaRawToDer } from "../../common/der/ecdsa-signature.js";
import type { KeyType } from "./key-spec.js";
import { childScript } from "./testdata/child-script.js";

const PIN_ENV = "HALLMARK_TEST_PIN";

describe("Pkcs11KeyManager on SoftHSM2", () => {
  let hsm: SoftHsmFixture;
  let module: Pkcs11Module;
  let km: Pkcs11KeyManager;
  let config: Pkcs11Config;
  let emptyToken: { label: string; pin: string };
  let badToken: { label: string; pin: string };
  /** A fresh environment per open: the key manager removes the PIN variable from the one it reads. */
  const env = (): NodeJS.ProcessEnv => ({ [PIN_ENV]: hsm.pin });

  before(async () => {
    hsm = await createSoftHsm({ tokenLabel: "hallmark-km" });
    // SoftHSM scans its token dir at C_Initialize: every token must exist before the module loads.
    emptyToken = await hsm.addToken("hallmark-empty");
    badToken = await hsm.addToken("hallmark-bad");
    module = Pkcs11Module.load(hsm.modulePath);
    config = { module: hsm.modulePath, tokenLabel: hsm.tokenLabel, pin: { env: PIN_ENV } };
    km = await Pkcs11KeyManager.open(config, { module, env: env() });
  });
  after(async () => {
    await km.close();
    module.finalize();
    await hsm.cleanup();
  });

  const message = Buffer.from("hallmark signs this");

  /** What pkcs11-tool, logged in, lists on the token. */
  const listObjects = (type?: string): Promise<string> =>
    hsm.pkcs11Tool([...hsm.loginArgs(), "--list-objects", ...(type === undefined ? [] : ["--type", type])]);

  for (const type of ["ec-p256", "ec-p384", "rsa-2048", "rsa-3072"] as KeyType[]) {
    it(`generates a ${type} key on the token and signs with it`, async () => {
      const key = await km.generateKey({ id: `gen-${type}`, label: `label-${type}`, type });
      assert.equal(key.type, type);
      assert.equal(key.label, `label-${type}`);
      const signature = await km.sign(key, message);
      if (type.startsWith("ec")) {
        const hash = type === "ec-p256" ? "sha256" : "sha384";
        assert.equal(signature.length, type === "ec-p256" ? 64 : 96, "raw r||s");
        assert.ok(verify(hash, message, { key: key.publicKey, dsaEncoding: "ieee-p1363" }, signature));
        assert.ok(verify(hash, message, key.publicKey, ecdsaRawToDer(signature)), "DER form verifies too");
        const flipped = Buffer.from(signature);
        flipped[5] = (flipped[5] ?? 0) ^ 1;
        assert.ok(!verify(hash, message, { key: key.publicKey, dsaEncoding: "ieee-p1363" }, flipped));
      } else {
        assert.ok(verify("sha256", message, key.publicKey, signature), "PKCS#1 v1.5");
        const pss = await km.sign(key, message, "rsa-pss-sha256");
        assert.ok(
          verify(
            "sha256",
            message,
            { key: key.publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 },
            pss,
          ),
          "PSS",
        );
        assert.ok(!verify("sha256", Buffer.from("other"), key.publicKey, signature));
      }
    });
  }

  it("refuses a signature scheme that does not fit the key", async () => {
    const key = await km.getKey("gen-ec-p256");
    await assert.rejects(km.sign(key, message, "rsa-pss-sha256"), { code: "PKCS11_SCHEME_MISMATCH" });
  });

  it("refuses a second key with the same CKA_ID", async () => {
    await assert.rejects(km.generateKey({ id: "gen-ec-p256" }), { code: "PKCS11_KEY_EXISTS" });
  });

  it("pkcs11-tool lists the private keys as sensitive and never extractable, for signing only", async () => {
    const out = await listObjects("privkey");
    const objects = out.split(/(?=Private Key Object)/).filter((o) => o.startsWith("Private Key Object"));
    assert.ok(objects.length >= 4, out);
    for (const object of objects) {
      assert.match(object, /Access:\s+sensitive, always sensitive, never extractable, local/, object);
      assert.match(object, /Usage:\s+sign\s*$/m, object);
    }
  });

  it("the token refuses to reveal CKA_VALUE of a private key", () => {
    const api = module.api;
    const session = api.C_OpenSession(module.findSlot(hsm.tokenLabel), pkcs11js.CKF_SERIAL_SESSION);
    try {
      api.C_FindObjectsInit(session, [
        { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
        { type: pkcs11js.CKA_ID, value: Buffer.from("gen-ec-p256") },
      ]);
      const handle = api.C_FindObjects(session);
      api.C_FindObjectsFinal(session);
      assert.ok(handle, "the key is visible to the logged-in application");
      assert.throws(
        () => api.C_GetAttributeValue(session, handle, [{ type: pkcs11js.CKA_VALUE }]),
        /CKR_ATTRIBUTE_SENSITIVE/,
      );
    } finally {
      api.C_CloseSession(session);
    }
  });

  it("a new module load in another process finds the same key by CKA_ID and signs with it", async () => {
    const key = await km.getKey("gen-ec-p256");
    const child = await run(
      process.execPath,
      [
        ...childScript("sign-in-child"),
        hsm.modulePath,
        hsm.tokenLabel,
        "gen-ec-p256",
        message.toString("hex"),
      ],
      { env: { ...hsm.env, [PIN_ENV]: hsm.pin } },
    );
    assert.equal(child.code, 0, child.stderr);
    const result = JSON.parse(child.stdout) as { type: string; spki: string; signature: string };
    assert.equal(result.type, "ec-p256");
    assert.deepEqual(Buffer.from(result.spki, "base64"), key.spki);
    assert.ok(
      verify(
        "sha256",
        message,
        { key: key.publicKey, dsaEncoding: "ieee-p1363" },
        Buffer.from(result.signature, "base64"),
      ),
    );
  });

  it("an open key manager does not keep its process alive, but a signature in flight does", async () => {
    const child = await run(
      process.execPath,
      [...childScript("exit-child"), hsm.modulePath, hsm.tokenLabel, "gen-ec-p256"],
      {
        env: { ...hsm.env, [PIN_ENV]: hsm.pin },
        // A process kept alive by the key manager is killed: code null.
        timeoutMs: 15_000,
      },
    );
    assert.equal(child.code, 0, child.stderr);
    assert.equal(child.stdout, "signed 64");
  });

  it("close() during an RSA key generation waits for it instead of finalising under it (no crash)", async () => {
    const child = await run(
      process.execPath,
      [...childScript("close-child"), hsm.modulePath, hsm.tokenLabel, "closing-rsa"],
      { env: { ...hsm.env, [PIN_ENV]: hsm.pin }, timeoutMs: 60_000 },
    );
    assert.equal(child.code, 0, `the child must exit normally, not die by a signal: ${child.stderr}`);
    // The generation settles (here: resolves, it was under way) and work asked for after close() is refused.
    assert.match(child.stdout, /^(resolved rsa-3072|rejected PKCS11_[A-Z_]+); late rejected PKCS11_CLOSED$/);
    await km.deleteKey("closing-rsa");
  });

  it("two concurrent generateKey calls for one id make one key; the other is refused", async () => {
    const results = await Promise.allSettled([
      km.generateKey({ id: "race" }),
      km.generateKey({ id: "race" }),
      km.generateKey({ id: "race", type: "ec-p384" }),
    ]);
    assert.equal(results.filter((r) => r.status === "fulfilled").length, 1, JSON.stringify(results));
    for (const r of results)
      if (r.status === "rejected") assert.equal((r.reason as Pkcs11Error).code, "PKCS11_KEY_EXISTS");
    const out = await listObjects("privkey");
    assert.equal(out.match(/ID:\s+72616365\s*$/gm)?.length, 1, out);
    assert.equal(await km.deleteKey("race"), true);
  });

  it("deleteKey destroys the key pair only, not another object (a certificate) with the same CKA_ID", async () => {
    await km.generateKey({ id: "with-cert" });
    const session = module.api.C_OpenSession(
      module.findSlot(hsm.tokenLabel),
      pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION,
    );
    try {
      module.api.C_CreateObject(session, [
        { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_CERTIFICATE },
        { type: pkcs11js.CKA_CERTIFICATE_TYPE, value: pkcs11js.CKC_X_509 },
        { type: pkcs11js.CKA_TOKEN, value: true },
        { type: pkcs11js.CKA_ID, value: Buffer.from("with-cert") },
        { type: pkcs11js.CKA_LABEL, value: "someone-elses-cert" },
        { type: pkcs11js.CKA_SUBJECT, value: Buffer.from("3000", "hex") },
        { type: pkcs11js.CKA_VALUE, value: Buffer.from("3000", "hex") },
      ]);
    } finally {
      module.api.C_CloseSession(session);
    }
    assert.equal(await km.deleteKey("with-cert"), true);
    assert.equal(await km.findKey("with-cert"), undefined);
    const out = await listObjects();
    assert.match(out, /someone-elses-cert/, "the certificate is still there");
    assert.doesNotMatch(out, /label:\s+with-cert/);
  });

  it("a signature the token does not deliver in time fails with PKCS11_SIGN_TIMEOUT", async () => {
    const clock = new ManualClock();
    const slow = await Pkcs11KeyManager.open(
      { ...config, signTimeoutMs: 5_000 },
      { module, env: env(), clock },
    );
    try {
      const key = await slow.getKey("gen-ec-p256");
      const inTime = await slow.sign(key, message);
      assert.ok(verify("sha256", message, { key: key.publicKey, dsaEncoding: "ieee-p1363" }, inTime));
      assert.equal(clock.pendingTimers, 0, "the timer is cancelled once the signature is there");
      const late = slow.sign(key, message);
      clock.advance(5_000);
      await assert.rejects(late, { code: "PKCS11_SIGN_TIMEOUT", message: /gen-ec-p256.*5000 ms/ });
    } finally {
      // Waits for the signature still running on the token.
      await slow.close();
    }
  });

  it("a new key manager instance finds existing keys by CKA_ID", async () => {
    const again = await Pkcs11KeyManager.open(config, { module, env: env() });
    try {
      const key = await again.getKey("gen-rsa-2048");
      assert.deepEqual(key.spki, (await km.getKey("gen-rsa-2048")).spki);
      const ids = (await again.listKeys()).map((k) => k.id).sort();
      assert.deepEqual(ids, ["gen-ec-p256", "gen-ec-p384", "gen-rsa-2048", "gen-rsa-3072"]);
    } finally {
      await again.close();
    }
  });

  it("deletes a key from the token", async () => {
    await km.generateKey({ id: "doomed" });
    assert.equal(await km.deleteKey("doomed"), true);
    assert.equal(await km.findKey("doomed"), undefined);
    assert.equal(await km.deleteKey("doomed"), false);
    const out = await listObjects();
    assert.doesNotMatch(out, /doomed/);
  });

  for (const signWith of ["worker-threads", "libuv-threadpool"] as const) {
    it(`reopens sessions and logs in again when the token dropped them, and retries the signature (${signWith})`, async () => {
      const signer = await Pkcs11KeyManager.open({ ...config, signWith }, { module, env: env() });
      try {
        const key = await signer.getKey("gen-ec-p256");
        await signer.sign(key, message);
        // Every session of this application is closed behind the key manager's back; the login goes with them.
        module.api.C_CloseAllSessions(module.findSlot(hsm.tokenLabel));
        const signatures = await Promise.all([
          signer.sign(key, message),
          signer.sign(key, message),
          signer.sign(key, message),
        ]);
        for (const signature of signatures)
          assert.ok(verify("sha256", message, { key: key.publicKey, dsaEncoding: "ieee-p1363" }, signature));
        // The key manager opened before is recovered too on its next use.
        const again = await km.sign(await km.getKey("gen-ec-p256"), message);
        assert.ok(verify("sha256", message, { key: key.publicKey, dsaEncoding: "ieee-p1363" }, again));
      } finally {
        await signer.close();
      }
    });
  }

  for (const signWith of ["worker-threads", "libuv-threadpool"] as const) {
    // That the event loop stays free while the token works is shown with a token that does not answer, in
    // off-loop.test.ts: counting loop turns here depended on how fast the token was.
    it(`signs many requests at once on ${signWith}, each signature its own`, async () => {
      const signer = await Pkcs11KeyManager.open({ ...config, signWith }, { module, env: env() });
      const key = await signer.getKey("gen-ec-p256");
      const signatures = await Promise.all(
        Array.from({ length: 200 }, (_, i) => signer.sign(key, Buffer.from(`m${i}`))),
      );
      await signer.close();
      signatures.forEach((sig, i) =>
        assert.ok(
          verify("sha256", Buffer.from(`m${i}`), { key: key.publicKey, dsaEncoding: "ieee-p1363" }, sig),
        ),
      );
    });
  }

  describe("keys on the token not made the way generateKey makes them are refused, naming the cause", () => {
    let bad: Pkcs11KeyManager;
    let session: pkcs11js.Handle;
    const P256 = Buffer.from("06082a8648ce3d030107", "hex");

    /** An EC P-256 pair made with raw PKCS#11 calls; `privateExtra` overrides the safe private template. */
    const generatePair = (id: string, privateExtra: pkcs11js.Template = []): pkcs11js.KeyPair => {
      const override = new Set(privateExtra.map((a) => a.type));
      const safe: pkcs11js.Template = [
        { type: pkcs11js.CKA_TOKEN, value: true },
        { type: pkcs11js.CKA_PRIVATE, value: true },
        { type: pkcs11js.CKA_ID, value: Buffer.from(id) },
        { type: pkcs11js.CKA_SENSITIVE, value: true },
        { type: pkcs11js.CKA_EXTRACTABLE, value: false },
        { type: pkcs11js.CKA_SIGN, value: true },
        { type: pkcs11js.CKA_DECRYPT, value: false },
        { type: pkcs11js.CKA_UNWRAP, value: false },
        { type: pkcs11js.CKA_DERIVE, value: false },
      ];
      return module.api.C_GenerateKeyPair(
        session,
        { mechanism: pkcs11js.CKM_EC_KEY_PAIR_GEN },
        [
          { type: pkcs11js.CKA_TOKEN, value: true },
          { type: pkcs11js.CKA_ID, value: Buffer.from(id) },
          { type: pkcs11js.CKA_VERIFY, value: true },
          { type: pkcs11js.CKA_EC_PARAMS, value: P256 },
        ],
        [...safe.filter((a) => !override.has(a.type)), ...privateExtra],
      );
    };

    before(async () => {
      bad = await Pkcs11KeyManager.open(
        { ...config, tokenLabel: badToken.label },
        { module, env: { [PIN_ENV]: badToken.pin } },
      );
      // Logged in through `bad`: login is per application and token.
      session = module.api.C_OpenSession(
        module.findSlot(badToken.label),
        pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION,
      );
    });
    after(async () => {
      module.api.C_CloseSession(session);
      await bad.close();
    });

    it("an extractable key: PKCS11_KEY_UNSAFE", async () => {
      generatePair("extractable", [{ type: pkcs11js.CKA_EXTRACTABLE, value: true }]);
      await assert.rejects(bad.getKey("extractable"), {
        code: "PKCS11_KEY_UNSAFE",
        message: /"extractable".*CKA_EXTRACTABLE is not false, CKA_NEVER_EXTRACTABLE is not true/,
      });
    });

    it("a key that may also derive: PKCS11_KEY_UNSAFE", async () => {
      generatePair("derive", [{ type: pkcs11js.CKA_DERIVE, value: true }]);
      await assert.rejects(bad.getKey("derive"), {
        code: "PKCS11_KEY_UNSAFE",
        message: /CKA_DERIVE is not false/,
      });
    });

    it("an imported key (sensitive and unextractable now, but not made on the token): PKCS11_KEY_UNSAFE", async () => {
      const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
      const jwk = privateKey.export({ format: "jwk" });
      const point = Buffer.concat([
        Buffer.from([0x04]),
        Buffer.from(jwk.x!, "base64url"),
        Buffer.from(jwk.y!, "base64url"),
      ]);
      const common = (cls: number): pkcs11js.Template => [
        { type: pkcs11js.CKA_CLASS, value: cls },
        { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_EC },
        { type: pkcs11js.CKA_TOKEN, value: true },
        { type: pkcs11js.CKA_ID, value: Buffer.from("imported") },
        { type: pkcs11js.CKA_EC_PARAMS, value: P256 },
      ];
      module.api.C_CreateObject(session, [
        ...common(pkcs11js.CKO_PRIVATE_KEY),
        { type: pkcs11js.CKA_PRIVATE, value: true },
        { type: pkcs11js.CKA_SENSITIVE, value: true },
        { type: pkcs11js.CKA_EXTRACTABLE, value: false },
        { type: pkcs11js.CKA_SIGN, value: true },
        { type: pkcs11js.CKA_VALUE, value: Buffer.from(jwk.d!, "base64url") },
      ]);
      module.api.C_CreateObject(session, [
        ...common(pkcs11js.CKO_PUBLIC_KEY),
        { type: pkcs11js.CKA_VERIFY, value: true },
        { type: pkcs11js.CKA_EC_POINT, value: Buffer.concat([Buffer.from([0x04, point.length]), point]) },
      ]);
      assert.ok(publicKey);
      await assert.rejects(bad.getKey("imported"), {
        code: "PKCS11_KEY_UNSAFE",
        message: /CKA_ALWAYS_SENSITIVE is not true.*CKA_LOCAL is not true/,
      });
    });

    it("two public key objects with one CKA_ID: PKCS11_KEY_AMBIGUOUS", async () => {
      generatePair("twin");
      const other = generatePair("twin-other");
      module.api.C_SetAttributeValue(session, other.publicKey, [
        { type: pkcs11js.CKA_ID, value: Buffer.from("twin") },
      ]);
      await assert.rejects(bad.getKey("twin"), {
        code: "PKCS11_KEY_AMBIGUOUS",
        message: /2 public keys with CKA_ID "twin"/,
      });
    });

    it("a public key object of another pair under the key's CKA_ID: PKCS11_KEY_MISMATCH (sign-then-verify self-test)", async () => {
      const mine = generatePair("mismatch");
      const other = generatePair("mismatch-other");
      module.api.C_DestroyObject(session, mine.publicKey);
      module.api.C_SetAttributeValue(session, other.publicKey, [
        { type: pkcs11js.CKA_ID, value: Buffer.from("mismatch") },
      ]);
      await assert.rejects(bad.getKey("mismatch"), {
        code: "PKCS11_KEY_MISMATCH",
        message: /does not verify with the public key object/,
      });
    });

    it("listKeys leaves the refused keys out instead of failing for every key on a shared token", async () => {
      const good = await bad.generateKey({ id: "good" });
      const listed = await bad.listKeys();
      assert.deepEqual(
        listed.map((k) => k.id),
        ["good"],
      );
      assert.deepEqual(listed[0]?.spki, good.spki);
    });
  });

  describe("bad configuration is an error that names the cause", () => {
    it("wrong PIN", async () => {
      // On a token this process is not yet logged in to: PKCS#11 login state is per application and token.
      const wrong = { ...config, tokenLabel: emptyToken.label };
      await assert.rejects(
        Pkcs11KeyManager.open(wrong, { module, env: { [PIN_ENV]: "000000" } }),
        (err: unknown) => {
          assert.ok(err instanceof Pkcs11Error);
          assert.equal(err.code, "PKCS11_PIN_INCORRECT");
          assert.match(err.message, /refused the PIN/);
          assert.doesNotMatch(err.message, /000000/, "the PIN is never in a message");
          return true;
        },
      );
    });

    it("PIN variable not set", async () => {
      await assert.rejects(Pkcs11KeyManager.open(config, { module, env: {} }), {
        code: "PKCS11_PIN_MISSING",
        message: /HALLMARK_TEST_PIN is not set/,
      });
    });

    it("PIN from a file, with its trailing newline", async () => {
      const pinFile = join(hsm.dir, "pin");
      await writeFile(pinFile, `${hsm.pin}\n`, { mode: 0o600 });
      const fromFile = await Pkcs11KeyManager.open({ ...config, pin: { file: pinFile } }, { module });
      await fromFile.close();
      await assert.rejects(
        Pkcs11KeyManager.open({ ...config, pin: { file: join(hsm.dir, "no-such-pin") } }, { module }),
        {
          code: "PKCS11_PIN_MISSING",
          message: /no-such-pin: ENOENT/,
        },
      );
    });

    it("the PIN variable is removed from the environment it was read from", async () => {
      const fromEnv: NodeJS.ProcessEnv = { [PIN_ENV]: hsm.pin, OTHER: "kept" };
      const opened = await Pkcs11KeyManager.open(config, { module, env: fromEnv });
      await opened.close();
      assert.deepEqual(fromEnv, { OTHER: "kept" }, "a child process started later does not inherit the PIN");
    });

    for (const mode of [0o640, 0o604, 0o660]) {
      it(`a PIN file with mode ${mode.toString(8)} (open to group or others) is refused`, async () => {
        const pinFile = join(hsm.dir, `pin-${mode.toString(8)}`);
        await writeFile(pinFile, `${hsm.pin}\n`);
        await chmod(pinFile, mode);
        await assert.rejects(Pkcs11KeyManager.open({ ...config, pin: { file: pinFile } }, { module }), {
          code: "PKCS11_PIN_FILE_PERMISSIONS",
          message: new RegExp(`PIN file ${pinFile} has mode 0${mode.toString(8)}`),
        });
      });
    }

    it("missing module", async () => {
      await assert.rejects(
        Pkcs11KeyManager.open({ ...config, module: "/nonexistent/libvendor-pkcs11.so" }, { env: env() }),
        {
          code: "PKCS11_MODULE_LOAD_FAILED",
          message: /\/nonexistent\/libvendor-pkcs11\.so/,
        },
      );
    });

    it("unknown token label", async () => {
      await assert.rejects(
        Pkcs11KeyManager.open({ ...config, tokenLabel: "no-such-token" }, { module, env: env() }),
        {
          code: "PKCS11_TOKEN_NOT_FOUND",
          message:
            /no token labelled "no-such-token" in .*found tokens: (?=.*"hallmark-km")(?=.*"hallmark-empty")/,
        },
      );
    });

    it("a token without the expected key", async () => {
      const empty = await Pkcs11KeyManager.open(
        { ...config, tokenLabel: emptyToken.label },
        { module, env: { [PIN_ENV]: emptyToken.pin } },
      );
      try {
        await assert.rejects(empty.getKey("gen-ec-p256"), {
          code: "PKCS11_KEY_NOT_FOUND",
          message: /token "hallmark-empty" has no private key with CKA_ID "gen-ec-p256"/,
        });
      } finally {
        await empty.close();
      }
    });
  });
});
