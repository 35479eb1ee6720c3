/**
 * A reader for the Dockerfile forms hallmark's own Dockerfile uses, so a test can check what can be
 * checked without Docker: stages, users, what each COPY takes and from where. Forms it does not
 * know (heredocs, ONBUILD, shell-form JSON mixups) are refused by name rather than misread.
 */

export interface Instruction {
  /** Upper-case keyword: FROM, RUN, COPY, ... */
  readonly keyword: string;
  /** The rest of the instruction, continuation lines joined with a space. */
  readonly rest: string;
  /** 1-based line where the instruction starts. */
  readonly line: number;
}

export interface Copy {
  /** `--from=` stage name, or undefined for the build context. */
  readonly from: string | undefined;
  readonly sources: readonly string[];
  readonly destination: string;
  readonly line: number;
}

export interface Stage {
  readonly image: string;
  readonly name: string | undefined;
  readonly instructions: readonly Instruction[];
}

export class DockerfileFormError extends Error {}

const KNOWN = new Set([
  "FROM",
  "RUN",
  "COPY",
  "WORKDIR",
  "USER",
  "ENV",
  "ARG",
  "EXPOSE",
  "ENTRYPOINT",
  "CMD",
  "LABEL",
  "VOLUME",
  "HEALTHCHECK",
  "STOPSIGNAL",
  "SHELL",
]);

/** Splits the file into instructions: comments dropped, `\` continuations joined. */
export function parseInstructions(text: string): Instruction[] {
  const out: Instruction[] = [];
  let pending: { parts: string[]; line: number } | undefined;
  text.split("\n").forEach((raw, index) => {
    const trimmed = raw.trim();
    if (trimmed.startsWith("#") || (trimmed === "" && pending === undefined)) return;
    const continues = trimmed.endsWith("\\");
    const body = continues ? trimmed.slice(0, -1).trim() : trimmed;
    if (pending === undefined) pending = { parts: [], line: index + 1 };
    if (body !== "") pending.parts.push(body);
    if (continues) return;
    const joined = pending.parts.join(" ");
    const match = /^(\S+)\s*(.*)$/.exec(joined);
    if (match === null) throw new DockerfileFormError(`line ${pending.line}: empty instruction`);
    const keyword = (match[1] ?? "").toUpperCase();
    if (!KNOWN.has(keyword)) {
      throw new DockerfileFormError(
        `line ${pending.line}: instruction ${keyword} is not one this reader knows`,
      );
    }
    if ((match[2] ?? "").includes("<<")) {
      throw new DockerfileFormError(`line ${pending.line}: heredocs are not supported by this reader`);
    }
    out.push({ keyword, rest: match[2] ?? "", line: pending.line });
    pending = undefined;
  });
  if (pending !== undefined) throw new DockerfileFormError("the file ends inside a continued line");
  return out;
}

/** The stages, each with its own instructions (anything before the first FROM must be ARG). */
export function parseStages(text: string): Stage[] {
  const stages: { image: string; name: string | undefined; instructions: Instruction[] }[] = [];
  for (const instruction of parseInstructions(text)) {
    if (instruction.keyword === "FROM") {
      const words = instruction.rest.split(/\s+/).filter((w) => !w.startsWith("--"));
      const [image, as, name] = words;
      if (image === undefined || (as !== undefined && (as.toUpperCase() !== "AS" || name === undefined))) {
        throw new DockerfileFormError(`line ${instruction.line}: FROM IMAGE [AS NAME] expected`);
      }
      stages.push({ image, name, instructions: [] });
      continue;
    }
    const current = stages.at(-1);
    if (current === undefined) {
      if (instruction.keyword === "ARG") continue;
      throw new DockerfileFormError(`line ${instruction.line}: ${instruction.keyword} before any FROM`);
    }
    current.instructions.push(instruction);
  }
  return stages;
}

/** A COPY's flags, sources and destination (shell form or JSON form). */
export function parseCopy(instruction: Instruction): Copy {
  let words: string[];
  const flags: string[] = [];
  let rest = instruction.rest;
  while (rest.startsWith("--")) {
    const [flag = "", ...others] = rest.split(/\s+/);
    flags.push(flag);
    rest = others.join(" ");
  }
  if (rest.startsWith("[")) {
    const parsed: unknown = JSON.parse(rest);
    if (!Array.isArray(parsed) || !parsed.every((p) => typeof p === "string")) {
      throw new DockerfileFormError(`line ${instruction.line}: COPY's JSON form must be an array of strings`);
    }
    words = parsed;
  } else {
    words = rest.split(/\s+/).filter((w) => w !== "");
  }
  if (words.length < 2) {
    throw new DockerfileFormError(`line ${instruction.line}: COPY needs a source and a destination`);
  }
  const from = flags.find((f) => f.startsWith("--from="))?.slice("--from=".length);
  return { from, sources: words.slice(0, -1), destination: words.at(-1) ?? "", line: instruction.line };
}

/** The working directory in force at each instruction of a stage (WORKDIR, default `/`). */
export function workdirAt(stage: Stage, instruction: Instruction): string {
  let dir = "/";
  for (const i of stage.instructions) {
    if (i === instruction) break;
    if (i.keyword === "WORKDIR")
      dir = i.rest.startsWith("/") ? i.rest : `${dir.replace(/\/$/, "")}/${i.rest}`;
  }
  return dir;
}
