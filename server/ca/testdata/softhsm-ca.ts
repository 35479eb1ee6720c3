// A CaManager over a fresh SoftHSM2 token: the real HSM-backed CA that fixtures of the CA's users run.
import { Pkcs11KeyManager } from "../../../native/pkcs11/key-manager.js";
import { createSoftHsm, type SoftHsmFixture } from "../../../test/fixtures/softhsm.js";
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
  const hsm = await createSoftHsm({ tokenLabel });
  const keyManager = await Pkcs11KeyManager.open(
    { module: hsm.modulePath, tokenLabel: hsm.tokenLabel, pin: { env: "PIN" } },
    { env: { PIN: hsm.pin } },
  );
  const ca = await CaManager.start(testCaOptions({ ...options, keyManager }));
  return {
    ca,
    hsm,
    keyManager,
    async stop() {
      await ca.stop();
      for (const key of await keyManager.listKeys()) await keyManager.deleteKey(key.id);
      await keyManager.close();
      await hsm.cleanup();
    },
  };
}
