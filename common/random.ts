import { randomFillSync } from "node:crypto";

/** Randomness is injected so tests can make nonces, serials and key ids reproducible. */
export interface RandomSource {
  bytes(length: number): Buffer;
}

/**
 * CSPRNG bytes drawn from a refilled pool: one kernel round trip per 4 KiB instead of one per
 * call, which matters when every SVID takes a 16-byte serial. Each call returns a fresh copy, and
 * bytes are handed out once only.
 */
export class PooledCryptoRandom implements RandomSource {
  readonly #pool: Buffer;
  #offset: number;

  constructor(poolSize = 4096) {
    this.#pool = Buffer.alloc(poolSize);
    this.#offset = poolSize;
  }

  bytes(length: number): Buffer {
    if (length > this.#pool.length) return randomFillSync(Buffer.alloc(length));
    if (this.#offset + length > this.#pool.length) {
      randomFillSync(this.#pool);
      this.#offset = 0;
    }
    const out = Buffer.from(this.#pool.subarray(this.#offset, this.#offset + length));
    // Zero what was handed out so no later reader of the pool could see it.
    this.#pool.fill(0, this.#offset, this.#offset + length);
    this.#offset += length;
    return out;
  }
}

export const cryptoRandom: RandomSource = new PooledCryptoRandom();

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

/** A uniform number in [0, 1) from `random`: for jitter, never for secrets. */
export function randomFraction(random: RandomSource): number {
  return random.bytes(4).readUInt32BE(0) / 2 ** 32;
}
