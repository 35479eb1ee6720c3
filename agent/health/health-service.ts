import {
  Metadata,
  type Server,
  type ServerWritableStream,
  type handleServerStreamingCall,
  type handleUnaryCall,
} from "@grpc/grpc-js";
import { HallmarkError } from "../../common/errors.js";
import { toGrpcError } from "../../common/grpc/status.js";
import {
  HealthCheckResponse_ServingStatus as ServingStatus,
  HealthService,
  type HealthCheckRequest,
  type HealthCheckResponse,
  type HealthListRequest,
  type HealthListResponse,
  type HealthServer,
} from "../../proto/gen/health.js";
import type { AgentHealthReport } from "./agent-health.js";
import type { AgentHealthSource } from "./agent-health-monitor.js";
import { HEALTH_REPORT_TRAILER, encodeHealthTrailer } from "./health-report-trailer.js";

/**
 * The service names Check, List and Watch know. "" is the agent as a whole (what grpc_health_probe
 * and Kubernetes ask by default); "hallmark.agent.v1" names the agent's API on this socket and gets
 * the same answer, since every service the socket serves depends on the same identity, sync and
 * cache. The Workload API joins that answer when it lands.
 */
export const AGENT_HEALTH_SERVICE = "hallmark.agent.v1";
const KNOWN_SERVICES: readonly string[] = ["", AGENT_HEALTH_SERVICE];

export class HealthServiceError extends HallmarkError<"UNKNOWN_SERVICE"> {
  constructor(service: string) {
    super(
      "UNKNOWN_SERVICE",
      `no health status for service ${JSON.stringify(service)}: ask for "" or "${AGENT_HEALTH_SERVICE}"`,
      { category: "not_found" },
    );
  }
}

/**
 * grpc.health.v1.Health over the agent's health report, as the gRPC health checking protocol
 * specifies: Check answers NOT_FOUND for an unknown service; Watch sends the status at once, then
 * each change (a repeated status is not sent again), and for an unknown service SERVICE_UNKNOWN
 * with the stream left open; a Watch ends only when the client cancels. Check's trailing metadata
 * carries the report itself (health-report-trailer.ts), so `hallmark-agent healthcheck` can say why.
 */
export class AgentHealthService {
  readonly #source: AgentHealthSource;
  readonly #watchers = new Set<(status: ServingStatus) => void>();
  #shutDown = false;

  constructor(source: AgentHealthSource) {
    this.#source = source;
  }

  /** Adds the service to `server` (before it serves). */
  register(server: Server): void {
    server.addService(HealthService, this.implementation());
  }

  /**
   * From now on every known service is NOT_SERVING, whatever the report says, and open Watches are
   * told so: called as the agent stops, so load balancers drain before the socket goes away.
   */
  shutdown(): void {
    this.#shutDown = true;
    for (const tell of this.#watchers) tell(ServingStatus.NOT_SERVING);
  }

  implementation(): HealthServer {
    return {
      check: this.#check,
      list: this.#list,
      watch: this.#watch,
    };
  }

  readonly #check: handleUnaryCall<HealthCheckRequest, HealthCheckResponse> = (call, callback) => {
    const { service } = call.request;
    if (!KNOWN_SERVICES.includes(service)) {
      callback(toGrpcError(new HealthServiceError(service)));
      return;
    }
    const report = this.#reportOr((err) => callback(err));
    if (report === undefined) return;
    const trailer = new Metadata();
    trailer.set(HEALTH_REPORT_TRAILER, encodeHealthTrailer(report));
    callback(null, { status: statusOf(report) }, trailer);
  };

  readonly #list: handleUnaryCall<HealthListRequest, HealthListResponse> = (_call, callback) => {
    const report = this.#reportOr((err) => callback(err));
    if (report === undefined) return;
    const status = statusOf(report);
    callback(null, { statuses: Object.fromEntries(KNOWN_SERVICES.map((name) => [name, { status }])) });
  };

  readonly #watch: handleServerStreamingCall<HealthCheckRequest, HealthCheckResponse> = (call) => {
    const send = latestStatusWriter(call);
    if (!KNOWN_SERVICES.includes(call.request.service)) {
      send(ServingStatus.SERVICE_UNKNOWN);
      return;
    }
    const report = this.#reportOr((err) => call.emit("error", err));
    if (report === undefined) return;
    send(statusOf(report));
    this.#watchers.add(send);
    const subscription = this.#source.subscribe((report) => {
      send(this.#shutDown ? ServingStatus.NOT_SERVING : statusOf(report));
    });
    const stop = (): void => {
      subscription.close();
      this.#watchers.delete(send);
    };
    call.once("cancelled", stop);
    call.once("close", stop);
  };

  /**
   * The report, or undefined after handing `fail` the call's error: a report that cannot be made is
   * a fault here, so the caller gets INTERNAL, never a guessed status.
   */
  #reportOr(fail: (err: ReturnType<typeof toGrpcError>) => void): AgentHealthReport | undefined {
    try {
      return this.#report();
    } catch (err) {
      fail(toGrpcError(err));
      return undefined;
    }
  }

  /** The report, saying NOT healthy once shut down. */
  #report(): AgentHealthReport {
    const report = this.#source.report();
    if (!this.#shutDown) return report;
    return { ...report, healthy: false, problems: ["The agent is shutting down.", ...report.problems] };
  }
}

function statusOf(report: AgentHealthReport): ServingStatus {
  return report.healthy ? ServingStatus.SERVING : ServingStatus.NOT_SERVING;
}

/**
 * Writes a status only when it differs from the last one written. While the client is not reading
 * (write returned false), only the newest status waits for `drain`: a stuck client costs one value.
 */
function latestStatusWriter(
  call: ServerWritableStream<HealthCheckRequest, HealthCheckResponse>,
): (status: ServingStatus) => void {
  let written: ServingStatus | undefined;
  let waiting: { status: ServingStatus } | undefined;
  let draining = false;
  const send = (status: ServingStatus): void => {
    if (call.cancelled || call.destroyed) return;
    if (draining) {
      waiting = { status };
      return;
    }
    if (status === written) return;
    written = status;
    if (!call.write({ status })) {
      draining = true;
      call.once("drain", () => {
        draining = false;
        const next = waiting;
        waiting = undefined;
        if (next !== undefined) send(next.status);
      });
    }
  };
  return send;
}
