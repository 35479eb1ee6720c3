import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import { chownSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { fixtureTempRoot, trackTempDir } from "../../../test/fixtures/processes.js";
import { endProcess, peerCredError } from "../../../native/peercred/testdata/helpers.js";
import { RealCallers, startSleeper } from "../testdata/callers.js";
import { cgroupMounts, placeInCgroup, setXattr } from "../testdata/cgroups.js";
import {
  attestOptions,
  capturingLogger,
  heldProcFile,
  missingKeys,
  procFixture,
  silentLogger,
  texts,
} from "../testdata/fixtures.js";
import type { CgroupfsLayout } from "./cgroupfs-layout.js";
import { SystemdAttestor } from "./systemd-attestor.js";

const TRUSTED_ID = "5e2b7c1d9a3f4e8b8c6d0a1f2e3b4c5d";
const USER_ID = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";
const KIND_CONTAINER = "09bc3d7ade839efec32b6bec4ec79d099027a668ddba043083ec21d3c3b8f1e6";
const D = "d548c5b83fa61d8e3bd86ad42a7ffea9b7c86e3f9d8095c1577d3e1270bb9420";

interface UnitDir {
  /** The unit's cgroup path, as in /proc/<pid>/cgroup. */
  path: string;
  trusted?: string;
  user?: string;
  /** The directory's owner (a delegated cgroup belongs to its user). */
  owner?: number;
}

/**
 * A cgroup filesystem tree as systemd lays it out for `layout` (see cgroupfs-layout.ts), with the
 * invocation ID xattrs systemd sets on each unit's directory.
 */
function cgroupfsTree(
  layout: CgroupfsLayout,
  units: readonly UnitDir[],
): { root: string; remove: () => void } {
  const root = mkdtempSync(join(fixtureTempRoot(), "hallmark-cgroupfs-"));
  const remove = trackTempDir(root);
  const hierarchy = { unified: root, hybrid: join(root, "unified"), legacy: join(root, "systemd") }[layout];
  mkdirSync(hierarchy, { recursive: true });
  if (layout !== "legacy") writeFileSync(join(hierarchy, "cgroup.controllers"), "");
  for (const unit of units) {
    const dir = join(hierarchy, unit.path);
    mkdirSync(dir, { recursive: true });
    if (unit.trusted !== undefined) setXattr(dir, "trusted.invocation_id", unit.trusted);
    if (unit.user !== undefined) setXattr(dir, "user.invocation_id", unit.user);
    if (unit.owner !== undefined) chownSync(dir, unit.owner, unit.owner);
  }
  return { root, remove };
}

interface Case {
  scenario: string;
  layout: CgroupfsLayout;
  units: UnitDir[];
  selectors: string[];
  missing: string[];
}

const both = { trusted: TRUSTED_ID, user: USER_ID };

const cases: [string, Case][] = [
  [
    "a system service: its unit and the trusted invocation ID (preferred over user.*)",
    {
      scenario: "systemd-service-v2",
      layout: "unified",
      units: [{ path: "/system.slice/nginx.service", ...both }],
      selectors: ["systemd:invocation_id:" + TRUSTED_ID, "systemd:unit:nginx.service"],
      missing: [],
    },
  ],
  [
    "a user unit: the user's manager as unit, the leaf as user_unit, the manager's invocation",
    {
      scenario: "systemd-user-unit-v2",
      layout: "unified",
      units: [
        { path: "/user.slice/user-1000.slice/user@1000.service", ...both },
        // The user's manager sets only user.* on its units, in a tree the user owns.
        {
          path: "/user.slice/user-1000.slice/user@1000.service/app.slice/agent.service",
          user: USER_ID,
          owner: 1000,
        },
      ],
      selectors: [
        "systemd:invocation_id:" + TRUSTED_ID,
        "systemd:unit:user@1000.service",
        "systemd:user_unit:agent.service",
      ],
      missing: [],
    },
  ],
  [
    "the user's manager itself",
    {
      scenario: "systemd-user-manager-v2",
      layout: "unified",
      units: [{ path: "/user.slice/user-1000.slice/user@1000.service", ...both }],
      selectors: [
        "systemd:invocation_id:" + TRUSTED_ID,
        "systemd:unit:user@1000.service",
        "systemd:user_unit:init.scope",
      ],
      missing: [],
    },
  ],
  [
    "a login session scope",
    {
      scenario: "systemd-session-v2",
      layout: "unified",
      units: [{ path: "/user.slice/user-1000.slice/session-3.scope", ...both }],
      selectors: ["systemd:invocation_id:" + TRUSTED_ID, "systemd:unit:session-3.scope"],
      missing: [],
    },
  ],
  [
    "a template instance",
    {
      scenario: "systemd-template-v2",
      layout: "unified",
      units: [{ path: "/system.slice/system-getty.slice/getty@tty1.service", ...both }],
      selectors: ["systemd:invocation_id:" + TRUSTED_ID, "systemd:unit:getty@tty1.service"],
      missing: [],
    },
  ],
  [
    "an escaped unit name: the unit's name, the xattr of its escaped directory",
    {
      scenario: "systemd-escaped-v2",
      layout: "unified",
      units: [{ path: "/system.slice/_cpu.service", ...both }],
      selectors: ["systemd:invocation_id:" + TRUSTED_ID, "systemd:unit:cpu.service"],
      missing: [],
    },
  ],
  [
    "a cgroup named like a service below a delegated unit: the delegated unit",
    {
      scenario: "systemd-delegated-v2",
      layout: "unified",
      units: [
        { path: "/system.slice/evil.service", ...both },
        { path: "/system.slice/evil.service/sshd.service", trusted: USER_ID },
      ],
      selectors: ["systemd:invocation_id:" + TRUSTED_ID, "systemd:unit:evil.service"],
      missing: [],
    },
  ],
  [
    "a legacy host: systemd's named hierarchy, its xattrs under systemd/",
    {
      scenario: "systemd-service-v1-legacy",
      layout: "legacy",
      units: [{ path: "/system.slice/sshd.service", trusted: TRUSTED_ID }],
      selectors: ["systemd:invocation_id:" + TRUSTED_ID, "systemd:unit:sshd.service"],
      missing: [],
    },
  ],
  [
    "a hybrid host: the named hierarchy, xattrs under unified/",
    {
      scenario: "systemd-service-hybrid",
      layout: "hybrid",
      units: [{ path: "/system.slice/sshd.service", ...both }],
      selectors: ["systemd:invocation_id:" + TRUSTED_ID, "systemd:unit:sshd.service"],
      missing: [],
    },
  ],
  [
    "a legacy host with a cgroup2 systemd does not maintain: the named hierarchy's unit",
    {
      scenario: "crio-k8s-v1-systemd",
      layout: "legacy",
      units: [],
      selectors: [`systemd:unit:crio-${KIND_CONTAINER}.scope`],
      missing: ["invocation_id"],
    },
  ],
  [
    "a docker container's scope",
    {
      scenario: "docker-v2-systemd",
      layout: "unified",
      units: [{ path: `/system.slice/docker-${D}.scope`, ...both }],
      selectors: ["systemd:invocation_id:" + TRUSTED_ID, `systemd:unit:docker-${D}.scope`],
      missing: [],
    },
  ],
  [
    "user.invocation_id on a directory root owns, when trusted.* is not there",
    {
      scenario: "systemd-service-v2",
      layout: "unified",
      units: [{ path: "/system.slice/nginx.service", user: USER_ID }],
      selectors: ["systemd:invocation_id:" + USER_ID, "systemd:unit:nginx.service"],
      missing: [],
    },
  ],
  [
    "no user.invocation_id from a directory another user owns (a delegated cgroup)",
    {
      scenario: "systemd-service-v2",
      layout: "unified",
      units: [{ path: "/system.slice/nginx.service", user: USER_ID, owner: 1000 }],
      selectors: ["systemd:unit:nginx.service"],
      missing: ["invocation_id"],
    },
  ],
  [
    "no invocation ID when the unit's directory has none",
    {
      scenario: "systemd-service-v2",
      layout: "unified",
      units: [{ path: "/system.slice/nginx.service" }],
      selectors: ["systemd:unit:nginx.service"],
      missing: ["invocation_id"],
    },
  ],
  [
    "no invocation ID of the wrong form",
    {
      scenario: "systemd-service-v2",
      layout: "unified",
      units: [{ path: "/system.slice/nginx.service", trusted: TRUSTED_ID.toUpperCase() }],
      selectors: ["systemd:unit:nginx.service"],
      missing: ["invocation_id"],
    },
  ],
  [
    "no invocation ID when the unit's directory is not there",
    {
      scenario: "systemd-service-v2",
      layout: "unified",
      units: [],
      selectors: ["systemd:unit:nginx.service"],
      missing: ["invocation_id"],
    },
  ],
  [
    "nothing for a container outside systemd (cgroupfs driver)",
    { scenario: "docker-v2-cgroupfs", layout: "unified", units: [], selectors: [], missing: ["unit"] },
  ],
  [
    "nothing for a legacy host's file read as unified (no 0:: line)",
    { scenario: "systemd-service-v1-legacy", layout: "unified", units: [], selectors: [], missing: ["unit"] },
  ],
  [
    "nothing for a malformed cgroup file",
    { scenario: "malformed-newline", layout: "unified", units: [], selectors: [], missing: ["unit"] },
  ],
];

describe("SystemdAttestor on fixture procfs and cgroupfs trees", () => {
  for (const [what, c] of cases) {
    it(what, async () => {
      const { logger, lines } = capturingLogger();
      const tree = cgroupfsTree(c.layout, c.units);
      const fixture = procFixture({ scenario: c.scenario });
      try {
        const attestor = new SystemdAttestor({ logger, cgroupfsRoot: tree.root });
        assert.deepEqual(
          texts(await attestor.attest(fixture.peer, attestOptions())),
          [...c.selectors].sort(),
        );
        assert.deepEqual(missingKeys(lines()), c.missing);
      } finally {
        fixture.close();
        tree.remove();
      }
    });
  }

  it("says why a delegated directory's user.invocation_id is not taken", async () => {
    const { logger, lines } = capturingLogger();
    const tree = cgroupfsTree("unified", [
      { path: "/system.slice/nginx.service", user: USER_ID, owner: 1000 },
    ]);
    const fixture = procFixture({ scenario: "systemd-service-v2" });
    try {
      await new SystemdAttestor({ logger, cgroupfsRoot: tree.root }).attest(fixture.peer, attestOptions());
      assert.match(
        String(lines()[0]?.reason),
        /nginx\.service is owned by UID 1000, who could write its user\.invocation_id/,
      );
    } finally {
      fixture.close();
      tree.remove();
    }
  });
});

describe("SystemdAttestor and a caller that exits", () => {
  it("gives PEER_GONE for a caller that exits while its cgroup file is read", async () => {
    const tree = cgroupfsTree("unified", [{ path: "/system.slice/nginx.service", ...both }]);
    const child = await startSleeper();
    const fixture = procFixture({ pid: child.pid });
    const held = await heldProcFile(join(fixture.procDir, "cgroup"));
    try {
      const refused = assert.rejects(
        new SystemdAttestor({ logger: silentLogger, cgroupfsRoot: tree.root }).attest(
          fixture.peer,
          attestOptions(),
        ),
        peerCredError("PEER_GONE"),
      );
      await held.readerWaiting();
      await endProcess(child);
      held.release("0::/system.slice/nginx.service\n");
      await refused;
    } finally {
      fixture.close();
      tree.remove();
    }
  });
});

describe("SystemdAttestor on a real process in a real cgroup", () => {
  const callers = new RealCallers();
  after(() => callers.remove());

  it("names the unit a process was placed in and the invocation ID set on the unit's cgroup", async () => {
    const caller = await callers.connect();
    const tag = randomBytes(4).toString("hex");
    const unit = `hallmark-test-${tag}.service`;
    const mounts = cgroupMounts();
    // Where systemd would put it (both hierarchies on a hybrid host), with the xattrs it would set.
    const cgroup = placeInCgroup(mounts, caller.child.pid, `/hallmark-test-${tag}.slice/${unit}`);
    setXattr(`${mounts.unified}/hallmark-test-${tag}.slice/${unit}`, "trusted.invocation_id", TRUSTED_ID);
    setXattr(`${mounts.unified}/hallmark-test-${tag}.slice/${unit}`, "user.invocation_id", USER_ID);
    try {
      const selectors = await new SystemdAttestor({ logger: silentLogger }).attest(
        caller.peer,
        attestOptions(),
      );
      assert.deepEqual(texts(selectors), [`systemd:invocation_id:${TRUSTED_ID}`, `systemd:unit:${unit}`]);
    } finally {
      await caller.end();
      cgroup.remove();
    }
  });
});
