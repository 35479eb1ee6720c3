import type { Clock, TimerHandle } from "../../common/clock.js";
import type { Logger } from "../../common/logging/logger.js";
import { Publisher, type Listener, type Subscription } from "../../common/subscription.js";
import {
  agentHealthReport,
  nextHealthChangeAtMs,
  type AgentHealthInputs,
  type AgentHealthReport,
} from "./agent-health.js";

/** What the health service, `/ready` and the healthcheck read: the report now, and each new one. */
export interface AgentHealthSource {
  report(): AgentHealthReport;
  /** The current report at once, then every new one (latest-value semantics, as Publisher). */
  subscribe(listener: Listener<AgentHealthReport>): Subscription;
}

/** An agent that has just started: nothing attested, synced or cached yet (and no call has failed). */
export const STARTING_AGENT: AgentHealthInputs = {
  identity: { attested: false },
  sync: { connected: false, synced: false },
  cache: { entries: 0, entriesWithValidSvid: 0, pending: 0, serverReachable: true },
};

/**
 * Keeps the agent's health current: the attestor, the sync loop and the SVID cache each hand in
 * their section whenever it changes, and every change publishes a fresh report. The agent SVID
 * expiring changes health with no one reporting anything, so a timer publishes at that moment too.
 * Transitions that an operator must hear of (ready or not, the server reachable or not) are logged.
 */
export class AgentHealthMonitor implements AgentHealthSource {
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #publisher: Publisher<AgentHealthReport>;
  #inputs: AgentHealthInputs;
  #timer: TimerHandle | undefined;
  #closed = false;
  /** Cut off from the server after having synced: the state the outage log lines mark. */
  #inOutage = false;

  constructor(options: { clock: Clock; logger: Logger; initial?: AgentHealthInputs }) {
    this.#clock = options.clock;
    this.#logger = options.logger;
    this.#inputs = options.initial ?? STARTING_AGENT;
    this.#publisher = new Publisher<AgentHealthReport>({
      onListenerError: (err) => this.#logger.error({ err }, "a health subscriber failed"),
    });
    this.#publish();
  }

  /** Replaces the given sections (each whole, so an error a part no longer reports is gone). */
  update(change: Partial<AgentHealthInputs>): void {
    if (this.#closed) return;
    this.#inputs = { ...this.#inputs, ...change };
    this.#publish();
  }

  report(): AgentHealthReport {
    return agentHealthReport(this.#inputs, this.#clock.nowMs());
  }

  subscribe(listener: Listener<AgentHealthReport>): Subscription {
    return this.#publisher.subscribe(listener);
  }

  /** Stops the expiry timer; later updates are ignored. */
  close(): void {
    this.#closed = true;
    this.#timer?.cancel();
    this.#timer = undefined;
  }

  #publish(): void {
    const now = this.#clock.nowMs();
    const previous = this.#publisher.current;
    const report = agentHealthReport(this.#inputs, now);
    this.#logTransitions(previous, report);
    this.#timer?.cancel();
    const next = nextHealthChangeAtMs(this.#inputs, now);
    this.#timer = next === undefined ? undefined : this.#clock.setTimer(() => this.#publish(), next - now);
    this.#publisher.publish(report);
  }

  #logTransitions(previous: AgentHealthReport | undefined, report: AgentHealthReport): void {
    const { problems } = report;
    const inOutage = this.#inputs.identity.attested && report.synced && !report.serverReachable;
    if (inOutage !== this.#inOutage) {
      this.#inOutage = inOutage;
      if (inOutage)
        this.#logger.warn({ problems }, "the server is unreachable: serving the SVIDs that are still valid");
      else if (report.serverReachable) this.#logger.info("the server is reachable again");
    }
    if (previous !== undefined && previous.healthy !== report.healthy) {
      if (report.healthy) this.#logger.info({ problems }, "the agent is healthy");
      else this.#logger.warn({ problems }, "the agent is not healthy");
    }
  }
}
