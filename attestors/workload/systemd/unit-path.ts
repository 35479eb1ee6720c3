import { pathComponents } from "../proc-cgroup.js";

/**
 * The systemd units a cgroup path places a process in, read the way systemd itself reads it
 * (sd_pid_get_unit and sd_pid_get_user_unit; journald's _SYSTEMD_UNIT and _SYSTEMD_USER_UNIT):
 *
 * - the unit is the first component that is not a slice: `/system.slice/nginx.service` gives
 *   `nginx.service`, `/user.slice/user-1000.slice/session-3.scope` gives `session-3.scope`, and
 *   every process of a user's own service manager gives `user@1000.service`;
 * - below `user@<uid>.service`, the user unit is, in the same way, the first component that is not
 *   a slice: `.../user@1000.service/app.slice/agent.service` gives `agent.service`.
 *
 * Not the last `.service` in the path: below its own cgroup a unit with `Delegate=yes` (and every
 * user's service manager) creates whatever cgroups it likes, so `/system.slice/evil.service/sshd.service`
 * is evil.service claiming a name. For the same reason a user unit is only as trustworthy as the
 * user: a process of UID 1000 can move itself between the cgroups of user@1000.service.
 */
export interface SystemdUnits {
  /** The unit of the system's service manager (PID 1). */
  readonly unit?: SystemdUnit;
  /** The unit of the user's service manager, for processes below `user@<uid>.service`. */
  readonly userUnit?: SystemdUnit;
}

export interface SystemdUnit {
  readonly name: string;
  /** The unit's own cgroup (the path up to it, as the kernel shows it): where its xattrs are. */
  readonly cgroupPath: string;
}

/** systemd's unit name rules (unit_name_is_valid): a prefix, an optional `@instance`, a type suffix. */
const UNIT = /^[A-Za-z0-9:_.\\-]+(?:@[A-Za-z0-9:_.\\-]*)?\.(?:service|scope)$/;
const SLICE = /^[A-Za-z0-9:_.\\-]+\.slice$/;
const USER_MANAGER = /^user@\d+\.service$/;
/** UNIT_NAME_MAX, with its NUL. */
const UNIT_NAME_MAX = 255;

export function systemdUnitsOfPath(path: string): SystemdUnits {
  const components = pathComponents(path);
  const system = firstUnit(components, 0);
  if (system === undefined) return {};
  const unit = { name: system.name, cgroupPath: cgroupPath(components, system.index) };
  if (!USER_MANAGER.test(system.name)) return { unit };
  const user = firstUnit(components, system.index + 1);
  if (user === undefined) return { unit };
  return { unit, userUnit: { name: user.name, cgroupPath: cgroupPath(components, user.index) } };
}

function firstUnit(components: readonly string[], from: number): { name: string; index: number } | undefined {
  for (let index = from; index < components.length; index++) {
    const name = unescapeCgroupName(components[index]!);
    if (SLICE.test(name)) continue;
    return name.length <= UNIT_NAME_MAX && UNIT.test(name) ? { name, index } : undefined;
  }
  return undefined;
}

function cgroupPath(components: readonly string[], index: number): string {
  return `/${components.slice(0, index + 1).join("/")}`;
}

/**
 * systemd escapes a unit's cgroup name with a leading `_` when it would collide with the kernel's
 * own files (`cgroup.procs`, `cpu.max`: a unit named `cpu.service` lives in `_cpu.service`), and
 * also escapes names that start with `_`; cg_unescape drops one leading `_`.
 */
export function unescapeCgroupName(name: string): string {
  return name.startsWith("_") ? name.slice(1) : name;
}
