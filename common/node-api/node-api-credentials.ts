import { TLSSocket, createSecureContext, type PeerCertificate } from "node:tls";
import { ChannelCredentials } from "@grpc/grpc-js";
import { bundleToPem, type SpiffeBundle } from "../spiffe/bundle.js";

/**
 * Channel credentials for an agent talking to the node API: the server must present an X509-SVID
 * chaining to the agent's bundle whose URI SAN is exactly `serverId` (the SPIFFE ID decides, not a
 * host name). `onConnection` receives each TLS connection the channel makes, so the agent can
 * compute that connection's exporter for its proof of possession (possessionExporter).
 */
export function nodeApiCredentials(
  bundle: SpiffeBundle,
  serverId: string,
  onConnection: (socket: TLSSocket) => void,
): ChannelCredentials {
  const inner = ChannelCredentials.createFromSecureContext(createSecureContext({ ca: bundleToPem(bundle) }), {
    checkServerIdentity: (_host, cert) => checkSpiffeId(cert, serverId),
  });
  return observingConnections(inner, onConnection);
}

/**
 * `inner`, with each TLS connection it makes handed to `onConnection` (grpc-js keeps its sockets to
 * itself; its SecureConnector is the one place a socket passes through).
 */
export function observingConnections(
  inner: ChannelCredentials,
  onConnection: (socket: TLSSocket) => void,
): ChannelCredentials {
  const wrapped = Object.create(inner) as ChannelCredentials;
  wrapped._createSecureConnector = (target, options, callCredentials) => {
    const connector = inner._createSecureConnector(target, options, callCredentials);
    return {
      connect: async (socket) => {
        const result = await connector.connect(socket);
        if (result.socket instanceof TLSSocket) onConnection(result.socket);
        return result;
      },
      waitForReady: () => connector.waitForReady(),
      getCallCredentials: () => connector.getCallCredentials(),
      destroy: () => connector.destroy(),
    };
  };
  return wrapped;
}

function checkSpiffeId(cert: PeerCertificate, expected: string): Error | undefined {
  const uris = (cert.subjectaltname ?? "")
    .split(", ")
    .filter((name) => name.startsWith("URI:"))
    .map((name) => name.slice(4));
  if (uris.length === 1 && uris[0] === expected) return undefined;
  return new Error(`the server presented ${uris.join(", ") || "no SPIFFE ID"}, not ${expected}`);
}
