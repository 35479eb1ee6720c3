import { status as GrpcStatus, Metadata, type ServiceError } from "@grpc/grpc-js";
import { errorMessage, isHallmarkError, type ErrorCategory } from "../errors.js";

/**
 * The one place an error becomes a gRPC status. Handlers throw typed errors; the edge calls
 * `toGrpcError`, so every API answers the same failure with the same status, and nothing but a
 * HallmarkError's own message (written for the caller) crosses the wire.
 */
export const GRPC_STATUS_OF: Readonly<Record<ErrorCategory, GrpcStatus>> = {
  invalid_argument: GrpcStatus.INVALID_ARGUMENT,
  not_found: GrpcStatus.NOT_FOUND,
  already_exists: GrpcStatus.ALREADY_EXISTS,
  permission_denied: GrpcStatus.PERMISSION_DENIED,
  unauthenticated: GrpcStatus.UNAUTHENTICATED,
  failed_precondition: GrpcStatus.FAILED_PRECONDITION,
  unavailable: GrpcStatus.UNAVAILABLE,
  deadline_exceeded: GrpcStatus.DEADLINE_EXCEEDED,
  resource_exhausted: GrpcStatus.RESOURCE_EXHAUSTED,
  cancelled: GrpcStatus.CANCELLED,
  internal: GrpcStatus.INTERNAL,
};

/** Metadata key that carries a HallmarkError's stable code beside the status. */
export const ERROR_CODE_METADATA_KEY = "hallmark-error-code";

export function toGrpcError(err: unknown): Partial<ServiceError> & { code: GrpcStatus; details: string } {
  const metadata = new Metadata();
  if (!isHallmarkError(err)) {
    // An unexpected failure: its message may carry internals, so the caller learns only that it failed.
    return { code: GrpcStatus.INTERNAL, details: "internal error", metadata };
  }
  metadata.set(ERROR_CODE_METADATA_KEY, err.code);
  return { code: GRPC_STATUS_OF[err.category], details: `${err.code}: ${errorMessage(err)}`, metadata };
}
