import pkcs11js from "pkcs11js";
import { endianness } from "node:os";
import { Pkcs11Error, ckrName, mapPkcs11Error } from "./errors.js";

/** Which token to use: by label (stable, preferred) or by slot id (may change when tokens are added). */
export type TokenSelector = { readonly label: string } | { readonly slot: number };

/** A token found on the module: its slot (handle and numeric id) and what it calls itself. */
export interface FoundToken {
  readonly slot: pkcs11js.Handle;
  readonly slotId: number;
  readonly label: string;
  readonly serialNumber: string;
}

interface PresentSlot {
  readonly slot: pkcs11js.Handle;
  readonly slotId: number;
  /** Absent when the slot's token is not initialised (or went away while being read). */
  readonly token?: { readonly label: string; readonly serialNumber: string };
}

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

  /** The slot holding the token with this label (see findToken). */
  findSlot(tokenLabel: string): pkcs11js.Handle {
    return this.findToken({ label: tokenLabel }).slot;
  }

  /**
   * The initialised token the selector names. By label: slot ids change when tokens are added or
   * re-plugged, so the label is the stable name; two tokens with one label are refused rather than guessed
   * between. By slot id: the slot must be in C_GetSlotList(true) and hold an initialised token.
   */
  findToken(selector: TokenSelector): FoundToken {
    const tokens = this.#presentTokens();
    if ("slot" in selector) return this.#bySlot(tokens, selector.slot);
    const matches = tokens.filter((t) => t.token !== undefined && t.token.label === selector.label);
    if (matches.length > 1) {
      throw new Pkcs11Error(
        "PKCS11_TOKEN_AMBIGUOUS",
        `${matches.length} tokens are labelled "${selector.label}" in ${this.path}; labels must be unique`,
        { category: "failed_precondition" },
      );
    }
    const match = matches[0];
    if (match?.token === undefined) {
      const labels = tokens.flatMap((t) => (t.token === undefined ? [] : [`"${t.token.label}"`]));
      const found = labels.length === 0 ? "no initialised tokens" : `tokens: ${labels.join(", ")}`;
      throw new Pkcs11Error(
        "PKCS11_TOKEN_NOT_FOUND",
        `no token labelled "${selector.label}" in ${this.path} (found ${found})`,
        { category: "failed_precondition" },
      );
    }
    return { slot: match.slot, slotId: match.slotId, ...match.token };
  }

  #bySlot(tokens: PresentSlot[], slotId: number): FoundToken {
    const match = tokens.find((t) => t.slotId === slotId);
    if (match?.token !== undefined) return { slot: match.slot, slotId, ...match.token };
    const present = tokens.map(describeSlot);
    throw new Pkcs11Error(
      "PKCS11_TOKEN_NOT_FOUND",
      match === undefined
        ? `no slot ${slotId} with a token in ${this.path} (slots present: ${present.length === 0 ? "none" : present.join(", ")})`
        : `slot ${slotId} in ${this.path} holds no initialised token (slots present: ${present.join(", ")})`,
      { category: "failed_precondition" },
    );
  }

  /** The slots with a token present, each with its token's label and serial when it is initialised. */
  #presentTokens(): PresentSlot[] {
    let slots: pkcs11js.Handle[];
    try {
      slots = this.api.C_GetSlotList(true);
    } catch (err) {
      throw mapPkcs11Error(err, "listing slots");
    }
    return slots.map((slot) => {
      const slotId = slotIdOf(slot);
      try {
        const info = this.api.C_GetTokenInfo(slot);
        // A free slot (SoftHSM always offers one) holds no usable token.
        if ((info.flags & pkcs11js.CKF_TOKEN_INITIALIZED) === 0) return { slot, slotId };
        return {
          slot,
          slotId,
          token: { label: info.label.trimEnd(), serialNumber: info.serialNumber.trimEnd() },
        };
      } catch (err) {
        if (ckrName(err) === "CKR_TOKEN_NOT_PRESENT" || ckrName(err) === "CKR_TOKEN_NOT_RECOGNIZED") {
          return { slot, slotId };
        }
        throw mapPkcs11Error(err, "reading token info");
      }
    });
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

/** The CK_SLOT_ID a pkcs11js slot handle carries (a CK_ULONG in native byte order). */
export function slotIdOf(slot: pkcs11js.Handle): number {
  const little = endianness() === "LE";
  const id =
    slot.length === 8
      ? little
        ? slot.readBigUInt64LE(0)
        : slot.readBigUInt64BE(0)
      : BigInt(little ? slot.readUInt32LE(0) : slot.readUInt32BE(0));
  return Number(id);
}

function describeSlot(slot: PresentSlot): string {
  return slot.token === undefined
    ? `${slot.slotId} (not initialised)`
    : `${slot.slotId} ("${slot.token.label}")`;
}
