import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { systemdUnitsOfPath, unescapeCgroupName, type SystemdUnits } from "./unit-path.js";

const ID = "9bca8d63d5fa610783847915bcff0ecac1273e5b4bed3f6fa1b07350e0135961";
const unit = (name: string, cgroupPath: string) => ({ name, cgroupPath });

const cases: [string, string, SystemdUnits][] = [
  [
    "a system service",
    "/system.slice/nginx.service",
    { unit: unit("nginx.service", "/system.slice/nginx.service") },
  ],
  ["PID 1", "/init.scope", { unit: unit("init.scope", "/init.scope") }],
  [
    "a template instance in its own slice",
    "/system.slice/system-getty.slice/getty@tty1.service",
    { unit: unit("getty@tty1.service", "/system.slice/system-getty.slice/getty@tty1.service") },
  ],
  [
    "a login session",
    "/user.slice/user-1000.slice/session-3.scope",
    { unit: unit("session-3.scope", "/user.slice/user-1000.slice/session-3.scope") },
  ],
  [
    "a user unit, below the user's manager",
    "/user.slice/user-1000.slice/user@1000.service/app.slice/agent.service",
    {
      unit: unit("user@1000.service", "/user.slice/user-1000.slice/user@1000.service"),
      userUnit: unit(
        "agent.service",
        "/user.slice/user-1000.slice/user@1000.service/app.slice/agent.service",
      ),
    },
  ],
  [
    "the user's manager itself",
    "/user.slice/user-1000.slice/user@1000.service/init.scope",
    {
      unit: unit("user@1000.service", "/user.slice/user-1000.slice/user@1000.service"),
      userUnit: unit("init.scope", "/user.slice/user-1000.slice/user@1000.service/init.scope"),
    },
  ],
  [
    "a cgroup of the user's manager that is not a unit",
    "/user.slice/user-1000.slice/user@1000.service/app.slice/whatever",
    { unit: unit("user@1000.service", "/user.slice/user-1000.slice/user@1000.service") },
  ],
  [
    "a user unit's own subgroup: the user unit, not the name below it",
    "/user.slice/user-1000.slice/user@1000.service/app.slice/agent.service/worker.service",
    {
      unit: unit("user@1000.service", "/user.slice/user-1000.slice/user@1000.service"),
      userUnit: unit(
        "agent.service",
        "/user.slice/user-1000.slice/user@1000.service/app.slice/agent.service",
      ),
    },
  ],
  [
    "a cgroup a delegated service made, named like another service",
    "/system.slice/evil.service/sshd.service",
    { unit: unit("evil.service", "/system.slice/evil.service") },
  ],
  [
    "a container scope",
    `/system.slice/docker-${ID}.scope`,
    { unit: unit(`docker-${ID}.scope`, `/system.slice/docker-${ID}.scope`) },
  ],
  [
    "a pod container under the kubelet's systemd driver",
    `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice/cri-containerd-${ID}.scope`,
    {
      unit: unit(
        `cri-containerd-${ID}.scope`,
        `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice/cri-containerd-${ID}.scope`,
      ),
    },
  ],
  [
    "a unit escaped by systemd (cpu.service lives in _cpu.service)",
    "/system.slice/_cpu.service",
    { unit: unit("cpu.service", "/system.slice/_cpu.service") },
  ],
  ["the root", "/", {}],
  ["only slices", "/system.slice", {}],
  ["a cgroupfs-driver container", `/docker/${ID}`, {}],
  ["kubepods with the cgroupfs driver", `/kubepods/burstable/pod1/${ID}`, {}],
  ["a path outside the reader's cgroup namespace", "/../../system.slice/nginx.service", {}],
  ["a socket unit (processes never run in one)", "/system.slice/dbus.socket", {}],
  ["a name with a character systemd refuses", "/system.slice/ngi nx.service", {}],
  ["a suffix only", "/system.slice/.service", {}],
  ["two instances", "/system.slice/a@b@c.service", {}],
  ["a name longer than systemd allows", `/system.slice/${"a".repeat(248)}.service`, {}],
];

describe("systemdUnitsOfPath", () => {
  for (const [what, path, expected] of cases) {
    it(what, () => assert.deepEqual(systemdUnitsOfPath(path), expected));
  }
  it("accepts a name of exactly systemd's maximum length", () => {
    const name = `${"a".repeat(247)}.service`;
    assert.equal(name.length, 255);
    assert.equal(systemdUnitsOfPath(`/system.slice/${name}`).unit?.name, name);
  });
});

describe("unescapeCgroupName", () => {
  it("drops one leading underscore, as cg_unescape does", () => {
    assert.equal(unescapeCgroupName("_cpu.service"), "cpu.service");
    assert.equal(unescapeCgroupName("__x.service"), "_x.service");
    assert.equal(unescapeCgroupName("nginx.service"), "nginx.service");
  });
});
