import { Option } from "commander";

/** Every command prints readable text by default and a single JSON document with `--output json`. */
export type OutputFormat = "text" | "json";

export function outputOption(): Option {
  return new Option("-o, --output <format>", "output format").choices(["text", "json"]).default("text");
}

export interface OutputSink {
  write(chunk: string): void;
}

/** Prints `data` as JSON, or as the lines `renderText` makes of it. */
export function printResult<T>(
  format: OutputFormat,
  data: T,
  renderText: (data: T) => string[],
  out: OutputSink = process.stdout,
): void {
  if (format === "json") {
    out.write(`${JSON.stringify(data, null, 2)}\n`);
    return;
  }
  for (const line of renderText(data)) out.write(`${line}\n`);
}

/** Aligned `Label : value` lines, the way SPIRE's CLI prints a record. */
export function renderFields(
  fields: readonly (readonly [string, string | number | boolean | null | undefined])[],
): string[] {
  const width = Math.max(0, ...fields.map(([label]) => label.length));
  return fields
    .filter(([, value]) => value !== undefined)
    .map(([label, value]) => `${label.padEnd(width)} : ${value === null ? "-" : String(value)}`);
}
