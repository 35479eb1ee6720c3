/**
 * /proc/<pid>/cgroup, as the kernel writes it (cgroups(7)): one line per hierarchy,
 * `hierarchy-ID:controller-list:cgroup-path`. The cgroup v2 (unified) hierarchy is the line
 * `0::/path`; each v1 hierarchy has a non-zero ID and its controllers (`4:memory:/docker/<id>`,
 * `1:name=systemd:/system.slice/sshd.service` for a named hierarchy). Paths are relative to the
 * reader's cgroup namespace root, so they start with `/` (and with `/..` for a cgroup outside it).
 */
export interface CgroupMembership {
  /** 0 for the unified hierarchy. */
  readonly hierarchyId: number;
  /** Empty for the unified hierarchy; `["cpu", "cpuacct"]`, `["name=systemd"]` for v1. */
  readonly controllers: readonly string[];
  readonly path: string;
}

export type ProcCgroup =
  | {
      readonly ok: true;
      readonly memberships: readonly CgroupMembership[];
      /** Lines naming a cgroup that has been removed (`... (deleted)`), left out. */
      readonly removed: readonly string[];
    }
  | { readonly ok: false; readonly reason: string };

const LINE = /^(\d+):([^:]*):(\/.*)$/;
const CONTROLLER = /^[A-Za-z0-9_.=-]+$/;
/** The kernel appends this to the path of a v2 cgroup that was removed while the process was exiting. */
const REMOVED = " (deleted)";

/**
 * Parses the whole file, or refuses it whole. The kernel writes every line in the form above, so
 * a line that is not means a cgroup name holds a newline (a name may, and nothing escapes it): then
 * the line boundaries say nothing trustworthy, and no line is used.
 */
export function parseProcCgroup(text: string): ProcCgroup {
  const memberships: CgroupMembership[] = [];
  const removed: string[] = [];
  const seen = new Set<number>();
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  if (lines.length === 0) return { ok: false, reason: "the file is empty" };
  for (const line of lines) {
    const match = LINE.exec(line);
    if (match === null) return { ok: false, reason: `malformed line ${JSON.stringify(line)}` };
    const [, id = "", list = "", path = ""] = match;
    const hierarchyId = Number(id);
    const controllers = list === "" ? [] : list.split(",");
    if (!Number.isSafeInteger(hierarchyId) || !controllers.every((c) => CONTROLLER.test(c))) {
      return { ok: false, reason: `malformed line ${JSON.stringify(line)}` };
    }
    if ((hierarchyId === 0) !== (controllers.length === 0)) {
      return {
        ok: false,
        reason: `hierarchy ${hierarchyId} with controllers "${list}" in ${JSON.stringify(line)}`,
      };
    }
    if (seen.has(hierarchyId)) return { ok: false, reason: `hierarchy ${hierarchyId} listed twice` };
    seen.add(hierarchyId);
    if (path.endsWith(REMOVED)) {
      removed.push(line);
      continue;
    }
    memberships.push({ hierarchyId, controllers, path });
  }
  return { ok: true, memberships, removed };
}

export function isUnified(membership: CgroupMembership): boolean {
  return membership.hierarchyId === 0;
}

/** The v1 hierarchy systemd keeps its own tree in (legacy and hybrid mode). */
export function isSystemdNamedHierarchy(membership: CgroupMembership): boolean {
  return membership.controllers.includes("name=systemd");
}

/** The path's components, without the empty ones that the leading (or a doubled) `/` makes. */
export function pathComponents(path: string): string[] {
  return path.split("/").filter((component) => component !== "");
}
