import { randomBytes } from "node:crypto";

/** Randomness is injected so tests can make nonces, serials and key ids reproducible. */
export interface RandomSource {
  bytes(length: number): Buffer;
}

export const cryptoRandom: RandomSource = { bytes: (length) => randomBytes(length) };

/** Deterministic bytes for tests only: a counter-driven stream, never for real keys or nonces. */
export class SeededRandom implements RandomSource {
  #state: number;

  constructor(seed = 1) {
    this.#state = seed >>> 0 || 1;
  }

  bytes(length: number): Buffer {
    const out = Buffer.alloc(length);
    for (let i = 0; i < length; i++) {
      // xorshift32: enough to make distinct, repeatable values in tests.
      let x = this.#state;
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      this.#state = x >>> 0;
      out[i] = this.#state & 0xff;
    }
    return out;
  }
}
