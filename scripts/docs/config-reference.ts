import { z } from "zod";
import { DURATION_FORMAT } from "../../common/config/schema.js";
import { HallmarkError } from "../../common/errors.js";
import { code, generatedNotice, table } from "./markdown.js";

type JsonSchema = z.core.JSONSchema.BaseSchema;

export class ConfigReferenceError extends HallmarkError<
  "CONFIG_KEY_UNDESCRIBED" | "CONFIG_SCHEMA_UNREADABLE"
> {}

/** One config file the reference documents: its name, the schema that reads it, and where that is. */
export interface ConfigFile {
  readonly file: string;
  readonly source: string;
  readonly schema: z.ZodType;
}

/** A key as the reference lists it. */
export interface ConfigKey {
  /** Full path, `.` between keys, `[]` for a list's items, `<name>` for a map's keys. */
  readonly path: string;
  readonly type: string;
  /** Required whenever the block holding it is given. */
  readonly required: boolean;
  /** The value used when the key is absent, as YAML would write it. */
  readonly default: unknown;
  readonly description: string;
}

/**
 * The config file's keys, from zod's JSON Schema of what the operator writes (`io: "input"`), so a
 * key added to a schema is listed with no change here. Refuses a key with no `.describe()`: its
 * line in the reference would be empty.
 */
export function configKeys(schema: z.ZodType): ConfigKey[] {
  const json = toInputJsonSchema(schema);
  const keys: ConfigKey[] = [];
  collectKeys(json, "", keys);
  return keys;
}

function toInputJsonSchema(schema: z.ZodType): JsonSchema {
  try {
    return z.toJSONSchema(schema, {
      io: "input",
      unrepresentable: "throw",
      // zod drops a `.default()` over a transform on the input side (the default is an output value);
      // it is still what an absent key means, so the reference shows it.
      override: ({ zodSchema, jsonSchema }) => {
        const def = zodSchema._zod.def;
        if (def.type === "default" && jsonSchema.default === undefined) {
          const value: unknown = def.defaultValue;
          jsonSchema.default = JSON.parse(JSON.stringify(value)) as unknown;
        }
      },
    });
  } catch (err) {
    throw new ConfigReferenceError(
      "CONFIG_SCHEMA_UNREADABLE",
      `a config schema has no JSON Schema form: ${(err as Error).message}`,
      { cause: err },
    );
  }
}

function collectKeys(schema: JsonSchema, prefix: string, out: ConfigKey[]): void {
  const required = new Set(schema.required ?? []);
  for (const [name, property] of Object.entries(schema.properties ?? {})) {
    if (typeof property === "boolean") continue;
    const path = prefix === "" ? name : `${prefix}.${name}`;
    if (property.description === undefined || property.description.trim() === "") {
      throw new ConfigReferenceError(
        "CONFIG_KEY_UNDESCRIBED",
        `config key ${path} has no description: give it a .describe() in its schema`,
      );
    }
    out.push({
      path,
      type: typeName(property),
      required: required.has(name),
      default: property.default,
      description: property.description,
    });
    for (const [childPrefix, child] of nestedBlocks(property, path)) collectKeys(child, childPrefix, out);
  }
}

/** The object schemas inside a key, each with the path prefix its keys get. */
function nestedBlocks(schema: JsonSchema, path: string): [string, JsonSchema][] {
  const blocks: [string, JsonSchema][] = [];
  if (schema.properties !== undefined) blocks.push([path, schema]);
  const items = schema.items;
  if (items !== undefined && typeof items !== "boolean" && !Array.isArray(items)) {
    blocks.push(...nestedBlocks(items, `${path}[]`));
  }
  const values = schema.additionalProperties;
  if (values !== undefined && typeof values !== "boolean") {
    blocks.push(...nestedBlocks(values, `${path}.<name>`));
  }
  for (const branch of schema.anyOf ?? schema.oneOf ?? []) {
    if (typeof branch !== "boolean") blocks.push(...nestedBlocks(branch, path));
  }
  return blocks;
}

/** The type as an operator reads it: `duration (1m to 30d)`, `list of string`, `one of a, b`. */
export function typeName(schema: JsonSchema): string {
  if (schema.format === DURATION_FORMAT)
    return withBounds("duration", schema.durationMin, schema.durationMax);
  if (schema.enum !== undefined) return `one of ${schema.enum.map((v) => code(String(v))).join(", ")}`;
  if (schema.const !== undefined) return `exactly ${code(JSON.stringify(schema.const))}`;
  const branches = schema.anyOf ?? schema.oneOf;
  if (branches !== undefined) {
    return branches.map((b) => (typeof b === "boolean" ? "anything" : typeName(b))).join(", or ");
  }
  const types = Array.isArray(schema.type) ? schema.type : schema.type === undefined ? [] : [schema.type];
  if (types.length === 0) return "anything";
  return types.map((t) => singleTypeName(t, schema)).join(" or ");
}

function singleTypeName(type: string, schema: JsonSchema): string {
  switch (type) {
    case "integer":
    case "number":
      return withBounds(type, realBound(schema.minimum), realBound(schema.maximum));
    case "array": {
      const items = schema.items;
      const of =
        items === undefined || typeof items === "boolean" || Array.isArray(items)
          ? "anything"
          : typeName(items);
      const min = schema.minItems ?? 0;
      return min === 0
        ? `list of ${of}`
        : min === 1
          ? `non-empty list of ${of}`
          : `list of at least ${min}: ${of}`;
    }
    case "object": {
      const values = schema.additionalProperties;
      if (values !== undefined && typeof values !== "boolean") {
        const names = schema.propertyNames;
        const keyType = names === undefined || typeof names === "boolean" ? "string" : typeName(names);
        return `map of ${keyType} to ${typeName(values)}`;
      }
      return "block";
    }
    default:
      return type;
  }
}

function withBounds(name: string, minimum: unknown, maximum: unknown): string {
  const min = boundText(minimum);
  const max = boundText(maximum);
  if (min !== undefined && max !== undefined) return `${name}, ${min} to ${max}`;
  if (min !== undefined) return `${name}, at least ${min}`;
  if (max !== undefined) return `${name}, at most ${max}`;
  return name;
}

/** A bound as written in the schema (`8081`, `1m`); anything else is no bound. */
function boundText(bound: unknown): string | undefined {
  return typeof bound === "string" || typeof bound === "number" ? String(bound) : undefined;
}

/** `.int()` says "from -(2^53 - 1) to 2^53 - 1", which is no limit anyone configures. */
function realBound(bound: number | undefined): number | undefined {
  return bound === undefined || Math.abs(bound) === Number.MAX_SAFE_INTEGER ? undefined : bound;
}

function defaultCell(key: ConfigKey): string {
  if (key.required) return "**required**";
  const value = key.default;
  if (value === undefined) return "unset";
  if (typeof value === "object" && value !== null && !Array.isArray(value)) {
    // `{}`: the block may be left out; its own keys say what that means.
    return Object.keys(value).length === 0 ? "unset" : code(JSON.stringify(value));
  }
  if (Array.isArray(value)) return code(`[${value.map((v) => JSON.stringify(v)).join(", ")}]`);
  return code(typeof value === "string" ? value : JSON.stringify(value));
}

/** `docs/configuration.md`: every key of every config file, with its type, default and description. */
export function renderConfigReference(files: readonly ConfigFile[]): string {
  const lines = [
    "# Configuration reference",
    "",
    generatedNotice(files.map((f) => code(f.source))),
    "",
    "hallmark's config files are YAML with snake_case keys, passed as `--config FILE`. The conventions,",
    "for every file:",
    "",
    "- A key not listed here is an error naming its full path (`key_manager.pkcs11.pin: unknown key`).",
    "- **required** means required whenever the block holding the key is given; a block that is not",
    "  required may be left out whole.",
    "- A duration is written like Go's: `90s`, `5m`, `1h30m`, `24h`; a bare number is refused.",
    "- Secrets, such as an HSM PIN or a database password, are never config values: a key names the",
    "  environment variable or the file that holds them.",
    "- Some keys depend on each other (give exactly one of `token_label` and `slot`, an SVID lifetime",
    "  at most half of `ca_ttl`, ...): the description says so, and a config that breaks such a rule is",
    "  refused with a message naming the keys.",
    "",
    "Contents:",
    "",
    ...files.map((f) => `- [${f.file}](#${f.file.replace(/\./g, "")})`),
  ];
  for (const file of files) {
    const keys = configKeys(file.schema);
    lines.push(
      "",
      `## ${file.file}`,
      "",
      `Read by ${code(file.source)}.`,
      "",
      ...table(
        ["key", "type", "default", "description"],
        keys.map((k) => [code(k.path), k.type, defaultCell(k), k.description]),
      ),
    );
  }
  return `${lines.join("\n")}\n`;
}
