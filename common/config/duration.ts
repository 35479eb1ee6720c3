import { HallmarkError } from "../errors.js";

/** A span of time in milliseconds, as parsed from a config value such as `90s` or `1h30m`. */
export type DurationMs = number & { readonly __unit: "ms" };

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
type Unit = keyof typeof UNIT_MS;

export class DurationError extends HallmarkError<"INVALID_DURATION"> {
  constructor(input: string, reason: string) {
    super("INVALID_DURATION", `invalid duration "${input}": ${reason}`, { category: "invalid_argument" });
  }
}

/**
 * Parses Go-style durations as SPIRE configs write them: one or more `<integer><unit>` parts,
 * largest unit first (`90s`, `5m`, `1h30m`, `24h`, `7d`, `250ms`). A bare number is refused: the
 * unit is what tells a reader whether `300` meant seconds or milliseconds.
 */
export function parseDuration(input: string): DurationMs {
  const text = input.trim();
  if (text === "") throw new DurationError(input, "empty");
  const part = /(\d+)(ms|s|m|h|d)/y;
  let total = 0;
  let lastUnitMs = Infinity;
  let at = 0;
  while (at < text.length) {
    part.lastIndex = at;
    const match = part.exec(text);
    if (!match) {
      const rest = text.slice(at);
      throw new DurationError(
        input,
        /^\d+$/.test(rest) ? "a unit is required (ms, s, m, h, d)" : `unexpected "${rest}"`,
      );
    }
    const unitMs = UNIT_MS[match[2] as Unit];
    if (unitMs >= lastUnitMs)
      throw new DurationError(input, "units must go from largest to smallest, once each");
    lastUnitMs = unitMs;
    total += Number(match[1]) * unitMs;
    at = part.lastIndex;
  }
  if (!Number.isSafeInteger(total)) throw new DurationError(input, "too large");
  return total as DurationMs;
}

/** The shortest exact Go-style spelling of a duration, for messages and `--output` of configs. */
export function formatDuration(ms: number): string {
  if (ms === 0) return "0s";
  const parts: string[] = [];
  let rest = ms;
  for (const unit of ["d", "h", "m", "s", "ms"] as const) {
    const size = UNIT_MS[unit];
    const n = Math.floor(rest / size);
    if (n > 0) {
      parts.push(`${n}${unit}`);
      rest -= n * size;
    }
  }
  return parts.join("");
}
