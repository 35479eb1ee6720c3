import { TpmFormatError } from "../marshal.js";

/**
 * A TPMA_* attribute word as named booleans: `bits` maps each flag to its bit number; every bit
 * not named (and not in `extraMask`, for multi-bit fields the caller decodes) is reserved and
 * refused on decode.
 */
export interface FlagCodec<N extends string> {
  readonly names: readonly N[];
  /** The flags that are set; every other flag is clear. */
  readonly build: (set: Partial<Record<N, boolean>>) => Readonly<Record<N, boolean>>;
  readonly toInt: (flags: Readonly<Record<N, boolean>>) => number;
  readonly fromInt: (value: number, field?: string) => Readonly<Record<N, boolean>>;
  /** The names of the set flags, in bit order. */
  readonly list: (flags: Readonly<Record<N, boolean>>) => N[];
}

export function flagCodec<N extends string>(
  typeName: string,
  bits: Readonly<Record<N, number>>,
  extraMask = 0,
): FlagCodec<N> {
  const names = (Object.keys(bits) as N[]).sort((a, b) => bits[a] - bits[b]);
  const defined = names.reduce((m, n) => m | (1 << bits[n]), extraMask) >>> 0;
  const build = (set: Partial<Record<N, boolean>>): Readonly<Record<N, boolean>> => {
    const out = {} as Record<N, boolean>;
    for (const n of names) out[n] = set[n] === true;
    return out;
  };
  return {
    names,
    build,
    toInt: (flags) => names.reduce((v, n) => (flags[n] ? v | (1 << bits[n]) : v), 0) >>> 0,
    fromInt: (value, field = typeName) => {
      const reserved = (value & ~defined) >>> 0;
      if (reserved !== 0) {
        throw new TpmFormatError(
          field,
          `reserved bit(s) 0x${reserved.toString(16).padStart(8, "0")} are set`,
        );
      }
      const out = {} as Record<N, boolean>;
      for (const n of names) out[n] = (value & (1 << bits[n])) !== 0;
      return out;
    },
    list: (flags) => names.filter((n) => flags[n]),
  };
}
