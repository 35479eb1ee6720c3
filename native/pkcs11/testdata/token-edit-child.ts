// Run as a separate process by stale-handle.test.ts: another application changes a key behind the test's
// key manager, so that the handle it holds goes stale. Modes:
//   move     the private key object is copied (C_CopyObject) and the original destroyed: the same key under
//            a new handle, as after a restore or a resync of an HSM cluster;
//   replace  the key pair is deleted and a new one generated under the same CKA_ID;
//   delete   the key pair is deleted.
// Prints "done".
import pkcs11js from "pkcs11js";
import { Pkcs11KeyManager } from "../key-manager.js";
import { Pkcs11Module } from "../module.js";

const [modulePath, tokenLabel, keyId, mode] = process.argv.slice(2);
if (modulePath === undefined || tokenLabel === undefined || keyId === undefined) {
  throw new Error("usage: token-edit-child MODULE TOKEN_LABEL KEY_ID move|replace|delete");
}
const module = Pkcs11Module.load(modulePath);
// Also logs this process in to the token, for the raw calls below.
const km = await Pkcs11KeyManager.open(
  { module: modulePath, tokenLabel, pin: { env: "HALLMARK_TEST_PIN" } },
  { module },
);
try {
  if (mode === "move") {
    const api = module.api;
    const session = api.C_OpenSession(
      module.findSlot(tokenLabel),
      pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION,
    );
    try {
      api.C_FindObjectsInit(session, [
        { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
        { type: pkcs11js.CKA_ID, value: Buffer.from(keyId) },
      ]);
      const original = api.C_FindObjects(session);
      api.C_FindObjectsFinal(session);
      if (original === null) throw new Error(`no private key ${keyId}`);
      api.C_CopyObject(session, original, []);
      api.C_DestroyObject(session, original);
    } finally {
      api.C_CloseSession(session);
    }
  } else if (mode === "replace") {
    await km.deleteKey(keyId);
    await km.generateKey({ id: keyId });
  } else if (mode === "delete") {
    await km.deleteKey(keyId);
  } else {
    throw new Error(`unknown mode ${mode}`);
  }
  process.stdout.write("done");
} finally {
  await km.close();
  module.finalize();
}
