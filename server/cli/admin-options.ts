import { Option, type Command } from "commander";
import { parseDuration } from "../../common/config/duration.js";
import { HallmarkError } from "../../common/errors.js";
import { parseSelector } from "../../common/selector.js";
import { outputOption, type OutputFormat } from "../../common/cli/output.js";
import type * as pb from "../../proto/gen/admin.js";
import { DEFAULT_ADMIN_SOCKET } from "./admin-client.js";

export class CliUsageError extends HallmarkError<"INVALID_FLAG"> {
  constructor(flag: string, reason: string) {
    super("INVALID_FLAG", `${flag}: ${reason}`, { category: "invalid_argument" });
  }
}

export interface CommonOptions {
  socketPath: string;
  output: OutputFormat;
}

/** `--socket-path` and `--output`, which every admin command takes. */
export function withCommonOptions(command: Command): Command {
  return command
    .addOption(new Option("--socket-path <path>", "the admin API socket").default(DEFAULT_ADMIN_SOCKET))
    .addOption(outputOption());
}

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export function selectorsOf(flag: string, values: readonly string[] | undefined): pb.Selector[] {
  return (values ?? []).map((text) => {
    try {
      const { type, value } = parseSelector(text);
      return { type, value };
    } catch (err) {
      throw new CliUsageError(flag, (err as Error).message);
    }
  });
}

/** SPIRE takes TTLs as seconds; a duration with its unit (`90s`, `1h`) is accepted too. */
export function ttlSeconds(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (/^\d+$/.test(value)) return Number(value);
  try {
    const ms = parseDuration(value);
    if (ms % 1000 !== 0) throw new Error("must be whole seconds");
    return ms / 1000;
  } catch (err) {
    throw new CliUsageError(
      flag,
      `${JSON.stringify(value)} is not a TTL (seconds, or a duration like 1h): ${(err as Error).message}`,
    );
  }
}
