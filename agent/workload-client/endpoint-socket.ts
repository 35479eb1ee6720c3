import { DEFAULT_AGENT_SOCKET_PATH } from "../health/agent-socket-path.js";
import { WorkloadApiClientError } from "./errors.js";

/** The variable every SPIFFE client reads for the Workload API's address (SPIFFE Workload Endpoint §4). */
export const SPIFFE_ENDPOINT_SOCKET = "SPIFFE_ENDPOINT_SOCKET";

/** Where the socket path came from: said in messages, so an operator knows which setting to fix. */
export type SocketPathSource = "flag" | "env" | "default";

export interface WorkloadSocket {
  readonly path: string;
  readonly source: SocketPathSource;
}

/**
 * The Workload API socket to use: `--socket-path` if given, else `SPIFFE_ENDPOINT_SOCKET`, else the
 * agent's default socket_path. A set but malformed variable is an error, not a silent fallback: the
 * operator meant some socket, and it is not the default.
 */
export function resolveWorkloadSocket(
  flagPath: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): WorkloadSocket {
  if (flagPath !== undefined) return { path: flagPath, source: "flag" };
  const value = env[SPIFFE_ENDPOINT_SOCKET];
  if (value !== undefined && value !== "") return { path: parseEndpointSocket(value), source: "env" };
  return { path: DEFAULT_AGENT_SOCKET_PATH, source: "default" };
}

/**
 * The socket path in a SPIFFE endpoint address. The specification's unix form: scheme `unix`, an
 * absolute path, and nothing else (no authority, user info, query or fragment); `unix:///path` (empty
 * authority) and `unix:/path` both qualify. The `tcp://IP:PORT` form is valid SPIFFE but hallmark's
 * agent serves on a unix socket only, where the kernel names the caller.
 */
export function parseEndpointSocket(value: string): string {
  const refuse = (reason: string): never => {
    throw new WorkloadApiClientError(
      "INVALID_ENDPOINT_SOCKET",
      `${SPIFFE_ENDPOINT_SOCKET}="${value}" is not a Workload API socket address: ${reason} ` +
        "(write unix:///path/to/api.sock)",
    );
  };
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return refuse("not a URI");
  }
  if (url.protocol === "tcp:")
    return refuse("hallmark-agent serves the Workload API on a unix socket only, not over TCP");
  if (url.protocol !== "unix:") return refuse(`the scheme must be unix, not ${url.protocol.slice(0, -1)}`);
  if (url.username !== "" || url.password !== "") return refuse("it must not hold user info");
  if (url.host !== "") return refuse(`it must not name a host ("${url.host}")`);
  if (url.search !== "") return refuse("it must not hold a query");
  if (url.hash !== "") return refuse("it must not hold a fragment");
  if (!url.pathname.startsWith("/") || url.pathname === "/") return refuse("the path must be absolute");
  let path: string;
  try {
    path = decodeURIComponent(url.pathname);
  } catch {
    return refuse("the path has a malformed %-escape");
  }
  if (path.includes("\0")) return refuse("the path holds a NUL byte");
  return path;
}
