import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { parse } from "yaml";
import { z } from "zod";
import { configYaml, ifSchemaHas } from "./config-yaml.js";

describe("configYaml", () => {
  it("keeps a long path on its line, keys in order, and a header as comments", () => {
    const long = `/${"a".repeat(150)}/api.sock`;
    const text = configYaml({ b: 1, socket_path: long, a: { x: "0001" } }, "made by a test\nsecond line");
    assert.equal(text.split("\n")[0], "# made by a test");
    assert.equal(text.split("\n")[1], "# second line");
    assert.ok(text.includes(`socket_path: ${long}\n`), text);
    assert.deepEqual(Object.keys(parse(text) as object), ["b", "socket_path", "a"]);
    assert.deepEqual(
      parse(text),
      { b: 1, socket_path: long, a: { x: "0001" } },
      "a digit string stays a string",
    );
  });
});

describe("ifSchemaHas", () => {
  const block = { bind_address: "127.0.0.1", bind_port: 9988 };

  it("gives the block when the schema has the key", () => {
    const schema = z.strictObject({
      metrics: z.strictObject({ bind_address: z.string(), bind_port: z.number() }),
    });
    assert.deepEqual(ifSchemaHas(schema, "metrics", block), { metrics: block });
    assert.equal(schema.safeParse({ ...ifSchemaHas(schema, "metrics", block) }).success, true);
  });

  it("gives nothing when the schema does not have it, so the config still loads", () => {
    const schema = z.strictObject({ trust_domain: z.string() });
    const doc = { trust_domain: "example.org", ...ifSchemaHas(schema, "metrics", block) };
    assert.deepEqual(doc, { trust_domain: "example.org" });
    assert.equal(schema.safeParse(doc).success, true);
  });
});
