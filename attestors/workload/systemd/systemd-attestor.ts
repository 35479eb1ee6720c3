import { lstat, readFile } from "node:fs/promises";
import { errorMessage } from "../../../common/errors.js";
import type { Logger } from "../../../common/logging/logger.js";
import type { Selector } from "../../../common/selector.js";
import type { Peer } from "../../../native/peercred/index.js";
import { parseProcCgroup } from "../proc-cgroup.js";
import { finish, readOrMissing } from "../proc-read.js";
import { SelectorCollector } from "../selector-collector.js";
import type { AttestOptions, WorkloadAttestor } from "../workload-attestor.js";
import {
  detectCgroupfsLayout,
  systemdCgroupDir,
  systemdMembership,
  type CgroupfsLayout,
} from "./cgroupfs-layout.js";
import { systemdUnitsOfPath, type SystemdUnit, type SystemdUnits } from "./unit-path.js";
import { LibcXattrReader, type XattrReader } from "./xattr.js";

export interface SystemdAttestorOptions {
  logger: Logger;
  /** Where the cgroup filesystems are mounted; tests point it at a tree of their own. */
  cgroupfsRoot?: string;
  xattrs?: XattrReader;
}

/** What systemd writes: the unit's current invocation, 128 bits in hex. */
const INVOCATION_ID = /^[0-9a-f]{32}$/;

/**
 * `systemd:` selectors from the caller's cgroup (no D-Bus: the kernel's cgroup record is what
 * systemd itself goes by):
 *
 * - `unit:<name>`: the unit of the system's service manager (`systemd:unit:nginx.service`; for any
 *   process of a user's own service manager, `systemd:unit:user@1000.service`). SPIRE's systemd
 *   attestor calls this `Id`.
 * - `user_unit:<name>`: below user@<uid>.service, the user's unit (`systemd:user_unit:agent.service`).
 *   A separate key, so that a user who writes ~/.config/systemd/user/nginx.service cannot satisfy
 *   an entry for the system's nginx.service.
 * - `invocation_id:<32 hex>`: the system unit's current invocation (what `$INVOCATION_ID` and
 *   `systemctl show -p InvocationID` show), which changes on every start. Read from the xattr
 *   systemd sets on the unit's cgroup: `trusted.invocation_id` (only CAP_SYS_ADMIN may write or
 *   even see it), else `user.invocation_id` when the directory is root's (the owner of a delegated
 *   cgroup could write its own). Never from /proc/<pid>/environ: a process writes its environment
 *   itself, and any process may exec with `INVOCATION_ID=` of its choosing.
 */
export class SystemdAttestor implements WorkloadAttestor {
  readonly name = "systemd";
  readonly keys = ["unit", "user_unit", "invocation_id"] as const;
  readonly #logger: Logger;
  readonly #root: string;
  readonly #xattrs: XattrReader;
  #layout: Promise<CgroupfsLayout> | undefined;

  constructor(options: SystemdAttestorOptions) {
    this.#logger = options.logger;
    this.#root = options.cgroupfsRoot ?? "/sys/fs/cgroup";
    this.#xattrs = options.xattrs ?? new LibcXattrReader();
  }

  async attest(caller: Peer, options: AttestOptions): Promise<readonly Selector[]> {
    const collector = new SelectorCollector(this.name, this.#logger, caller.credentials.pid);
    // The layout does not change while the host runs; it is looked at once.
    this.#layout ??= detectCgroupfsLayout(this.#root);
    const layout = await this.#layout;
    // The xattr is read inside the same read as the cgroup file: a process alive after both was in
    // that unit's cgroup all along, and a stop of the unit would have ended it.
    const found = await readOrMissing(
      caller,
      collector,
      "cgroup",
      async (dir) => {
        const placed = this.#placement(layout, await readFile(`${dir}/cgroup`, "utf8"));
        const unit = placed.ok ? placed.units.unit : undefined;
        return { placed, invocation: unit && (await this.#invocationId(layout, unit)) };
      },
      options.signal,
    );
    if (found !== undefined) {
      const { placed, invocation } = found;
      if (!placed.ok) collector.missing("unit", placed.reason);
      else if (placed.units.unit === undefined)
        collector.missing("unit", `${placed.path} is in no systemd unit`);
      else collector.add("unit", placed.units.unit.name);
      if (placed.ok && placed.units.userUnit !== undefined)
        collector.add("user_unit", placed.units.userUnit.name);
      if (invocation?.ok === true) collector.add("invocation_id", invocation.id);
      else if (invocation !== undefined) collector.missing("invocation_id", invocation.reason);
    }
    return finish(caller, collector, this.name, options.signal);
  }

  /** The cgroup path in systemd's tree, and the units it names. */
  #placement(
    layout: CgroupfsLayout,
    text: string,
  ): { ok: true; path: string; units: SystemdUnits } | { ok: false; reason: string } {
    const parsed = parseProcCgroup(text);
    if (!parsed.ok) return { ok: false, reason: `malformed /proc/<pid>/cgroup: ${parsed.reason}` };
    const membership = systemdMembership(layout, parsed.memberships);
    if (membership === undefined) {
      return { ok: false, reason: `no line of systemd's tree (${layout} layout) in /proc/<pid>/cgroup` };
    }
    return { ok: true, path: membership.path, units: systemdUnitsOfPath(membership.path) };
  }

  async #invocationId(
    layout: CgroupfsLayout,
    unit: SystemdUnit,
  ): Promise<{ ok: true; id: string } | { ok: false; reason: string }> {
    const dir = systemdCgroupDir(layout, this.#root, unit.cgroupPath);
    const trusted = this.#xattrs.get(dir, "trusted.invocation_id");
    if (trusted.ok) return invocationId(trusted.value, `trusted.invocation_id of ${dir}`);
    const user = this.#xattrs.get(dir, "user.invocation_id");
    if (!user.ok) {
      return {
        ok: false,
        reason: `${dir}: trusted.invocation_id ${trusted.errno}, user.invocation_id ${user.errno}`,
      };
    }
    let owner: number;
    try {
      owner = (await lstat(dir)).uid;
    } catch (err) {
      return { ok: false, reason: `${dir}: ${errorMessage(err)}` };
    }
    if (owner !== 0) {
      return { ok: false, reason: `${dir} is owned by UID ${owner}, who could write its user.invocation_id` };
    }
    return invocationId(user.value, `user.invocation_id of ${dir}`);
  }
}

function invocationId(
  value: Buffer,
  where: string,
): { ok: true; id: string } | { ok: false; reason: string } {
  const id = value.toString("latin1");
  return INVOCATION_ID.test(id) ? { ok: true, id } : { ok: false, reason: `${where} is not 32 hex digits` };
}
