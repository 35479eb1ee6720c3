import type { KeyObject } from "node:crypto";
import { ecKeyFromPkcs8 } from "../../common/crypto/ec-key-der.js";
import { ownBlock } from "./own-block.js";
import type { X509SvidWithKey } from "./snapshot.js";

/**
 * An X509-SVID as the cache holds it: the chain and the PKCS#8 key in one allocation of exactly their
 * size. Kept as given, a certificate would be a slice of a larger buffer (a pooled 8 KiB slab, or the
 * whole decoded batch response) and pin all of it for as long as this SVID lives.
 */
export class HeldX509Svid implements X509SvidWithKey {
  readonly certChain: readonly Buffer[];
  readonly pkcs8PrivateKey: Buffer;
  readonly serial: string;
  readonly expiresAtMs: number;
  readonly renewAtMs: number;

  constructor(
    issued: { certChain: readonly Buffer[]; serial: string; expiresAtMs: number },
    pkcs8PrivateKey: Buffer,
    renewAtMs: number,
  ) {
    const placed = ownBlock([...issued.certChain, pkcs8PrivateKey]);
    this.pkcs8PrivateKey = placed.pop() as Buffer;
    this.certChain = placed;
    this.serial = issued.serial;
    this.expiresAtMs = issued.expiresAtMs;
    this.renewAtMs = renewAtMs;
  }

  /** A new KeyObject each read (~0.1 ms): keep the one you need. */
  get privateKey(): KeyObject {
    return ecKeyFromPkcs8(this.pkcs8PrivateKey);
  }

  /** What a log line may show of it: never the key. */
  toJSON(): { serial: string; expiresAtMs: number; renewAtMs: number; certificates: number } {
    return {
      serial: this.serial,
      expiresAtMs: this.expiresAtMs,
      renewAtMs: this.renewAtMs,
      certificates: this.certChain.length,
    };
  }
}
