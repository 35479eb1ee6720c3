// Run as a separate process by key-manager.test.ts: a key manager left open must not keep the process
// alive, while a signature still in flight must. Prints "signed <bytes>" and then simply ends.
import { Pkcs11KeyManager } from "../key-manager.js";

const [modulePath, tokenLabel, keyId] = process.argv.slice(2);
if (modulePath === undefined || tokenLabel === undefined || keyId === undefined) {
  throw new Error("usage: exit-child MODULE TOKEN_LABEL KEY_ID");
}
const km = await Pkcs11KeyManager.open({ module: modulePath, tokenLabel, pin: { env: "HALLMARK_TEST_PIN" } });
const key = await km.getKey(keyId);
void km
  .sign(key, Buffer.from("late"))
  .then((signature) => process.stdout.write(`signed ${signature.length}`));
