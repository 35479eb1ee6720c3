import { TLSSocket } from "node:tls";
import type { Http2Session } from "node:http2";

/**
 * The TLS connection a grpc-js server call arrived on. grpc-js does not expose it (only
 * `getAuthContext()`, which gives the peer certificate but not the TLS exporter), so this walks its
 * internals, in ONE place: the handler's call object (`ServerUnaryCallImpl` & co.) holds `call`, an
 * interceptor chain (`ServerInterceptingCall.nextCall`...) ending in `BaseServerInterceptingCall`,
 * whose `stream` is the http2 stream; `stream.session` is the HTTP/2 connection and its `socket`
 * the TLSSocket (behind http2's proxy, which forwards `exportKeyingMaterial` and
 * `getPeerCertificate`). Checked against @grpc/grpc-js 1.14; the test in call-connection.test.ts
 * fails loudly if an upgrade moves them.
 */
export interface CallConnection {
  /** Identifies the connection: the same object for every call on it, gone when it closes. */
  readonly session: Http2Session;
  readonly socket: TLSSocket;
}

export function callConnection(call: object): CallConnection | undefined {
  let link: unknown = (call as { call?: unknown }).call;
  for (let depth = 0; depth < 16 && isObject(link); depth++) {
    const stream = (link as { stream?: unknown }).stream;
    if (isObject(stream)) {
      const session = (stream as { session?: unknown }).session as Http2Session | undefined;
      const socket: unknown = session?.socket;
      if (session === undefined || !(socket instanceof TLSSocket)) return undefined;
      return { session, socket };
    }
    link = (link as { nextCall?: unknown }).nextCall;
  }
  return undefined;
}

function isObject(value: unknown): value is object {
  return typeof value === "object" && value !== null;
}
