import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { describe, it } from "node:test";
import { z } from "zod";
import { agentConfigSchema } from "../../agent/config/schema.js";
import { packageRoot } from "../../common/cli/program.js";
import { duration } from "../../common/config/schema.js";
import { serverConfigSchema } from "../../server/config/schema.js";
import { ConfigReferenceError, configKeys, renderConfigReference } from "./config-reference.js";

const sample = z.strictObject({
  name: z.string().describe("A required name."),
  port: z.number().int().min(1).max(65535).default(8081).describe("A port."),
  ttl: duration({ min: "1m", max: "30d" }).prefault("1h").describe("A lifetime."),
  level: z.enum(["info", "debug"]).default("info").describe("How much to log."),
  on: z.boolean().default(false).describe("A switch."),
  store: z
    .strictObject({
      path: z.string().optional().describe("Where it is."),
      pool: z.strictObject({ size: z.number().int().describe("How many.") }).describe("A required block."),
    })
    .optional()
    .describe("An optional block."),
  peers: z
    .array(z.strictObject({ host: z.string().describe("A peer's host.") }))
    .min(1)
    .optional()
    .describe("Peers."),
  policy: z
    .record(z.string(), z.strictObject({ allow: z.boolean().describe("Allowed?") }))
    .optional()
    .describe("Per name."),
  files: z
    .union([z.string(), z.array(z.string())])
    .optional()
    .describe("One path or several."),
  hashes: z
    .array(z.string().transform((s) => s.toLowerCase()))
    .default([])
    .describe("Hex digests."),
});

describe("configKeys", () => {
  it("lists every key by its full path with its type, required-ness, default and description", () => {
    const keys = configKeys(sample);
    const row = (path: string): unknown => {
      const key = keys.find((k) => k.path === path);
      assert.ok(key !== undefined, `${path} is listed`);
      return [key.type, key.required, key.default, key.description];
    };
    assert.deepEqual(
      keys.map((k) => k.path),
      [
        "name",
        "port",
        "ttl",
        "level",
        "on",
        "store",
        "store.path",
        "store.pool",
        "store.pool.size",
        "peers",
        "peers[].host",
        "policy",
        "policy.<name>.allow",
        "files",
        "hashes",
      ],
    );
    assert.deepEqual(row("name"), ["string", true, undefined, "A required name."]);
    assert.deepEqual(row("port"), ["integer, 1 to 65535", false, 8081, "A port."]);
    assert.deepEqual(row("ttl"), ["duration, 1m to 30d", false, "1h", "A lifetime."]);
    assert.deepEqual(row("level"), ["one of `info`, `debug`", false, "info", "How much to log."]);
    assert.deepEqual(row("on"), ["boolean", false, false, "A switch."]);
    assert.deepEqual(row("store"), ["block", false, undefined, "An optional block."]);
    assert.deepEqual(row("store.pool"), ["block", true, undefined, "A required block."]);
    assert.deepEqual(row("store.pool.size"), ["integer", true, undefined, "How many."]);
    assert.deepEqual(row("peers"), ["non-empty list of block", false, undefined, "Peers."]);
    assert.deepEqual(row("peers[].host"), ["string", true, undefined, "A peer's host."]);
    assert.deepEqual(row("policy"), ["map of string to block", false, undefined, "Per name."]);
    assert.deepEqual(row("files"), ["string, or list of string", false, undefined, "One path or several."]);
    // zod leaves out a default over a transform on the input side; the reference still shows it.
    assert.deepEqual(row("hashes"), ["list of string", false, [], "Hex digests."]);
  });

  it("needs no change for a key added to a schema", () => {
    const extended = sample.extend({
      metrics: z
        .strictObject({ bind_port: z.number().int().default(9090).describe("Port of /metrics.") })
        .optional()
        .describe("Prometheus metrics."),
    });
    const keys = configKeys(extended).map((k) => k.path);
    assert.ok(keys.includes("metrics") && keys.includes("metrics.bind_port"));
    assert.match(
      renderConfigReference([{ file: "x.yaml", source: "x.ts", schema: extended }]),
      /`metrics.bind_port`/,
    );
  });

  it("refuses a key without a description, naming its path", () => {
    const undescribed = z.strictObject({ store: z.strictObject({ path: z.string() }).describe("A block.") });
    assert.throws(
      () => configKeys(undescribed),
      (err: unknown) =>
        err instanceof ConfigReferenceError &&
        err.code === "CONFIG_KEY_UNDESCRIBED" &&
        err.message.includes("store.path"),
    );
  });
});

/** Key paths read from zod's own object shapes, independently of the JSON Schema the reference uses. */
function shapePaths(schema: z.ZodType, prefix = ""): string[] {
  let s: z.ZodType = schema;
  for (;;) {
    if (s instanceof z.ZodOptional || s instanceof z.ZodDefault || s instanceof z.ZodPrefault)
      s = s.unwrap() as z.ZodType;
    else if (s instanceof z.ZodPipe) s = s.in as z.ZodType;
    else break;
  }
  if (s instanceof z.ZodObject) {
    return Object.entries(s.shape as Record<string, z.ZodType>).flatMap(([name, child]) => {
      const path = prefix === "" ? name : `${prefix}.${name}`;
      return [path, ...shapePaths(child, path)];
    });
  }
  if (s instanceof z.ZodArray) return shapePaths(s.element as z.ZodType, `${prefix}[]`);
  if (s instanceof z.ZodRecord) return shapePaths(s.valueType as z.ZodType, `${prefix}.<name>`);
  if (s instanceof z.ZodUnion)
    return [...new Set((s.options as z.ZodType[]).flatMap((o) => shapePaths(o, prefix)))];
  return [];
}

describe("the configuration reference of server.yaml and agent.yaml", () => {
  for (const [file, schema] of [
    ["server.yaml", serverConfigSchema],
    ["agent.yaml", agentConfigSchema],
  ] as const) {
    it(`lists every key of ${file} that the schema reads, in docs/configuration.md`, async () => {
      const listed = configKeys(schema).map((k) => k.path);
      const read = shapePaths(schema);
      assert.deepEqual([...listed].sort(), [...read].sort());
      assert.ok(read.includes(file === "server.yaml" ? "key_manager.pkcs11.token_label" : "tpm.device_path"));
      const doc = await readFile(new URL("docs/configuration.md", packageRoot()), "utf8");
      const start = doc.indexOf(`\n## ${file}\n`);
      assert.notEqual(start, -1, `docs/configuration.md has a section for ${file}`);
      const end = doc.indexOf("\n## ", start + 1);
      const table = doc.slice(start, end === -1 ? undefined : end);
      for (const path of read)
        assert.ok(table.includes(`| \`${path}\` |`), `${path} is in the ${file} table`);
    });
  }
});
