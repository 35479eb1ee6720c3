import { stringify } from "yaml";

/**
 * A config document as YAML, keys in the order given. No line folding: a long path stays on its
 * line, where an operator (or a test editing the text) finds it.
 */
export function configYaml(doc: Readonly<Record<string, unknown>>, header?: string): string {
  const body = stringify(doc, { lineWidth: 0, minContentWidth: 0 });
  return header === undefined ? body : `${header.replace(/^/gm, "# ")}\n${body}`;
}
