import type { Metadata } from "@grpc/grpc-js";
import { WorkloadApiError } from "./workload-api-error.js";

/** The metadata key every SPIFFE Workload API request carries (SPIFFE Workload Endpoint spec, section 4). */
export const SECURITY_HEADER = "workload.spiffe.io";

/**
 * The header proves the request was made by a gRPC client on purpose, not by something tricked into
 * writing to the socket (a browser following a link to a forwarded port, say). SPIRE accepts exactly
 * one value, exactly `true`, and so does this: a repeated or differently spelled header is refused
 * with the same INVALID_ARGUMENT and SPIRE's message.
 */
export function requireSecurityHeader(metadata: Metadata): void {
  const values = metadata.get(SECURITY_HEADER);
  if (values.length !== 1 || values[0] !== "true") {
    throw new WorkloadApiError("SECURITY_HEADER_MISSING", "security header missing from request");
  }
}
