import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { WorkloadApiError } from "./workload-api-error.js";

/** The .proto files the agent socket describes through reflection, relative to the package's `proto/`. */
export const SERVED_PROTO_FILES: readonly string[] = ["workload.proto", "health.proto"];

/**
 * The package's `proto/` directory. The .proto files are not compiled into `dist/`, so they are read
 * where the package keeps them: the nearest `proto/` above this module that holds them, which is
 * `<package>/proto` both from the sources (`agent/workload-api/`) and from the build
 * (`dist/agent/workload-api/`; `dist/proto/` holds only generated code).
 */
export function protoDirectory(moduleUrl: string = import.meta.url): string {
  const looked: string[] = [];
  let dir = dirname(fileURLToPath(moduleUrl));
  for (;;) {
    const candidate = join(dir, "proto");
    if (SERVED_PROTO_FILES.every((file) => existsSync(join(candidate, file)))) return candidate;
    looked.push(candidate);
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  throw new WorkloadApiError(
    "PROTO_FILES_MISSING",
    `cannot find ${SERVED_PROTO_FILES.join(" and ")} for server reflection; looked in ${looked.join(", ")}`,
  );
}
