import { collectDefaultMetrics, Registry } from "prom-client";

/**
 * The one metrics registry of a process, made by its composition root and handed to the parts that
 * record into it (never prom-client's global `register`, so two registries in one test process never
 * share a series). It starts with Node's own process metrics (`process_*`, `nodejs_*`: CPU, memory,
 * event-loop delay, GC), which the standard dashboards expect under those names.
 */
export function createMetricsRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return registry;
}
