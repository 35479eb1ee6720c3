// Run as a separate process by key-manager.test.ts: close() while an RSA key generation is still on the
// libuv threadpool. Before close() waited for in-flight work this finalised the module under the running
// C_GenerateKeyPair and the process died with SIGSEGV. Prints how the generation settled.
import { Pkcs11KeyManager } from "../key-manager.js";

const [modulePath, tokenLabel, keyId, signWith] = process.argv.slice(2);
if (modulePath === undefined || tokenLabel === undefined || keyId === undefined) {
  throw new Error("usage: close-child MODULE TOKEN_LABEL KEY_ID [worker-threads|libuv-threadpool]");
}
const km = await Pkcs11KeyManager.open({
  module: modulePath,
  tokenLabel,
  pin: { env: "HALLMARK_TEST_PIN" },
  signWith: signWith === "libuv-threadpool" ? "libuv-threadpool" : "worker-threads",
});
const generating = km.generateKey({ id: keyId, type: "rsa-3072" }).then(
  (key) => `resolved ${key.type}`,
  (err: unknown) => `rejected ${(err as { code?: string }).code ?? String(err)}`,
);
await new Promise((resolve) => setTimeout(resolve, 50));
const closing = km.close();
const late = await km.generateKey({ id: `${keyId}-late` }).then(
  () => "late resolved",
  (err: unknown) => `late rejected ${(err as { code?: string }).code ?? String(err)}`,
);
await closing;
process.stdout.write(`${await generating}; ${late}`);
