import { stringify } from "yaml";
import type { z } from "zod";

/**
 * A config document as YAML, keys in the order given. No line folding: a long path stays on its
 * line, where an operator (or a test editing the text) finds it.
 */
export function configYaml(doc: Readonly<Record<string, unknown>>, header?: string): string {
  const body = stringify(doc, { lineWidth: 0, minContentWidth: 0 });
  return header === undefined ? body : `${header.replace(/^/gm, "# ")}\n${body}`;
}

/**
 * `{ [key]: value }` when this build's config schema has `key` at the top level, else nothing: a
 * generated config may then name a block that a newer build knows (metrics), and still load in a
 * build that does not have it (an unknown key is refused).
 */
export function ifSchemaHas<K extends string, V>(
  schema: z.ZodObject,
  key: K,
  value: V,
): Partial<Record<K, V>> {
  return Object.hasOwn(schema.shape, key) ? ({ [key]: value } as Record<K, V>) : {};
}
