import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Selector, canonicalSelectors } from "./selector.js";

describe("Selector", () => {
  it("parses type:value at the first colon, keeping colons in the value", () => {
    const s = Selector.parse("unix:uid:1000");
    assert.equal(s.type, "unix");
    assert.equal(s.value, "uid:1000");
    assert.equal(String(s), "unix:uid:1000");
    assert.equal(Selector.parse("tpm:ek_hash:ab").isNodeSelector, true);
    assert.equal(s.isNodeSelector, false);
  });

  const refused: [string, RegExp][] = [
    ["uid:1000", /unknown type "uid"/],
    ["unix", /expected "type:value"/],
    [":x", /expected "type:value"/],
    ["unix:", /value is empty/],
    ["unix:uid:1\nforged", /control character/],
    [`unix:${"a".repeat(2000)}`, /longer than 1024/],
  ];
  for (const [input, message] of refused) {
    it(`refuses ${JSON.stringify(input.slice(0, 20))} with a typed error`, () => {
      assert.throws(() => Selector.parse(input), { code: "INVALID_SELECTOR", message });
    });
  }

  it("canonical form is sorted and without duplicates", () => {
    const set = ["unix:uid:1", "cgroup:path:/a", "unix:uid:1"].map((t) => Selector.parse(t));
    assert.deepEqual(canonicalSelectors(set), ["cgroup:path:/a", "unix:uid:1"]);
  });
});
