import { describe, it } from "node:test";
import assert from "node:assert/strict";
import pkcs11js from "pkcs11js";
import { Pkcs11Error, isSessionLost, isStaleHandle, mapPkcs11Error } from "./errors.js";

/** A module error as pkcs11js raises it ("CKR_NAME:code"). */
const moduleError = (name: string, code: number): Error => new pkcs11js.Pkcs11Error(`${name}:${code}`);

describe("mapPkcs11Error", () => {
  it("gives an expired PIN its own code", () => {
    const err = mapPkcs11Error(moduleError("CKR_PIN_EXPIRED", 0xa3), "logging in");
    assert.equal(err.code, "PKCS11_PIN_EXPIRED");
    assert.equal(err.ckr, "CKR_PIN_EXPIRED");
    assert.match(err.message, /^logging in: the user PIN has expired/);
  });

  it("gives an uninitialised module its own code", () => {
    const err = mapPkcs11Error(moduleError("CKR_CRYPTOKI_NOT_INITIALIZED", 0x190), "signing");
    assert.equal(err.code, "PKCS11_NOT_INITIALIZED");
    assert.equal(err.category, "failed_precondition");
  });

  it("a job refused as stale by a signing thread counts as a lost session (retried), other typed errors do not", () => {
    assert.ok(isSessionLost(new Pkcs11Error("PKCS11_SESSION_STALE", "stale")));
    assert.ok(!isSessionLost(new Pkcs11Error("PKCS11_SIGN_TIMEOUT", "slow")));
    assert.ok(isSessionLost(moduleError("CKR_SESSION_HANDLE_INVALID", 0xb3)));
  });

  it("a stale object or key handle is not a lost session: the object is found again, sessions and login stay", () => {
    for (const [name, code] of [
      ["CKR_OBJECT_HANDLE_INVALID", 0x82],
      ["CKR_KEY_HANDLE_INVALID", 0x60],
    ] as const) {
      const err = moduleError(name, code);
      assert.ok(!isSessionLost(err), name);
      assert.ok(isStaleHandle(err), name);
      assert.equal(mapPkcs11Error(err, "signing").code, "PKCS11_HANDLE_INVALID");
    }
    assert.ok(!isStaleHandle(moduleError("CKR_SESSION_HANDLE_INVALID", 0xb3)));
  });
});
