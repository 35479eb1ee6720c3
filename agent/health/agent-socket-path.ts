/**
 * The agent's public socket (the Workload API's, and the health service's beside it) unless
 * `socket_path` says otherwise: SPIRE's layout, and a contract that clients and docs rely on. Its own
 * file, free of imports, so the config schema can name it without loading the socket's code.
 */
export const DEFAULT_AGENT_SOCKET_PATH = "/tmp/hallmark-agent/public/api.sock";
