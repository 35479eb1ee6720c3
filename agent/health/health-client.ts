import { connect } from "node:net";
import { Metadata, credentials, status as GrpcStatus, type ServiceError } from "@grpc/grpc-js";
import { HallmarkError } from "../../common/errors.js";
import type { HealthCheckResponse_ServingStatus as ServingStatus } from "../../proto/gen/health.js";
import { HealthClient, type HealthCheckResponse } from "../../proto/gen/health.js";
import {
  HEALTH_REPORT_TRAILER,
  decodeHealthTrailer,
  type HealthTrailerReport,
} from "./health-report-trailer.js";

export type HealthCheckErrorCode = "AGENT_UNREACHABLE" | "HEALTH_CHECK_FAILED";

export class HealthCheckError extends HallmarkError<HealthCheckErrorCode> {
  /** The connect(2) error that made the agent unreachable (ENOENT, ECONNREFUSED, EACCES, ...). */
  readonly errno: string | undefined;

  constructor(
    code: HealthCheckErrorCode,
    message: string,
    options: { errno?: string; cause?: unknown } = {},
  ) {
    super(code, message, { category: "unavailable", cause: options.cause });
    this.errno = options.errno;
  }
}

export interface HealthCheckAnswer {
  readonly status: ServingStatus;
  /** The agent's report from the Check trailer; absent when the server sent none (not hallmark). */
  readonly report: HealthTrailerReport | undefined;
}

/** A Check that gets no answer in this time fails with DEADLINE_EXCEEDED. */
export const HEALTH_CHECK_TIMEOUT_MS = 10_000;

/** Asks grpc.health.v1.Health/Check on the agent's unix socket, with the report that says why. */
export async function checkAgentHealth(
  socketPath: string,
  options: { service?: string; timeoutMs?: number } = {},
): Promise<HealthCheckAnswer> {
  const client = new HealthClient(`unix:${socketPath}`, credentials.createInsecure());
  try {
    const { response, trailer } = await new Promise<{ response: HealthCheckResponse; trailer: Metadata }>(
      (resolve, reject) => {
        let response: HealthCheckResponse | undefined;
        const call = client.check(
          { service: options.service ?? "" },
          new Metadata(),
          { deadline: Date.now() + (options.timeoutMs ?? HEALTH_CHECK_TIMEOUT_MS) },
          (err, value) => {
            if (err) reject(err);
            else response = value;
          },
        );
        // The trailer arrives with the status, which grpc-js emits after the callback.
        call.on("status", (status) => {
          if (response !== undefined) resolve({ response, trailer: status.metadata });
        });
      },
    );
    const value = trailer.get(HEALTH_REPORT_TRAILER)[0];
    return {
      status: response.status,
      report: typeof value === "string" ? decodeHealthTrailer(value) : undefined,
    };
  } catch (err) {
    throw await checkFailure(err as ServiceError, socketPath);
  } finally {
    client.close();
  }
}

/**
 * gRPC says only UNAVAILABLE when it cannot connect; a plain connect(2) to the socket names the
 * errno, which tells an operator what to fix (no socket, nobody listening, no permission).
 */
async function checkFailure(err: ServiceError, socketPath: string): Promise<HealthCheckError> {
  if (err.code === GrpcStatus.UNAVAILABLE) {
    const errno = await connectErrno(socketPath);
    if (errno !== undefined) {
      return new HealthCheckError(
        "AGENT_UNREACHABLE",
        `cannot connect to the agent at ${socketPath}: ${errno} (${ERRNO_HINTS[errno] ?? "see connect(2)"})`,
        { errno, cause: err },
      );
    }
  }
  const statusName = GrpcStatus[err.code] ?? String(err.code);
  return new HealthCheckError(
    "HEALTH_CHECK_FAILED",
    `the health check at ${socketPath} failed: ${statusName}${err.details ? `: ${err.details}` : ""}`,
    { cause: err },
  );
}

export const ERRNO_HINTS: Readonly<Record<string, string>> = {
  ENOENT: "no socket there: is hallmark-agent running, and is --socket-path its socket_path?",
  ECONNREFUSED: "nothing listens on it: the agent has stopped",
  EACCES: "no permission to reach the socket",
  ENOTSOCK: "the path is not a socket",
  ENOTDIR: "a part of the path is not a directory",
};

/** The errno a plain connect(2) to `path` gets, or undefined when something accepts. */
export function connectErrno(path: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = connect(path);
    socket.once("connect", () => {
      socket.destroy();
      resolve(undefined);
    });
    socket.once("error", (err: NodeJS.ErrnoException) => resolve(err.code ?? "EIO"));
  });
}
