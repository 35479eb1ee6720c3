// A CaManager over a fresh SoftHSM2 token: the real HSM-backed CA that fixtures of the CA's users run.
import type { Pkcs11KeyManager } from "../../../native/pkcs11/key-manager.js";
import type { SoftHsmFixture } from "../../../test/fixtures/softhsm.js";
import { openSoftHsmKeyManager } from "../../../test/fixtures/softhsm-key-manager.js";
import { CaManager, type CaManagerOptions } from "../ca-manager.js";
import { testCaOptions } from "./ca-options.js";

export interface SoftHsmCa {
  readonly ca: CaManager;
  readonly hsm: SoftHsmFixture;
  readonly keyManager: Pkcs11KeyManager;
  /** Stops the CA, deletes its keys from the token, closes the session and removes the token. */
  stop(): Promise<void>;
}

/** Starts a CaManager on a new SoftHSM2 token labelled `tokenLabel`, with `testCaOptions` and `options`. */
export async function startSoftHsmCa(
  tokenLabel: string,
  options: Pick<CaManagerOptions, "clock"> & Partial<Omit<CaManagerOptions, "keyManager">>,
): Promise<SoftHsmCa> {
  const store = await openSoftHsmKeyManager(tokenLabel);
  const { hsm, keyManager } = store;
  const ca = await CaManager.start(testCaOptions({ ...options, keyManager }));
  return {
    ca,
    hsm,
    keyManager,
    async stop() {
      await ca.stop();
      for (const key of await keyManager.listKeys()) await keyManager.deleteKey(key.id);
      await store.close();
    },
  };
}
