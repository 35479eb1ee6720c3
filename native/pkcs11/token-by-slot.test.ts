import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { verify } from "node:crypto";
import { createSoftHsm, type SoftHsmFixture, type SoftHsmSlot } from "../../test/fixtures/softhsm.js";
import { Pkcs11KeyManager, type Pkcs11Config } from "./key-manager.js";
import { Pkcs11Module } from "./module.js";
import { Pkcs11Error } from "./errors.js";

const PIN_ENV = "HALLMARK_TEST_PIN";

describe("Pkcs11KeyManager: the token selected by slot id", () => {
  let hsm: SoftHsmFixture;
  let module: Pkcs11Module;
  let second: { label: string; pin: string };
  let slots: SoftHsmSlot[];
  const env = (pin: string): NodeJS.ProcessEnv => ({ [PIN_ENV]: pin });
  const base = (): Pkcs11Config => ({ module: hsm.modulePath, pin: { env: PIN_ENV } });
  const slotOf = (label: string): number => {
    const slot = slots.find((s) => s.label === label);
    assert.ok(slot !== undefined, `pkcs11-tool lists token "${label}"`);
    return slot.id;
  };

  before(async () => {
    hsm = await createSoftHsm({ tokenLabel: "hallmark-first" });
    // SoftHSM scans its token dir at C_Initialize: every token must exist before the module loads.
    second = await hsm.addToken("hallmark-second");
    slots = await hsm.slots();
    module = Pkcs11Module.load(hsm.modulePath);
  });
  after(async () => {
    module.finalize();
    await hsm.cleanup();
  });

  it("opens the token in that slot, reports its label, and generates and signs there", async () => {
    const km = await Pkcs11KeyManager.open(
      { ...base(), slot: slotOf(second.label) },
      { module, env: env(second.pin) },
    );
    try {
      assert.equal(km.tokenLabel, second.label);
      const key = await km.generateKey({ id: "by-slot" });
      const message = Buffer.from("signed on the token chosen by slot");
      const signature = await km.sign(key, message);
      assert.ok(verify("sha256", message, { key: key.publicKey, dsaEncoding: "ieee-p1363" }, signature));
    } finally {
      await km.close();
    }
    // The key went to the second token, not the first.
    const listed = await hsm.pkcs11Tool([
      "--token-label",
      second.label,
      "--login",
      "--pin",
      second.pin,
      "--list-objects",
      "--type",
      "privkey",
    ]);
    assert.match(listed, /ID:\s+62792d736c6f74/, 'CKA_ID "by-slot" on the second token');
    const first = await hsm.pkcs11Tool([...hsm.loginArgs(), "--list-objects", "--type", "privkey"]);
    assert.doesNotMatch(first, /62792d736c6f74/);
  });

  it("after the token dropped its sessions, recovers on the same slot and signs again", async () => {
    const slot = slotOf(second.label);
    const km = await Pkcs11KeyManager.open({ ...base(), slot }, { module, env: env(second.pin) });
    try {
      const key = await km.generateKey({ id: "recovered" });
      const message = Buffer.from("after recovery");
      module.api.C_CloseAllSessions(module.findToken({ slot }).slot);
      const signature = await km.sign(key, message);
      assert.ok(verify("sha256", message, { key: key.publicKey, dsaEncoding: "ieee-p1363" }, signature));
      assert.equal(km.recoveries, 1, "the sessions were reopened once");
      assert.equal(km.tokenLabel, second.label);
    } finally {
      await km.close();
    }
  });

  it("a recovery that finds another token in the slot refuses it rather than logging in there", async () => {
    const slot = slotOf(second.label);
    const km = await Pkcs11KeyManager.open({ ...base(), slot }, { module, env: env(second.pin) });
    const findToken = module.findToken.bind(module);
    try {
      const key = await km.generateKey({ id: "replaced" });
      module.api.C_CloseAllSessions(findToken({ slot }).slot);
      // SoftHSM keeps a token's slot id, so a vendor re-enumerating is stood in for: the same slot now
      // reports a token with another serial number.
      module.findToken = (selector) => ({ ...findToken(selector), serialNumber: "0000000000000000" });
      await assert.rejects(km.sign(key, Buffer.from("m")), (err: unknown) => {
        assert.ok(err instanceof Pkcs11Error);
        assert.equal(err.code, "PKCS11_TOKEN_NOT_FOUND");
        assert.match(
          err.message,
          new RegExp(
            `slot ${slot} now holds token .*serial 0000000000000000.*not the token "${second.label}"`,
          ),
        );
        return true;
      });
    } finally {
      module.findToken = findToken;
      await km.close();
    }
  });

  it("a slot id that is not present is PKCS11_TOKEN_NOT_FOUND, naming it and the slots present", async () => {
    const missing = Math.max(...slots.map((s) => s.id)) + 1000;
    await assert.rejects(
      Pkcs11KeyManager.open({ ...base(), slot: missing }, { module, env: env(hsm.pin) }),
      (err: unknown) => {
        assert.ok(err instanceof Pkcs11Error);
        assert.equal(err.code, "PKCS11_TOKEN_NOT_FOUND");
        assert.match(err.message, new RegExp(`no slot ${missing} `));
        assert.match(err.message, new RegExp(`${slotOf(hsm.tokenLabel)} \\("${hsm.tokenLabel}"\\)`));
        assert.match(err.message, new RegExp(`${slotOf(second.label)} \\("${second.label}"\\)`));
        return true;
      },
    );
  });

  it("a slot without an initialised token (SoftHSM's free slot) is PKCS11_TOKEN_NOT_FOUND, naming the slot", async () => {
    const free = slots.find((s) => s.label === undefined);
    assert.ok(free !== undefined, "SoftHSM offers a free slot");
    await assert.rejects(
      Pkcs11KeyManager.open({ ...base(), slot: free.id }, { module, env: env(hsm.pin) }),
      (err: unknown) => {
        assert.ok(err instanceof Pkcs11Error);
        assert.equal(err.code, "PKCS11_TOKEN_NOT_FOUND");
        assert.match(err.message, new RegExp(`slot ${free.id} .*holds no initialised token`));
        return true;
      },
    );
  });

  for (const [name, selector] of [
    ["both tokenLabel and slot", { tokenLabel: "hallmark-first", slot: 1 }],
    ["neither tokenLabel nor slot", {}],
    ["a negative slot", { slot: -1 }],
  ] as const) {
    it(`${name} is PKCS11_BAD_CONFIG before the module is touched`, async () => {
      await assert.rejects(
        Pkcs11KeyManager.open({ ...base(), ...selector }, { module, env: env(hsm.pin) }),
        (err: unknown) => err instanceof Pkcs11Error && err.code === "PKCS11_BAD_CONFIG",
      );
    });
  }
});
