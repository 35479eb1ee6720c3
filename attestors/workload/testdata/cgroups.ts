/** Real cgroups and xattrs for the attestor tests (they run as root, as the peercred tests do). */
import { mkdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import koffi from "koffi";
import { errnoName } from "../../../native/peercred/index.js";

type Lsetxattr = (path: string, name: string, value: Buffer, size: number, flags: number) => number;
let lsetxattr: Lsetxattr | undefined;

/** lsetxattr(2): Node has none, and the fixture trees need the xattrs systemd would set. */
export function setXattr(path: string, name: string, value: string): void {
  lsetxattr ??= koffi
    .load("libc.so.6")
    .func(
      "int lsetxattr(const char *path, const char *name, const void *value, size_t size, int flags)",
    ) as Lsetxattr;
  const bytes = Buffer.from(value);
  if (lsetxattr(path, name, bytes, bytes.length, 0) !== 0) {
    throw new Error(`lsetxattr(${path}, ${name}) failed: ${errnoName(koffi.errno())}`);
  }
}

export interface CgroupMounts {
  /** The cgroup2 mount: /sys/fs/cgroup on a unified host, /sys/fs/cgroup/unified on a hybrid one. */
  readonly unified: string;
  /** systemd's named v1 hierarchy, on hybrid and legacy hosts. */
  readonly systemdV1?: string;
}

/** From /proc/self/mountinfo (proc(5)): the mount point is field 5, the type and options follow " - ". */
export function cgroupMounts(): CgroupMounts {
  let unified: string | undefined;
  let systemdV1: string | undefined;
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    const [before, after] = line.split(" - ");
    if (before === undefined || after === undefined) continue;
    const mountPoint = before.split(" ")[4];
    const [fsType, , superOptions = ""] = after.split(" ");
    if (fsType === "cgroup2") unified ??= mountPoint;
    if (fsType === "cgroup" && superOptions.split(",").includes("name=systemd")) systemdV1 ??= mountPoint;
  }
  if (unified === undefined) throw new Error("no cgroup2 mount on this host");
  return systemdV1 === undefined ? { unified } : { unified, systemdV1 };
}

/**
 * Moves `pid` into the cgroup `path` (made under every mount of `mounts`, as systemd keeps its tree
 * in both on a hybrid host). `remove` deletes what was made, once the process has left (exited).
 */
export function placeInCgroup(
  mounts: CgroupMounts,
  pid: number,
  path: string,
): { dirs: string[]; remove: () => void } {
  const made: string[] = [];
  const dirs: string[] = [];
  for (const mount of [mounts.unified, mounts.systemdV1]) {
    if (mount === undefined) continue;
    let dir = mount;
    for (const component of path.split("/").filter((c) => c !== "")) {
      dir = `${dir}/${component}`;
      try {
        mkdirSync(dir);
        made.push(dir);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      }
    }
    writeFileSync(`${dir}/cgroup.procs`, String(pid));
    dirs.push(dir);
  }
  return {
    dirs,
    remove: () => {
      for (const dir of made.reverse()) rmdirSync(dir);
    },
  };
}
