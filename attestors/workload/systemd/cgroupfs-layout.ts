import { access } from "node:fs/promises";
import { isSystemdNamedHierarchy, isUnified, type CgroupMembership } from "../proc-cgroup.js";

/**
 * How systemd mounted the cgroup filesystems below `root` (/sys/fs/cgroup), which decides both
 * which line of /proc/<pid>/cgroup is systemd's tree and where systemd sets a unit's xattrs
 * (systemd's cg_get_path for its own hierarchy):
 *
 * | layout | what is at /sys/fs/cgroup | systemd's tree | a unit's cgroup directory |
 * | --- | --- | --- | --- |
 * | unified | cgroup2 itself | the `0::` line | `/sys/fs/cgroup<path>` |
 * | hybrid | v1 controllers, cgroup2 at `unified/` | the `name=systemd` line (the same path as `0::`) | `/sys/fs/cgroup/unified<path>` |
 * | legacy | v1 controllers only | the `name=systemd` line | `/sys/fs/cgroup/systemd<path>` |
 *
 * On a legacy host a cgroup2 mounted by someone else still shows as a `0::` line, one systemd does
 * not maintain (a pod's processes can show `0::/system.slice/crio.service`), so the line is chosen
 * by the layout, never by which line happens to name a unit.
 */
export type CgroupfsLayout = "unified" | "hybrid" | "legacy";

export async function detectCgroupfsLayout(root: string): Promise<CgroupfsLayout> {
  if (await exists(`${root}/cgroup.controllers`)) return "unified";
  if (await exists(`${root}/unified/cgroup.controllers`)) return "hybrid";
  return "legacy";
}

/** The membership in systemd's own tree, for this layout. */
export function systemdMembership(
  layout: CgroupfsLayout,
  memberships: readonly CgroupMembership[],
): CgroupMembership | undefined {
  return memberships.find(layout === "unified" ? isUnified : isSystemdNamedHierarchy);
}

/** The directory of the cgroup at `path` in systemd's tree. */
export function systemdCgroupDir(layout: CgroupfsLayout, root: string, path: string): string {
  switch (layout) {
    case "unified":
      return `${root}${path}`;
    case "hybrid":
      return `${root}/unified${path}`;
    case "legacy":
      return `${root}/systemd${path}`;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}
