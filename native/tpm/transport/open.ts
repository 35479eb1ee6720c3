import type { Clock } from "../../../common/clock.js";
import { DeviceTransport } from "./device.js";
import { TpmEndpointError } from "./errors.js";
import { SocketTransport } from "./socket.js";
import type { TpmTransport } from "./transport.js";

/** How an operator names a TPM: a kernel device, or a simulator's socket. */
export type TpmEndpoint =
  | { readonly kind: "device"; readonly path: string }
  | { readonly kind: "unix"; readonly path: string }
  | { readonly kind: "tcp"; readonly host: string; readonly port: number };

export interface OpenTransportOptions {
  clock?: Clock;
  defaultTimeoutMs?: number;
}

export function openTransport(endpoint: TpmEndpoint, options: OpenTransportOptions = {}): TpmTransport {
  switch (endpoint.kind) {
    case "device":
      return new DeviceTransport(endpoint.path, options);
    case "unix":
      return new SocketTransport({ kind: "unix", path: endpoint.path }, options);
    case "tcp":
      return new SocketTransport({ kind: "tcp", host: endpoint.host, port: endpoint.port }, options);
  }
}

/**
 * Parses the short forms used in config and on the command line: `/dev/tpmrm0`,
 * `unix:/path/to/swtpm.sock`, `tcp:host:port` (`tcp:[::1]:2321` for IPv6).
 */
export function parseTpmEndpoint(text: string): TpmEndpoint {
  if (text.startsWith("unix:")) {
    const path = text.slice("unix:".length);
    if (path === "") {
      throw new TpmEndpointError("unix: TPM endpoint needs a socket path");
    }
    return { kind: "unix", path };
  }
  if (text.startsWith("tcp:")) {
    const m = /^tcp:(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(text);
    const port = m ? Number(m[3]) : NaN;
    if (!m || port < 1 || port > 65535) {
      throw new TpmEndpointError(`TPM endpoint "${text}" is not tcp:HOST:PORT`);
    }
    return { kind: "tcp", host: (m[1] ?? m[2]) as string, port };
  }
  if (text.startsWith("/")) return { kind: "device", path: text };
  throw new TpmEndpointError(`TPM endpoint "${text}" is neither a device path, unix:PATH nor tcp:HOST:PORT`);
}
