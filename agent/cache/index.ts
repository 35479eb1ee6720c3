export type { AgentEntry, CacheUpdate } from "./agent-entry.js";
export type { CacheHealth } from "./cache-health.js";
export { DEFAULT_TUNABLES, type WorkloadCacheTunables } from "./cache-tunables.js";
export type { CachedEntry, JwtSvid, WorkloadCacheSnapshot, X509SvidWithKey } from "./snapshot.js";
export type { WorkloadSvidSource, X509SvidResult } from "./workload-svid-source.js";
export { WorkloadCacheError, type WorkloadCacheErrorCode } from "./workload-cache-error.js";
export { WorkloadCache, type WorkloadCacheDeps } from "./workload-cache.js";
