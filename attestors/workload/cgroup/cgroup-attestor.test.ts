import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { runOk } from "../../../test/fixtures/processes.js";
import { endProcess, peerCredError } from "../../../native/peercred/testdata/helpers.js";
import { RealCallers, startSleeper } from "../testdata/callers.js";
import {
  attestOptions,
  capturingLogger,
  heldProcFile,
  missingKeys,
  procFixture,
  silentLogger,
  texts,
} from "../testdata/fixtures.js";
import { cgroupMounts, placeInCgroup } from "../testdata/cgroups.js";
import { CgroupAttestor } from "./cgroup-attestor.js";

const D = "d548c5b83fa61d8e3bd86ad42a7ffea9b7c86e3f9d8095c1577d3e1270bb9420";
const D2 = "39158c67a24d980ff94d86f6d39b8a3896f6a902c22035bda87b67568c385b26";
const C = "2397d068a8d1552a4c3f9147ba9c94e086bfd66fb2acb5bbaf47197105127d5f";
const R = "c64064614423cb790e88b3e5492ff5ccf673b25ae823089f7a60c65cda24d809";
const P = "2f259bab93aaaaa2542ba43ef33eb990d0999ee1b9924b557b7be53c0b7a1bb9";
const U = "2c48913c-b29f-11e7-9350-020968147796";
const U_ = U.replaceAll("-", "_");
const STATIC_UID = "6f9d1e0a2b3c4d5e6f708192a3b4c5d6";
// From spiffe/spire's kind and CRI-O captures.
const KIND_NODE = "93529524695bb00d91c1f6dba692ea8d3550c3b94fb2463af7bc9ec82f992d26";
const KIND_CONTAINER = "09bc3d7ade839efec32b6bec4ec79d099027a668ddba043083ec21d3c3b8f1e6";
const KIND_POD = "a2830d0d-b0f0-4ff0-81b5-0ee4e299cf80";

interface Expected {
  containerId?: string;
  podUid?: string;
  /** `path:` values that must be among the selectors. */
  paths: string[];
  /** How many `path:` selectors in all (the file's lines). */
  pathCount: number;
  /** Keys the debug log names as missing. */
  missing?: string[];
}

const V1 = 12; // the v1 fixtures' hierarchies (pids ... rdma, name=systemd)

const fixtures: [string, Expected][] = [
  [
    "docker-v1-cgroupfs",
    {
      containerId: D,
      paths: [
        `memory:/docker/${D}`,
        `cpu,cpuacct:/docker/${D}`,
        `net_cls,net_prio:/docker/${D}`,
        "rdma:/",
        `name=systemd:/docker/${D}`,
      ],
      pathCount: V1,
    },
  ],
  ["docker-v2-systemd", { containerId: D, paths: [`/system.slice/docker-${D}.scope`], pathCount: 1 }],
  ["docker-v2-cgroupfs", { containerId: D, paths: [`/docker/${D}`], pathCount: 1 }],
  [
    "containerd-k8s-v2-systemd",
    {
      containerId: C,
      podUid: U,
      paths: [
        `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${U_}.slice/cri-containerd-${C}.scope`,
      ],
      pathCount: 1,
    },
  ],
  [
    "containerd-k8s-v1-cgroupfs",
    { containerId: C, podUid: U, paths: [`memory:/kubepods/burstable/pod${U}/${C}`], pathCount: V1 },
  ],
  [
    "containerd-k8s-v1-systemd",
    {
      containerId: C,
      podUid: U,
      paths: [
        `misc:/system.slice/containerd.service/kubepods-besteffort-pod${U_}.slice:cri-containerd:${C}`,
        `memory:/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${U_}.slice/cri-containerd-${C}.scope`,
      ],
      pathCount: V1 + 1,
    },
  ],
  [
    "crio-k8s-v1-systemd",
    {
      containerId: KIND_CONTAINER,
      podUid: KIND_POD,
      paths: ["/system.slice/crio.service", "rdma:/"],
      pathCount: V1 + 1,
    },
  ],
  [
    "crio-k8s-v2-systemd",
    {
      containerId: R,
      podUid: U,
      paths: [`/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${U_}.slice/crio-${R}.scope`],
      pathCount: 1,
    },
  ],
  [
    "crio-k8s-v2-cgroupfs",
    { containerId: R, podUid: U, paths: [`/kubepods/besteffort/pod${U}/crio-${R}`], pathCount: 1 },
  ],
  [
    "crio-conmon-v2-systemd",
    {
      podUid: U,
      paths: [
        `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${U_}.slice/crio-conmon-${R}.scope`,
      ],
      pathCount: 1,
    },
  ],
  [
    "podman-v2-rootful",
    { containerId: P, paths: [`/machine.slice/libpod-${P}.scope/container`], pathCount: 1 },
  ],
  [
    "podman-v2-rootless",
    {
      containerId: P,
      paths: [`/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-${P}.scope`],
      pathCount: 1,
    },
  ],
  ["podman-conmon-v2", { paths: [`/machine.slice/libpod-conmon-${P}.scope`], pathCount: 1 }],
  ["podman-v1-cgroupfs", { containerId: P, paths: [`pids:/libpod_parent/libpod-${P}`], pathCount: V1 }],
  [
    "kubepods-v1-cgroupfs-guaranteed",
    { containerId: D, podUid: U, paths: [`devices:/kubepods/pod${U}/${D}`], pathCount: V1 },
  ],
  [
    "kubepods-v2-cgroupfs",
    { containerId: C, podUid: U, paths: [`/kubepods/burstable/pod${U}/${C}`], pathCount: 1 },
  ],
  [
    "kubepods-v2-systemd-static-pod",
    {
      containerId: C,
      podUid: STATIC_UID,
      paths: [`/kubepods.slice/kubepods-pod${STATIC_UID}.slice/cri-containerd-${C}.scope`],
      pathCount: 1,
    },
  ],
  [
    "kind-v1-nested",
    {
      containerId: KIND_NODE,
      paths: [
        `/docker/${KIND_NODE}/system.slice/containerd.service`,
        `memory:/docker/${KIND_NODE}/kubepods/besteffort/pod${KIND_POD}/${KIND_CONTAINER}`,
      ],
      pathCount: V1 + 1,
    },
  ],
  [
    "container-in-delegated-container-v2",
    { containerId: P, paths: [`/machine.slice/libpod-${P}.scope/container/docker-${D}.scope`], pathCount: 1 },
  ],
  [
    "conflicting-v1",
    { paths: [`memory:/docker/${D2}`, `pids:/docker/${D}`], pathCount: V1, missing: ["container_id"] },
  ],
  ["systemd-service-v2", { paths: ["/system.slice/nginx.service"], pathCount: 1 }],
  [
    "systemd-service-v1-legacy",
    { paths: ["name=systemd:/system.slice/sshd.service", "cpu,cpuacct:/"], pathCount: V1 },
  ],
  ["host-init-v2", { paths: ["/init.scope"], pathCount: 1 }],
  ["malformed-newline", { paths: [], pathCount: 0, missing: ["path"] }],
  ["empty", { paths: [], pathCount: 0, missing: ["path"] }],
  ["removed-v2", { paths: [], pathCount: 0, missing: ["path"] }],
];

describe("CgroupAttestor on fixture procfs trees", () => {
  for (const [scenario, expected] of fixtures) {
    it(scenario, async () => {
      const { logger, lines } = capturingLogger();
      const fixture = procFixture({ scenario });
      try {
        const selectors = await new CgroupAttestor({ logger }).attest(fixture.peer, attestOptions());
        const byKey = (key: string) =>
          selectors.filter((s) => s.value.startsWith(`${key}:`)).map((s) => s.value.slice(key.length + 1));
        assert.ok(selectors.every((s) => s.type === "cgroup"));
        assert.deepEqual(
          byKey("container_id"),
          expected.containerId === undefined ? [] : [expected.containerId],
        );
        assert.deepEqual(byKey("pod_uid"), expected.podUid === undefined ? [] : [expected.podUid]);
        const paths = byKey("path");
        assert.equal(paths.length, expected.pathCount, `path selectors: ${paths.join(" ")}`);
        for (const path of expected.paths)
          assert.ok(paths.includes(path), `no path:${path} in ${paths.join(" ")}`);
        assert.deepEqual(missingKeys(lines()), expected.missing ?? []);
      } finally {
        fixture.close();
      }
    });
  }

  it("says in the debug log which hierarchies disagree", async () => {
    const { logger, lines } = capturingLogger();
    const fixture = procFixture({ scenario: "conflicting-v1" });
    try {
      await new CgroupAttestor({ logger }).attest(fixture.peer, attestOptions());
      const [line] = lines();
      assert.equal(line?.pid, process.pid);
      assert.equal(line?.attestor, "cgroup");
      assert.equal(line?.reason, `the hierarchies disagree: ${D}, ${D2}`);
    } finally {
      fixture.close();
    }
  });

  it("gives no selectors and a debug line when /proc/<pid>/cgroup cannot be read", async () => {
    const { logger, lines } = capturingLogger();
    const fixture = procFixture({ files: { status: "x" } });
    try {
      assert.deepEqual(await new CgroupAttestor({ logger }).attest(fixture.peer, attestOptions()), []);
      assert.match(String(lines()[0]?.reason), /ENOENT/);
    } finally {
      fixture.close();
    }
  });
});

describe("CgroupAttestor and a caller that exits", () => {
  it("gives PEER_GONE for a caller that exited before the attestation", async () => {
    const child = await startSleeper();
    const fixture = procFixture({ scenario: "docker-v2-systemd", pid: child.pid });
    try {
      await endProcess(child);
      await assert.rejects(
        new CgroupAttestor({ logger: silentLogger }).attest(fixture.peer, attestOptions()),
        peerCredError("PEER_GONE"),
      );
    } finally {
      fixture.close();
    }
  });

  it("gives PEER_GONE, not what it read, for a caller that exits while its cgroup file is read", async () => {
    const child = await startSleeper();
    const fixture = procFixture({ pid: child.pid });
    const held = await heldProcFile(join(fixture.procDir, "cgroup"));
    try {
      // The attestor's read waits on the FIFO; the caller exits meanwhile; then the read completes.
      const refused = assert.rejects(
        new CgroupAttestor({ logger: silentLogger }).attest(fixture.peer, attestOptions()),
        peerCredError("PEER_GONE"),
      );
      await held.readerWaiting();
      await endProcess(child);
      held.release(`0::/system.slice/docker-${D}.scope\n`);
      await refused;
    } finally {
      fixture.close();
    }
  });

  it("stops waiting when its signal fires", async () => {
    const fixture = procFixture();
    const held = await heldProcFile(join(fixture.procDir, "cgroup"));
    try {
      const controller = new AbortController();
      const attesting = new CgroupAttestor({ logger: silentLogger }).attest(
        fixture.peer,
        attestOptions([], controller.signal),
      );
      await held.readerWaiting();
      controller.abort(new DOMException("no answer within 1 ms", "TimeoutError"));
      await assert.rejects(
        attesting,
        (err: unknown) => (err as { code?: string }).code === "DEADLINE_EXCEEDED",
      );
    } finally {
      // Frees the thread-pool thread still blocked on the FIFO.
      held.release("");
      fixture.close();
    }
  });
});

describe("CgroupAttestor on real processes", () => {
  const callers = new RealCallers();
  after(() => callers.remove());

  it("reports each line of the caller's /proc/<pid>/cgroup as cat shows it", async () => {
    const caller = await callers.connect();
    try {
      const selectors = await new CgroupAttestor({ logger: silentLogger }).attest(
        caller.peer,
        attestOptions(),
      );
      const { stdout } = await runOk("cat", [`/proc/${caller.child.pid}/cgroup`]);
      const expected = stdout
        .trim()
        .split("\n")
        .map((line) => {
          const [, controllers, ...path] = line.split(":");
          return controllers === ""
            ? `cgroup:path:${path.join(":")}`
            : `cgroup:path:${controllers}:${path.join(":")}`;
        });
      assert.deepEqual(texts(selectors), expected.sort());
    } finally {
      await caller.end();
    }
  });

  it("finds the container of a process moved into a container's cgroup", async () => {
    const caller = await callers.connect();
    const id = randomBytes(32).toString("hex");
    const path = `/hallmark-test-${randomBytes(4).toString("hex")}.slice/docker-${id}.scope`;
    const mounts = cgroupMounts();
    const cgroup = placeInCgroup(mounts, caller.child.pid, path);
    try {
      const selectors = texts(
        await new CgroupAttestor({ logger: silentLogger }).attest(caller.peer, attestOptions()),
      );
      assert.ok(selectors.includes(`cgroup:container_id:${id}`), selectors.join(" "));
      assert.ok(selectors.includes(`cgroup:path:${path}`), selectors.join(" "));
      if (mounts.systemdV1 !== undefined) assert.ok(selectors.includes(`cgroup:path:name=systemd:${path}`));
    } finally {
      await caller.end();
      cgroup.remove();
    }
  });
});
