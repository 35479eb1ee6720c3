import { readFile } from "node:fs/promises";
import { parseDocument } from "yaml";
import type { z } from "zod";
import { HallmarkError } from "../errors.js";

/** A config file that cannot be read, parsed or validated; the message names the file and key. */
export class ConfigError extends HallmarkError<"CONFIG_INVALID"> {
  readonly problems: readonly string[];

  constructor(source: string, problems: readonly string[], options: { cause?: unknown } = {}) {
    super("CONFIG_INVALID", `${source}: ${problems.join("; ")}`, {
      category: "invalid_argument",
      cause: options.cause,
    });
    this.problems = problems;
  }
}

function formatPath(path: readonly PropertyKey[]): string {
  return path
    .map((p, i) => (typeof p === "number" ? `[${p}]` : `${i === 0 ? "" : "."}${String(p)}`))
    .join("");
}

/** One line per problem, each naming the key path as the file spells it. */
export function describeIssues(issues: readonly z.core.$ZodIssue[]): string[] {
  return issues.flatMap((issue) => {
    if (issue.code === "unrecognized_keys") {
      return issue.keys.map((key) => `${formatPath([...issue.path, key])}: unknown key`);
    }
    const where = issue.path.length === 0 ? "(top level)" : formatPath(issue.path);
    return [`${where}: ${issue.message}`];
  });
}

/** Parses YAML text and validates it against `schema`; `source` names the file in errors. */
export function parseConfig<S extends z.ZodType>(text: string, schema: S, source: string): z.output<S> {
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      source,
      doc.errors.map((e) => e.message.split("\n")[0] ?? e.message),
    );
  }
  const raw: unknown = doc.toJS() ?? {};
  const result = schema.safeParse(raw);
  if (!result.success) throw new ConfigError(source, describeIssues(result.error.issues));
  return result.data;
}

export async function loadConfigFile<S extends z.ZodType>(path: string, schema: S): Promise<z.output<S>> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === "ENOENT" ? "file not found" : code === "EACCES" ? "permission denied" : "cannot be read";
    throw new ConfigError(path, [why], { cause: err });
  }
  return parseConfig(text, schema, path);
}
