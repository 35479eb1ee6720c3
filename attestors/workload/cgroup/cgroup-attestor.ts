import { readFile } from "node:fs/promises";
import type { Logger } from "../../../common/logging/logger.js";
import type { Selector } from "../../../common/selector.js";
import type { Peer } from "../../../native/peercred/index.js";
import { isUnified, parseProcCgroup, type CgroupMembership } from "../proc-cgroup.js";
import { finish, readOrMissing } from "../proc-read.js";
import { SelectorCollector } from "../selector-collector.js";
import type { AttestOptions, WorkloadAttestor } from "../workload-attestor.js";
import { containerOfPath } from "./container-path.js";

export interface CgroupAttestorOptions {
  logger: Logger;
}

/**
 * `cgroup:` selectors from /proc/<pid>/cgroup:
 *
 * - `path:<path>` for the unified (v2) hierarchy: `cgroup:path:/system.slice/nginx.service`.
 * - `path:<controllers>:<path>` for each v1 hierarchy, its controllers as the kernel lists them:
 *   `cgroup:path:cpu,cpuacct:/docker/<id>`, `cgroup:path:name=systemd:/docker/<id>`. A v1 path is
 *   only meaningful with its hierarchy (one process sits in different cgroups of different
 *   hierarchies), so the controllers are part of the value; a hybrid host has both kinds.
 * - `container_id:<64 hex>` and `pod_uid:<uid>` where a path names a container or a Kubernetes pod
 *   (see container-path.ts). Every hierarchy that names one must name the same one: hierarchies
 *   that disagree give neither selector.
 */
export class CgroupAttestor implements WorkloadAttestor {
  readonly name = "cgroup";
  readonly keys = ["path", "container_id", "pod_uid"] as const;
  readonly #logger: Logger;

  constructor(options: CgroupAttestorOptions) {
    this.#logger = options.logger;
  }

  async attest(caller: Peer, options: AttestOptions): Promise<readonly Selector[]> {
    const collector = new SelectorCollector(this.name, this.#logger, caller.credentials.pid);
    const text = await readOrMissing(
      caller,
      collector,
      "cgroup",
      (dir) => readFile(`${dir}/cgroup`, "utf8"),
      options.signal,
    );
    if (text !== undefined) {
      const parsed = parseProcCgroup(text);
      if (parsed.ok) {
        for (const line of parsed.removed) collector.missing("path", `the cgroup was removed: ${line}`);
        for (const membership of parsed.memberships) collector.add("path", pathValue(membership));
        addPlacement(collector, parsed.memberships);
      } else {
        collector.missing("path", `/proc/${caller.credentials.pid}/cgroup: ${parsed.reason}`);
      }
    }
    return finish(caller, collector, this.name, options.signal);
  }
}

function pathValue(membership: CgroupMembership): string {
  return isUnified(membership) ? membership.path : `${membership.controllers.join(",")}:${membership.path}`;
}

function addPlacement(collector: SelectorCollector, memberships: readonly CgroupMembership[]): void {
  const placements = memberships.map((m) => containerOfPath(m.path));
  const agreed = (key: "container_id" | "pod_uid", values: (string | undefined)[]): void => {
    const distinct = [...new Set(values.filter((v) => v !== undefined))];
    if (distinct.length === 1) collector.add(key, distinct[0]!);
    else if (distinct.length > 1) collector.missing(key, `the hierarchies disagree: ${distinct.join(", ")}`);
  };
  agreed(
    "container_id",
    placements.map((p) => p.containerId),
  );
  agreed(
    "pod_uid",
    placements.map((p) => p.podUid),
  );
}
