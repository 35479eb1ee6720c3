import type { AttestOptions, WorkloadAttestor } from "../../attestors/workload/workload-attestor.js";
import type { Selector } from "../../common/selector.js";
import { monotonicSeconds, type MonotonicSeconds } from "../../common/metrics/monotonic.js";
import type { Peer } from "../../native/peercred/index.js";
import type { WorkloadAttestationMetrics } from "./agent-metrics.js";

/**
 * A workload attestor whose every run is timed: it runs only when a caller's selectors are not
 * cached, so this costs nothing on a Workload API call that is served from the cache.
 */
export class MeteredAttestor implements WorkloadAttestor {
  readonly name: string;
  readonly keys: readonly string[];

  constructor(
    private readonly inner: WorkloadAttestor,
    private readonly metrics: WorkloadAttestationMetrics,
    private readonly now: MonotonicSeconds = monotonicSeconds,
  ) {
    this.name = inner.name;
    this.keys = inner.keys;
  }

  async attest(caller: Peer, options: AttestOptions): Promise<readonly Selector[]> {
    const started = this.now();
    try {
      return await this.inner.attest(caller, options);
    } finally {
      this.metrics.attestorDone(this.name, this.now() - started);
    }
  }
}
