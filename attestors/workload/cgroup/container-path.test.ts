import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { containerOfPath, type ContainerPlacement } from "./container-path.js";

const ID = "9bca8d63d5fa610783847915bcff0ecac1273e5b4bed3f6fa1b07350e0135961";
const ID2 = "a55d9ac3b312d8a2627824b6d6dd8af66fbec439bf4e0ec22d6d9945ad337a38";
const UID = "2c48913c-b29f-11e7-9350-020968147796";
const UID_ = UID.replaceAll("-", "_");
const STATIC_UID = "2732ca68f6358eba7703fb6f82a25c94";

// Paths as the runtimes write them; several from spiffe/spire's k8s attestor tests.
const cases: [string, string, ContainerPlacement][] = [
  ["docker, cgroupfs", `/docker/${ID}`, { containerId: ID }],
  ["docker, systemd", `/system.slice/docker-${ID}.scope`, { containerId: ID }],
  [
    "docker, rootless",
    `/user.slice/user-1000.slice/user@1000.service/user.slice/docker-${ID}.scope`,
    { containerId: ID },
  ],
  [
    "containerd CRI, systemd",
    `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice/cri-containerd-${ID}.scope`,
    { podUid: UID, containerId: ID },
  ],
  [
    "containerd CRI, systemd driver on a hierarchy systemd does not manage",
    `/system.slice/containerd.service/kubepods-besteffort-pod${UID_}.slice:cri-containerd:${ID}`,
    { podUid: UID, containerId: ID },
  ],
  [
    "CRI-O, systemd",
    `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID_}.slice/crio-${ID}.scope`,
    { podUid: UID, containerId: ID },
  ],
  ["CRI-O, cgroupfs", `/kubepods/besteffort/pod${UID}/crio-${ID}`, { podUid: UID, containerId: ID }],
  ["CRI-O outside the reader's cgroup namespace", `/../crio-${ID}.scope`, { containerId: ID }],
  [
    "CRI-O's conmon: the pod, not the container",
    `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID_}.slice/crio-conmon-${ID}.scope`,
    { podUid: UID },
  ],
  ["podman, systemd, cgroup namespace", `/machine.slice/libpod-${ID}.scope/container`, { containerId: ID }],
  ["podman's conmon", `/machine.slice/libpod-conmon-${ID}.scope`, {}],
  ["podman, cgroupfs", `/libpod_parent/libpod-${ID}`, { containerId: ID }],
  ["kubepods, cgroupfs, with QoS", `/kubepods/burstable/pod${UID}/${ID}`, { podUid: UID, containerId: ID }],
  [
    "kubepods, cgroupfs, Guaranteed (no QoS level)",
    `/kubepods/pod${UID}/${ID}`,
    { podUid: UID, containerId: ID },
  ],
  [
    "kubepods under Docker Desktop",
    `/kubepods/kubepods/besteffort/pod${UID}/${ID}`,
    { podUid: UID, containerId: ID },
  ],
  [
    "kubepods, cgroupfs, pod UID with underscores",
    `/kubepods/pod${UID_}/${ID}`,
    { podUid: UID, containerId: ID },
  ],
  [
    "a static pod, systemd, Guaranteed",
    `/kubepods.slice/kubepods-pod${STATIC_UID}.slice/cri-containerd-${ID}.scope`,
    { podUid: STATIC_UID, containerId: ID },
  ],
  ["a pod without a container (the pod's own cgroup)", `/kubepods/burstable/pod${UID}`, { podUid: UID }],
  [
    "kind: a pod inside a Docker container reports the outer container and no pod",
    `/docker/${ID}/kubepods/besteffort/pod${UID}/${ID2}`,
    { containerId: ID },
  ],
  [
    "a container's claim below its own cgroup is not read",
    `/machine.slice/libpod-${ID}.scope/container/docker-${ID2}.scope`,
    { containerId: ID },
  ],
  [
    "a pod named below a container is not read",
    `/system.slice/docker-${ID}.scope/kubepods.slice/kubepods-pod${UID_}.slice`,
    { containerId: ID },
  ],
  ["a pod component outside kubepods", `/something/pod${UID}/${ID}`, {}],
  ["a bare ID outside docker and kubepods", `/${ID}`, {}],
  ["a bare ID directly under kubepods", `/kubepods/${ID}`, {}],
  ["an ID one digit short", `/docker/${ID.slice(1)}`, {}],
  ["an ID in capitals", `/docker/${ID.toUpperCase()}`, {}],
  ["an ID with a suffix", `/system.slice/docker-${ID}.scopex`, {}],
  ["a runtime prefix of its own", `/system.slice/evil-${ID}.scope`, {}],
  ["docker.service itself", "/system.slice/docker.service", {}],
  ["a service", "/system.slice/nginx.service", {}],
  ["the root", "/", {}],
  ["a pod UID of the wrong shape", `/kubepods/pod${UID.slice(1)}/${ID}`, {}],
];

describe("containerOfPath", () => {
  for (const [what, path, expected] of cases) {
    it(what, () => assert.deepEqual(containerOfPath(path), expected));
  }
});
