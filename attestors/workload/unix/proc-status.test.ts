import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { parseStatusGroups } from "./proc-status.js";

/** A status file as Linux 6.x writes it, shortened. */
const status = (groups: string) =>
  `Name:\tnode\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t4242\nPid:\t4242\nPPid:\t1\n` +
  `Uid:\t1000\t1000\t1000\t1000\nGid:\t1000\t1000\t1000\t1000\nFDSize:\t64\n${groups}` +
  `NStgid:\t4242\nVmPeak:\t  1024 kB\n`;

describe("parseStatusGroups", () => {
  it("reads the GIDs, with the kernel's trailing space", () => {
    assert.deepEqual(
      parseStatusGroups(status("Groups:\t4 24 27 30 46 100 1000 \n")),
      [4, 24, 27, 30, 46, 100, 1000],
    );
  });

  it("reads an empty list as no supplementary groups", () => {
    assert.deepEqual(parseStatusGroups(status("Groups:\t\n")), []);
    assert.deepEqual(parseStatusGroups(status("Groups:\n")), []);
  });

  it("reads the largest GID", () => {
    assert.deepEqual(parseStatusGroups("Groups:\t4294967294 \n"), [4294967294]);
  });

  const unusable: [string, string][] = [
    ["no Groups line", status("")],
    ["a word among the GIDs", status("Groups:\t4 x 27\n")],
    ["a negative GID", status("Groups:\t-4\n")],
    ["(gid_t)-1", status("Groups:\t4294967295\n")],
    ["a GID past 32 bits", status("Groups:\t99999999999\n")],
    ["a comma list", status("Groups:\t4,24\n")],
  ];
  for (const [what, text] of unusable) {
    it(`gives undefined for ${what}`, () => assert.equal(parseStatusGroups(text), undefined));
  }

  it("does not take a line that only starts like Groups (e.g. NSpgid)", () => {
    assert.equal(parseStatusGroups("NSgroups:\t1\n"), undefined);
  });
});
