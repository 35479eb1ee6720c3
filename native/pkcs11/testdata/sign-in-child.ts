// Run as a separate process by key-manager.test.ts: a fresh module load that must find the parent's key by
// CKA_ID and sign with it. Prints the SPKI and the signature as JSON.
import { Pkcs11KeyManager } from "../key-manager.js";

const [modulePath, tokenLabel, keyId, messageHex] = process.argv.slice(2);
if (modulePath === undefined || tokenLabel === undefined || keyId === undefined || messageHex === undefined) {
  throw new Error("usage: sign-in-child MODULE TOKEN_LABEL KEY_ID MESSAGE_HEX");
}
const km = await Pkcs11KeyManager.open({ module: modulePath, tokenLabel, pin: { env: "HALLMARK_TEST_PIN" } });
try {
  const key = await km.getKey(keyId);
  const signature = await km.sign(key, Buffer.from(messageHex, "hex"));
  process.stdout.write(
    JSON.stringify({
      type: key.type,
      spki: key.spki.toString("base64"),
      signature: signature.toString("base64"),
    }),
  );
} finally {
  await km.close();
}
