import pkcs11js from "pkcs11js";
import { Pkcs11Error, ckrName, mapPkcs11Error } from "./errors.js";

/**
 * One loaded PKCS#11 library. A library can be initialised once per process, so whoever loads it owns
 * C_Finalize; a second user (another key manager in the same process) passes the loaded module in.
 */
export class Pkcs11Module {
  readonly api: pkcs11js.PKCS11;
  readonly path: string;
  readonly #ownsInitialize: boolean;
  #finalized = false;

  private constructor(api: pkcs11js.PKCS11, path: string, ownsInitialize: boolean) {
    this.api = api;
    this.path = path;
    this.#ownsInitialize = ownsInitialize;
  }

  static load(path: string): Pkcs11Module {
    const api = new pkcs11js.PKCS11();
    try {
      api.load(path);
    } catch (err) {
      throw new Pkcs11Error(
        "PKCS11_MODULE_LOAD_FAILED",
        `cannot load the PKCS#11 module ${path}: ${err instanceof Error ? err.message : String(err)}`,
        {
          category: "failed_precondition",
          cause: err,
        },
      );
    }
    let owns = true;
    try {
      // OS locking: signing runs on libuv threads, several sessions at once; without this flag a module may
      // assume a single-threaded caller (SoftHSM then crashes under concurrent C_Sign).
      api.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
    } catch (err) {
      if (ckrName(err) !== "CKR_CRYPTOKI_ALREADY_INITIALIZED") {
        throw new Pkcs11Error(
          "PKCS11_MODULE_INIT_FAILED",
          `C_Initialize of ${path} failed: ${mapPkcs11Error(err, "C_Initialize").message}`,
          {
            category: "failed_precondition",
            cause: err,
          },
        );
      }
      owns = false;
    }
    return new Pkcs11Module(api, path, owns);
  }

  /**
   * The slot holding the token with this label. Slot ids change when tokens are added or re-plugged, so
   * the label is the stable name; two tokens with one label are refused rather than guessed between.
   */
  findSlot(tokenLabel: string): pkcs11js.Handle {
    let slots: pkcs11js.Handle[];
    try {
      slots = this.api.C_GetSlotList(true);
    } catch (err) {
      throw mapPkcs11Error(err, "listing slots");
    }
    const seen: string[] = [];
    const matches: pkcs11js.Handle[] = [];
    for (const slot of slots) {
      let label: string;
      try {
        const info = this.api.C_GetTokenInfo(slot);
        // A free slot (SoftHSM always offers one) holds no usable token.
        if ((info.flags & pkcs11js.CKF_TOKEN_INITIALIZED) === 0) continue;
        label = info.label.trimEnd();
      } catch (err) {
        if (ckrName(err) === "CKR_TOKEN_NOT_PRESENT" || ckrName(err) === "CKR_TOKEN_NOT_RECOGNIZED") continue;
        throw mapPkcs11Error(err, "reading token info");
      }
      seen.push(label);
      if (label === tokenLabel) matches.push(slot);
    }
    if (matches.length > 1) {
      throw new Pkcs11Error(
        "PKCS11_TOKEN_AMBIGUOUS",
        `${matches.length} tokens are labelled "${tokenLabel}" in ${this.path}; labels must be unique`,
        {
          category: "failed_precondition",
        },
      );
    }
    const slot = matches[0];
    if (slot === undefined) {
      const found =
        seen.length === 0 ? "no initialised tokens" : `tokens: ${seen.map((l) => `"${l}"`).join(", ")}`;
      throw new Pkcs11Error(
        "PKCS11_TOKEN_NOT_FOUND",
        `no token labelled "${tokenLabel}" in ${this.path} (found ${found})`,
        {
          category: "failed_precondition",
        },
      );
    }
    return slot;
  }

  /** Finalizes the library if this instance initialised it. */
  finalize(): void {
    if (this.#finalized) return;
    this.#finalized = true;
    if (!this.#ownsInitialize) return;
    try {
      this.api.C_Finalize();
    } catch {
      // Finalize only fails if the library is already gone; nothing is left to release.
    }
  }
}
