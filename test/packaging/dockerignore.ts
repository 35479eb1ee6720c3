/**
 * `.dockerignore` as far as hallmark's uses it: one pattern a line, `*` and `?` within a path
 * segment, `**` for any number of segments; a pattern that excludes a folder excludes what is in it.
 * Exceptions (`!pattern`) change what later lines mean, so a file that uses them is refused here
 * rather than half understood.
 */
export class DockerignoreFormError extends Error {}

export type IgnoreMatcher = (path: string) => boolean;

export function parseDockerignore(text: string): IgnoreMatcher {
  const patterns = text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"));
  const regexes = patterns.map((pattern) => {
    if (pattern.startsWith("!")) {
      throw new DockerignoreFormError(`${pattern}: exceptions are not supported by this reader`);
    }
    if (/[[\]{}\\]/.test(pattern)) {
      throw new DockerignoreFormError(`${pattern}: character classes and escapes are not supported`);
    }
    const segments = pattern.replace(/^\/+/, "").replace(/\/+$/, "").split("/");
    const source = segments
      .map((s) =>
        s === "**"
          ? "(?:[^/]+/)*"
          : `${s
              .replace(/[.+^$()|]/g, "\\$&")
              .replace(/\*/g, "[^/]*")
              .replace(/\?/g, "[^/]")}/`,
      )
      .join("");
    return new RegExp(`^${source.replace(/\/$/, "")}$`);
  });
  return (path) => {
    const segments = path
      .replace(/^\.?\/+/, "")
      .replace(/\/+$/, "")
      .split("/");
    // The path itself or any folder above it.
    for (let n = 1; n <= segments.length; n++) {
      const prefix = segments.slice(0, n).join("/");
      if (regexes.some((r) => r.test(prefix))) return true;
    }
    return false;
  };
}
