import { pathComponents } from "../proc-cgroup.js";

/**
 * Which container (and Kubernetes pod) a cgroup path places a process in, from the names the
 * container runtimes give their cgroups. Real paths this reads, one per runtime and cgroup driver:
 *
 * | runtime, driver | path (v1 controller line or the v2 `0::` line) |
 * | --- | --- |
 * | docker, cgroupfs | `/docker/<id>` |
 * | docker, systemd | `/system.slice/docker-<id>.scope` |
 * | containerd (CRI), systemd | `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid_>.slice/cri-containerd-<id>.scope` |
 * | containerd (CRI), systemd on a v1 hierarchy systemd does not manage | `/system.slice/containerd.service/kubepods-besteffort-pod<uid_>.slice:cri-containerd:<id>` |
 * | CRI-O, systemd | `.../kubepods-besteffort-pod<uid_>.slice/crio-<id>.scope` (its monitor: `crio-conmon-<id>.scope`) |
 * | CRI-O, cgroupfs | `/kubepods/besteffort/pod<uid>/crio-<id>` |
 * | podman, systemd | `/machine.slice/libpod-<id>.scope` (its monitor: `libpod-conmon-<id>.scope`); rootless under `user@<uid>.service` |
 * | podman, cgroupfs | `/libpod_parent/libpod-<id>` |
 * | any CRI runtime, cgroupfs | `/kubepods/burstable/pod<uid>/<id>`, `/kubepods/pod<uid>/<id>` (Guaranteed QoS) |
 *
 * `<id>` is the runtime's 64-hex container ID; `<uid_>` is the pod UID with `_` for `-`, since
 * systemd reads `-` in a slice name as nesting. The monitors (conmon) are not the container and
 * match no pattern. SPIRE's k8s attestor tests carry captures of several of these
 * (spiffe/spire pkg/agent/plugin/workloadattestor/k8s/testdata).
 *
 * Only the outermost container counts: the scan stops at the first container in the path. Below
 * its own cgroup a container may create any cgroup it likes when the runtime delegates the subtree
 * to it (podman `--systemd`, privileged and cgroup-namespaced containers), so an inner
 * `docker-<other id>.scope` or `pod<other uid>` would be that container's claim, not the runtime's.
 * Nested runtimes (kind, docker-in-docker) therefore report the outer container.
 */
export interface ContainerPlacement {
  readonly containerId?: string;
  readonly podUid?: string;
}

const ID = "[0-9a-f]{64}";
const CONTAINER_SCOPE = new RegExp(`^(?:docker|cri-containerd|crio|libpod)-(${ID})(?:\\.scope)?$`);
const BARE_ID = new RegExp(`^${ID}$`);
/** A pod UID as Kubernetes makes it (a UUID), or a static pod's (an MD5 hex of its manifest). */
const UID = "[0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12}|[0-9a-f]{32}";
const POD_CGROUPFS = new RegExp(`^pod(${UID})$`);
const POD_SLICE = new RegExp(`^kubepods(?:-[a-z]+)?-pod(${UID})\\.slice$`);
const POD_SLICE_CONTAINER = new RegExp(`^kubepods(?:-[a-z]+)?-pod(${UID})\\.slice:cri-containerd:(${ID})$`);

export function containerOfPath(path: string): ContainerPlacement {
  let podUid: string | undefined;
  let underKubepods = false;
  let parent: "docker" | "pod" | "other" = "other";
  for (const component of pathComponents(path)) {
    const sliceContainer = POD_SLICE_CONTAINER.exec(component);
    if (sliceContainer !== null) {
      return placement(sliceContainer[2], podUid ?? canonicalUid(sliceContainer[1]));
    }
    const containerId =
      CONTAINER_SCOPE.exec(component)?.[1] ??
      (parent !== "other" && BARE_ID.test(component) ? component : undefined);
    if (containerId !== undefined) return placement(containerId, podUid);

    const pod = POD_SLICE.exec(component) ?? (underKubepods ? POD_CGROUPFS.exec(component) : null);
    if (pod !== null) podUid ??= canonicalUid(pod[1]);
    if (component === "kubepods") underKubepods = true;
    parent = component === "docker" ? "docker" : pod !== null ? "pod" : "other";
  }
  return placement(undefined, podUid);
}

function placement(containerId: string | undefined, podUid: string | undefined): ContainerPlacement {
  return {
    ...(containerId === undefined ? {} : { containerId }),
    ...(podUid === undefined ? {} : { podUid }),
  };
}

/** The form the Kubernetes API shows: dashes, as in `kubectl get pod -o jsonpath='{.metadata.uid}'`. */
function canonicalUid(uid: string | undefined): string | undefined {
  return uid?.replaceAll("_", "-");
}
