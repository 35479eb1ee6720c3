import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { parse } from "yaml";
import { configYaml } from "./config-yaml.js";

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
