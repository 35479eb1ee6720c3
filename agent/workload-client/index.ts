export {
  SPIFFE_ENDPOINT_SOCKET,
  parseEndpointSocket,
  resolveWorkloadSocket,
  type SocketPathSource,
  type WorkloadSocket,
} from "./endpoint-socket.js";
export { WorkloadApiClientError, type WorkloadApiClientErrorCode } from "./errors.js";
export { parseJwtBundlesResponse, type JwtBundleRecord } from "./jwt-bundles.js";
export { parseJwtSvidResponse, type JwtSvidRecord } from "./jwt-svids.js";
export {
  WORKLOAD_API_HEADER,
  WorkloadApiClient,
  type ValidatedJwtSvid,
  type WorkloadApiCallOptions,
} from "./workload-api-client.js";
export {
  certificates,
  parseX509SvidResponse,
  type X509Context,
  type X509SvidRecord,
} from "./x509-context.js";
