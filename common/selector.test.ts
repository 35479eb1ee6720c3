import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  InvalidSelectorError,
  NODE_SELECTOR_TYPES,
  canonicalSelectorSet,
  formatSelector,
  isKnownSelectorType,
  parseSelector,
} from "./selector.js";

describe("selectors", () => {
  it("parse type:value at the first colon, so a value may hold colons", () => {
    assert.deepEqual(parseSelector("unix:uid:1000"), { type: "unix", value: "uid:1000" });
    assert.deepEqual(parseSelector("tpm:pcr:sha256:7:ab"), { type: "tpm", value: "pcr:sha256:7:ab" });
    assert.equal(formatSelector(parseSelector("k8s:ns:default")), "k8s:ns:default");
  });

  it("refuse what is not type:value, naming the problem", () => {
    const cases: [string, RegExp][] = [
      ["unix", /no colon/],
      [":uid:1", /type is empty/],
      ["unix:", /value is empty/],
      ["Unix:uid:1", /only a-z/],
      ["unix:uid\n1", /control character/],
      [`unix:${"x".repeat(1025)}`, /longer than 1024 bytes/],
    ];
    for (const [text, reason] of cases) {
      assert.throws(
        () => parseSelector(text),
        (err: unknown) =>
          err instanceof InvalidSelectorError &&
          err.category === "invalid_argument" &&
          reason.test(err.message),
        text,
      );
    }
  });

  it("have one canonical set form: checked, without duplicates, sorted by type then value", () => {
    const set = canonicalSelectorSet([
      { type: "unix", value: "uid:2" },
      { type: "k8s", value: "ns:a" },
      { type: "unix", value: "uid:10" },
      { type: "unix", value: "uid:2" },
    ]);
    assert.deepEqual(set.map(formatSelector), ["k8s:ns:a", "unix:uid:10", "unix:uid:2"]);
    assert.ok(Object.isFrozen(set) && Object.isFrozen(set[0]));
    assert.throws(() => canonicalSelectorSet([{ type: "unix" }]), InvalidSelectorError);
  });

  it("knows which types hallmark's attestors produce, and which of them describe nodes", () => {
    for (const t of ["unix", "cgroup", "systemd", "tpm"]) assert.ok(isKnownSelectorType(t), t);
    for (const t of ["k8s", "docker", "Unix", ""]) assert.ok(!isKnownSelectorType(t), t);
    assert.deepEqual([...NODE_SELECTOR_TYPES], ["tpm"]);
  });
});
