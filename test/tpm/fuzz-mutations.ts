import assert from "node:assert/strict";
import { HallmarkError } from "../../common/errors.js";
import { SeededRandom } from "../../common/random.js";

/**
 * What the fuzz tests of hallmark's parsers and verifiers share: a seed printed so a failure can be
 * replayed (HALLMARK_FUZZ_SEED), a round count (HALLMARK_FUZZ_ROUNDS), deterministic choices and
 * structure-aware mutations of valid inputs.
 */
export const SEED = Number(process.env.HALLMARK_FUZZ_SEED ?? Math.floor(Math.random() * 0xffffffff));
export const ROUNDS = Number(process.env.HALLMARK_FUZZ_ROUNDS ?? 3000);
console.log(`fuzz seed ${SEED} (rerun with HALLMARK_FUZZ_SEED=${SEED}), ${ROUNDS} rounds per target`);

/** Deterministic choices on top of SeededRandom's byte stream. */
export class Prng {
  readonly #r: SeededRandom;
  constructor(seed: number) {
    this.#r = new SeededRandom(seed);
  }
  bytes(n: number): Buffer {
    return this.#r.bytes(n);
  }
  int(max: number): number {
    return this.#r.bytes(4).readUInt32BE() % Math.max(1, max);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
}

/** One of several structure-aware mutations: bit flips, byte writes, size-field edits, cuts, splices. */
export function mutate(p: Prng, input: Buffer): Buffer {
  let b: Buffer = Buffer.from(input);
  const rounds = 1 + p.int(3);
  for (let i = 0; i < rounds; i++) {
    const at = b.length === 0 ? 0 : p.int(b.length);
    switch (p.int(8)) {
      case 0:
        if (b.length) b[at]! ^= 1 << p.int(8);
        break;
      case 1:
        if (b.length) b[at] = p.pick([0x00, 0xff, 0x7f, 0x80, 0x01]);
        break;
      case 2: // a UINT16 size field made small, huge or off by one
        if (b.length > 1)
          b.writeUInt16BE(
            p.pick([0, 1, 0xffff, 0x8000, (b.readUInt16BE(Math.min(at, b.length - 2)) + 1) & 0xffff]),
            Math.min(at, b.length - 2),
          );
        break;
      case 3:
        b = b.subarray(0, at);
        break;
      case 4:
        b = Buffer.concat([b.subarray(0, at), p.bytes(1 + p.int(8)), b.subarray(at)]);
        break;
      case 5:
        b = Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + p.int(8)))]);
        break;
      case 6: // a UINT32 count made huge
        if (b.length > 3) b.writeUInt32BE(p.pick([0xffffffff, 0x10000, 17, 9]), Math.min(at, b.length - 4));
        break;
      default:
        b = p.bytes(p.int(64));
    }
  }
  return b;
}

/** Runs `fn`; anything thrown must be a HallmarkError (never TypeError/RangeError/a crash). */
export function expectOnlyTyped(label: string, fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    if (err instanceof HallmarkError) return;
    assert.fail(`${label}: threw ${(err as Error)?.name}: ${(err as Error)?.message} (seed ${SEED})`);
  }
}
