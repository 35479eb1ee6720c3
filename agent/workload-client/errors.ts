import { HallmarkError, type ErrorCategory } from "../../common/errors.js";

/**
 * What can go wrong asking the agent's Workload API, as a workload (or `hallmark-agent api`) sees it:
 *
 * - `NO_IDENTITY`: the agent answered PermissionDenied: no registration entry matches the caller.
 * - `AGENT_UNREACHABLE`: nothing could be connected to at the socket (the errno says why).
 * - `WORKLOAD_API_UNAVAILABLE`: the agent answered, but Unavailable (e.g. attestation timed out).
 * - `JWT_SVID_INVALID`: ValidateJWTSVID refused the token.
 * - `REQUEST_REFUSED`: the agent refused the request as malformed (InvalidArgument).
 * - `MALFORMED_RESPONSE`: the answer does not hold what the SPIFFE Workload API promises.
 * - `INVALID_ENDPOINT_SOCKET`: `SPIFFE_ENDPOINT_SOCKET` is not a unix socket address.
 * - `WORKLOAD_API_FAILED`: any other gRPC status.
 */
export type WorkloadApiClientErrorCode =
  | "NO_IDENTITY"
  | "AGENT_UNREACHABLE"
  | "WORKLOAD_API_UNAVAILABLE"
  | "JWT_SVID_INVALID"
  | "REQUEST_REFUSED"
  | "MALFORMED_RESPONSE"
  | "INVALID_ENDPOINT_SOCKET"
  | "WORKLOAD_API_FAILED";

const CATEGORY: Readonly<Record<WorkloadApiClientErrorCode, ErrorCategory>> = {
  NO_IDENTITY: "permission_denied",
  AGENT_UNREACHABLE: "unavailable",
  WORKLOAD_API_UNAVAILABLE: "unavailable",
  JWT_SVID_INVALID: "invalid_argument",
  REQUEST_REFUSED: "invalid_argument",
  MALFORMED_RESPONSE: "internal",
  INVALID_ENDPOINT_SOCKET: "invalid_argument",
  WORKLOAD_API_FAILED: "internal",
};

export class WorkloadApiClientError extends HallmarkError<WorkloadApiClientErrorCode> {
  /** The connect(2) errno when the socket could not be reached (ENOENT, ECONNREFUSED, EACCES, ...). */
  readonly errno: string | undefined;

  constructor(
    code: WorkloadApiClientErrorCode,
    message: string,
    options: { errno?: string; cause?: unknown } = {},
  ) {
    super(code, message, { category: CATEGORY[code], cause: options.cause });
    this.errno = options.errno;
  }
}
