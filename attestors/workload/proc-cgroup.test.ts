import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { isSystemdNamedHierarchy, isUnified, parseProcCgroup, pathComponents } from "./proc-cgroup.js";

describe("parseProcCgroup", () => {
  it("reads the unified line of a cgroup v2 host", () => {
    assert.deepEqual(parseProcCgroup("0::/system.slice/nginx.service\n"), {
      ok: true,
      memberships: [{ hierarchyId: 0, controllers: [], path: "/system.slice/nginx.service" }],
      removed: [],
    });
  });

  it("reads v1 hierarchies with their controllers, named hierarchies included, and the unified line of a hybrid host", () => {
    const parsed = parseProcCgroup(
      "12:pids:/docker/abc\n3:cpu,cpuacct:/docker/abc\n2:rdma:/\n1:name=systemd:/docker/abc\n0::/\n",
    );
    assert.ok(parsed.ok);
    assert.deepEqual(
      parsed.memberships.map((m) => [m.hierarchyId, m.controllers, m.path]),
      [
        [12, ["pids"], "/docker/abc"],
        [3, ["cpu", "cpuacct"], "/docker/abc"],
        [2, ["rdma"], "/"],
        [1, ["name=systemd"], "/docker/abc"],
        [0, [], "/"],
      ],
    );
    assert.deepEqual(parsed.memberships.map(isUnified), [false, false, false, false, true]);
    assert.deepEqual(parsed.memberships.map(isSystemdNamedHierarchy), [false, false, false, true, false]);
  });

  it("keeps colons inside a path (everything after the second colon is the path)", () => {
    const parsed = parseProcCgroup(
      "13:misc:/system.slice/containerd.service/kubepods-pod1.slice:cri-containerd:ab\n",
    );
    assert.ok(parsed.ok);
    assert.equal(
      parsed.memberships[0]?.path,
      "/system.slice/containerd.service/kubepods-pod1.slice:cri-containerd:ab",
    );
  });

  it("accepts a file without its final newline and paths outside the reader's cgroup namespace", () => {
    const parsed = parseProcCgroup("0::/../crio-45.scope");
    assert.ok(parsed.ok);
    assert.equal(parsed.memberships[0]?.path, "/../crio-45.scope");
  });

  it("leaves out a removed cgroup, naming it", () => {
    assert.deepEqual(parseProcCgroup("4:memory:/a\n0::/system.slice/gone.service (deleted)\n"), {
      ok: true,
      memberships: [{ hierarchyId: 4, controllers: ["memory"], path: "/a" }],
      removed: ["0::/system.slice/gone.service (deleted)"],
    });
  });

  const refused: [string, string, RegExp][] = [
    ["an empty file", "", /empty/],
    ["only a newline", "\n", /malformed line ""/],
    ["a line without colons", "0::/a\nevil.service\n", /malformed line "evil.service"/],
    [
      "a cgroup name with a newline (the rest of the name shows as a line)",
      "0::/user.slice/x\n0::\n",
      /malformed/,
    ],
    ["a relative path", "0::system.slice\n", /malformed/],
    ["an empty path", "4:memory:\n", /malformed/],
    ["a non-numeric hierarchy", "x:memory:/a\n", /malformed/],
    ["a negative hierarchy", "-1:memory:/a\n", /malformed/],
    ["controllers on hierarchy 0", "0:memory:/a\n", /hierarchy 0 with controllers/],
    ["no controllers on a v1 hierarchy", "4::/a\n", /hierarchy 4 with controllers ""/],
    ["an empty controller in the list", "4:cpu,,cpuacct:/a\n", /malformed/],
    ["a controller with a space", "4:cp u:/a\n", /malformed/],
    ["a hierarchy listed twice", "0::/a\n0::/b\n", /hierarchy 0 listed twice/],
    ["a carriage return line ending", "0::/a\r\n4:memory\r\n", /malformed/],
    ["a line with leading blanks", " 0::/a\n", /malformed/],
  ];
  for (const [what, text, reason] of refused) {
    it(`refuses the whole file for ${what}`, () => {
      const parsed = parseProcCgroup(text);
      assert.equal(parsed.ok, false);
      assert.match(parsed.ok ? "" : parsed.reason, reason);
    });
  }
});

describe("pathComponents", () => {
  it("drops the empty components of the leading and doubled slashes", () => {
    assert.deepEqual(pathComponents("/a//b/c/"), ["a", "b", "c"]);
    assert.deepEqual(pathComponents("/"), []);
  });
});
