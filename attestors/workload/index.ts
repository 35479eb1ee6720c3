export type { AttestOptions, WorkloadAttestor } from "./workload-attestor.js";
export { WorkloadAttestorError, type WorkloadAttestorErrorCode } from "./errors.js";
export { UnixAttestor, type UnixAttestorOptions } from "./unix/unix-attestor.js";
export { AccountNames, type AccountNamesOptions } from "./unix/account-names.js";
export { Sha256Thread, type FileDigester, type Sha256ThreadOptions } from "./unix/sha256-thread.js";
export { CgroupAttestor, type CgroupAttestorOptions } from "./cgroup/cgroup-attestor.js";
export { SystemdAttestor, type SystemdAttestorOptions } from "./systemd/systemd-attestor.js";
export { LibcXattrReader, type XattrReader, type XattrValue } from "./systemd/xattr.js";
