import { status as GrpcStatus, type ServiceError } from "@grpc/grpc-js";
import { connectErrno, ERRNO_HINTS } from "../health/health-client.js";
import { WorkloadApiClientError } from "./errors.js";

export interface FailedCall {
  /** The socket's path, to learn the errno from when nothing answered. */
  readonly path: string;
  /** The socket as messages name it. */
  readonly where: string;
  /** What was being done, for messages: "fetching X.509-SVIDs from the Workload API at ...". */
  readonly doing: string;
}

/**
 * The typed error for a Workload API call that failed, saying what the status means for a
 * workload (a CANCELLED the caller asked for never gets here: it is the caller's abort error). gRPC says only UNAVAILABLE when it cannot connect; a plain connect(2) to the socket tells
 * that apart from an agent that answered Unavailable, and names the errno an operator can act on.
 */
export async function callFailure(err: ServiceError, call: FailedCall): Promise<WorkloadApiClientError> {
  const said = err.details ? `: ${err.details}` : "";
  if (err.code === GrpcStatus.PERMISSION_DENIED)
    return new WorkloadApiClientError(
      "NO_IDENTITY",
      `the agent at ${call.where} has no identity for this process: no registration entry matches it ` +
        `(uid ${process.getuid?.() ?? "?"}, pid ${process.pid})${said}`,
      { cause: err },
    );
  // CANCELLED that the caller did not ask for: the agent reset the call (it is stopping, say).
  if (err.code === GrpcStatus.UNAVAILABLE || err.code === GrpcStatus.CANCELLED) {
    const errno = await connectErrno(call.path);
    if (errno !== undefined)
      return new WorkloadApiClientError(
        "AGENT_UNREACHABLE",
        `cannot connect to the Workload API at ${call.where}: ${errno} (${ERRNO_HINTS[errno] ?? "see connect(2)"})`,
        { errno, cause: err },
      );
    return new WorkloadApiClientError(
      "WORKLOAD_API_UNAVAILABLE",
      `${call.doing}: the agent is unavailable${said}`,
      {
        cause: err,
      },
    );
  }
  if (err.code === GrpcStatus.INVALID_ARGUMENT)
    return new WorkloadApiClientError(
      "REQUEST_REFUSED",
      `${call.doing}: the agent refused the request${said}`,
      {
        cause: err,
      },
    );
  const name = GrpcStatus[err.code] ?? `status ${err.code}`;
  return new WorkloadApiClientError("WORKLOAD_API_FAILED", `${call.doing}: ${name}${said}`, { cause: err });
}
