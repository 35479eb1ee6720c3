import { Metadata, status, type ServiceError } from "@grpc/grpc-js";
import { ERROR_CODE_METADATA_KEY } from "../../common/grpc/status.js";
import { HallmarkError, type ErrorCategory } from "../../common/errors.js";

/**
 * A node API call that failed, as the agent reads it: the gRPC status, and the server's own error
 * code (`hallmark-error-code`) when it sent one, e.g. `EK_NOT_ALLOWED`, `AGENT_BANNED`,
 * `POP_SERIAL_NOT_CURRENT`. A failure with no server code (the server unreachable, a TLS failure)
 * gets `NODE_API_<STATUS>`.
 */
export class NodeApiError extends HallmarkError<string> {
  readonly grpcCode: number;
  /** The server's error code, when the server itself refused. */
  readonly serverCode: string | undefined;

  constructor(grpcCode: number, serverCode: string | undefined, details: string, cause?: unknown) {
    const code = serverCode ?? `NODE_API_${status[grpcCode] ?? grpcCode}`;
    super(code, details.startsWith(code) ? details : `${code}: ${details}`, {
      category: categoryOf(grpcCode),
      cause,
    });
    this.grpcCode = grpcCode;
    this.serverCode = serverCode;
  }

  /** The server could not be reached or went away: worth trying again later. */
  get transient(): boolean {
    return (
      (this.serverCode === undefined || this.serverCode === "SHUTTING_DOWN") && TRANSIENT.has(this.grpcCode)
    );
  }
}

const TRANSIENT = new Set<number>([
  status.UNAVAILABLE,
  status.DEADLINE_EXCEEDED,
  status.CANCELLED,
  status.INTERNAL,
  status.UNKNOWN,
  status.RESOURCE_EXHAUSTED,
]);

const CATEGORIES: Partial<Record<number, ErrorCategory>> = {
  [status.INVALID_ARGUMENT]: "invalid_argument",
  [status.NOT_FOUND]: "not_found",
  [status.PERMISSION_DENIED]: "permission_denied",
  [status.UNAUTHENTICATED]: "unauthenticated",
  [status.FAILED_PRECONDITION]: "failed_precondition",
  [status.UNAVAILABLE]: "unavailable",
  [status.DEADLINE_EXCEEDED]: "deadline_exceeded",
  [status.RESOURCE_EXHAUSTED]: "resource_exhausted",
  [status.CANCELLED]: "cancelled",
};

function categoryOf(grpcCode: number): ErrorCategory {
  return CATEGORIES[grpcCode] ?? "unavailable";
}

export function isServiceError(err: unknown): err is ServiceError {
  return err instanceof Error && typeof (err as Partial<ServiceError>).code === "number";
}

export function nodeApiErrorOf(err: ServiceError): NodeApiError {
  const code = (err.metadata ?? new Metadata()).get(ERROR_CODE_METADATA_KEY)[0];
  return new NodeApiError(
    err.code,
    typeof code === "string" && code !== "" ? code : undefined,
    err.details,
    err,
  );
}

/** A unary call as a promise rejecting with a NodeApiError; `signal` cancels the call. */
export function unaryCall<T>(
  start: (cb: (err: ServiceError | null, value?: T) => void) => { cancel(): void },
  signal?: AbortSignal,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const onAbort = (): void => call.cancel();
    const call = start((err, value) => {
      signal?.removeEventListener("abort", onAbort);
      if (err !== null) reject(nodeApiErrorOf(err));
      else resolve(value as T);
    });
    if (signal?.aborted) call.cancel();
    else signal?.addEventListener("abort", onAbort, { once: true });
  });
}
