import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { repoRoot } from "../../../test/fixtures/hallmark-binaries.js";
import { parseGroup, parsePasswd } from "./account-files.js";

const etc = (name: string) => readFileSync(join(repoRoot, "attestors/workload/testdata/etc", name), "utf8");

describe("parsePasswd", () => {
  it("maps each UID to the name of its first line, passing over comments, blanks and NIS lines, counting malformed ones", () => {
    const { names, malformedLines } = parsePasswd(etc("passwd"));
    assert.deepEqual(
      [...names],
      [
        [0, "root"],
        [1, "daemon"],
        [33, "www-data"],
        [65534, "nobody"],
        [1000, "alice"],
        [998, "svc-agent"],
      ],
    );
    // broken (3 fields), badid, toolarge (UID 2^32-1 is "no UID"), the empty name.
    assert.equal(malformedLines, 4);
  });

  const malformed: [string, string][] = [
    ["too few fields", "a:x:1:1:g:/h"],
    ["too many fields", "a:x:1:1:g:/h:/s:extra"],
    ["an empty UID", "a:x::1:g:/h:/s"],
    ["a negative UID", "a:x:-1:1:g:/h:/s"],
    ["a UID with a sign", "a:x:+1:1:g:/h:/s"],
    ["a UID past 32 bits", "a:x:99999999999:1:g:/h:/s"],
    ["an empty name", ":x:1:1:g:/h:/s"],
  ];
  for (const [what, line] of malformed) {
    it(`passes over a line with ${what}`, () => {
      assert.deepEqual(parsePasswd(`${line}\nok:x:5:5:g:/h:/s\n`), {
        names: new Map([[5, "ok"]]),
        malformedLines: 1,
      });
    });
  }

  it("reads the largest UID there is (2^32-2) and a file without a final newline", () => {
    assert.deepEqual([...parsePasswd("big:x:4294967294:1:g:/h:/s").names], [[4294967294, "big"]]);
  });

  it("gives nothing for an empty file", () => {
    assert.deepEqual(parsePasswd(""), { names: new Map(), malformedLines: 0 });
  });
});

describe("parseGroup", () => {
  it("maps each GID to its group's name", () => {
    const { names, malformedLines } = parseGroup(etc("group"));
    assert.deepEqual(
      [...names],
      [
        [0, "root"],
        [1, "daemon"],
        [27, "sudo"],
        [33, "www-data"],
        [100, "users"],
        [999, "docker"],
        [998, "svc-agent"],
        [65534, "nogroup"],
        [1000, "alice"],
      ],
    );
    assert.equal(malformedLines, 1);
  });

  it("reads members lists with commas and no members at all", () => {
    assert.deepEqual(
      [...parseGroup("adm:x:4:syslog,alice\nx:x:5:\n").names],
      [
        [4, "adm"],
        [5, "x"],
      ],
    );
  });
});
