import { once } from "node:events";
import { createServer, type Server as NetServer, type Socket } from "node:net";
import { ServerCredentials, type Server as GrpcServer, type ServerUnaryCall } from "@grpc/grpc-js";
import { cryptoRandom, type RandomSource } from "../../common/random.js";
import { acceptPeer, type AcceptPeerOptions, type Peer } from "./accept-peer.js";
import { PeerCredError } from "./errors.js";
import { listenUnixSocket, type BoundUnixSocket } from "./listen-unix-socket.js";

/** One accepted connection and the caller the kernel names for it. */
export interface PeerConnection extends Peer {
  /** Unique within the process; what `call.getPeer()` returns for calls on this connection. */
  readonly id: string;
}

/** What peerOf needs of a call; every kind of server call (unary, streaming) has it. */
export type GrpcServerCall = Pick<ServerUnaryCall<unknown, unknown>, "getPeer" | "cancelled">;

export interface UnixGrpcServerOptions {
  socketPath: string;
  /** Mode of the socket file: 0o600 for the server's own UID only, 0o777 to let every local user connect. */
  socketMode: number;
  /** Create the socket's directory with this mode (see listenUnixSocket). */
  directoryMode?: number;
  /** How each connection's caller is read: supplementary groups, proc root, syscalls. */
  peer?: AcceptPeerOptions;
  random?: RandomSource;
}

/**
 * A gRPC server's unix socket listener that knows, for every call, which process made it.
 *
 * A plain `net.Server` accepts each connection; its caller is read from the kernel right then
 * (acceptPeer: SO_PEERCRED and a pidfd), and the socket is handed to the gRPC server through
 * `Server.createConnectionInjector`. Handlers then ask `peerOf(call)`.
 *
 * How a call is traced back to its connection: grpc-js gives handlers no access to the transport,
 * and `call.getPeer()` is "unknown" on unix sockets (there is no remote address). But getPeer() is
 * public API computed from the connection itself, `session.socket.remoteAddress` (Node's HTTP/2
 * session forwards property reads to the socket it was given). So each accepted socket gets its own
 * `remoteAddress`, a unique connection id, and getPeer() returns it. Nothing the client sends is
 * involved; the alternatives reach into grpc-js's private fields (`call.call.stream.session`) or
 * its private map of HTTP/2 servers, and would break silently on an upgrade, while this one fails
 * closed (an unknown id is refused) and is pinned by this folder's tests. The same id shows in
 * grpc-js traces and channelz, where it names the connection.
 *
 * Only insecure (plaintext) credentials are used: TLS would put a TLSSocket between the session and
 * the tagged socket, and on a unix socket the kernel, not a certificate, says who the peer is.
 */
export class UnixGrpcServer {
  readonly socketPath: string;
  readonly #listener: NetServer;
  readonly #injector: ReturnType<GrpcServer["createConnectionInjector"]>;
  readonly #peerOptions: AcceptPeerOptions;
  readonly #idPrefix: string;
  readonly #connections = new Map<string, { socket: Socket; peer: PeerConnection | PeerCredError }>();
  #bound: BoundUnixSocket | undefined;
  #accepted = 0;
  #closing = false;

  private constructor(grpcServer: GrpcServer, options: UnixGrpcServerOptions) {
    this.socketPath = options.socketPath;
    this.#peerOptions = options.peer ?? {};
    // A per-listener random part, so an id from one listener is never found in another's table.
    this.#idPrefix = `unix-peer:${(options.random ?? cryptoRandom).bytes(8).toString("hex")}:`;
    this.#injector = grpcServer.createConnectionInjector(ServerCredentials.createInsecure());
    this.#listener = createServer((socket) => this.#accept(socket));
  }

  /** Listens on `options.socketPath` and serves `grpcServer`'s services there. */
  static async listen(grpcServer: GrpcServer, options: UnixGrpcServerOptions): Promise<UnixGrpcServer> {
    const server = new UnixGrpcServer(grpcServer, options);
    try {
      server.#bound = await listenUnixSocket(server.#listener, {
        path: options.socketPath,
        mode: options.socketMode,
        directoryMode: options.directoryMode,
        random: options.random,
      });
    } catch (err) {
      server.#injector.destroy();
      throw err;
    }
    return server;
  }

  /** Connections currently open. */
  get connectionCount(): number {
    return this.#connections.size;
  }

  /**
   * The caller of `call`, as the kernel named it when its connection was accepted. Throws a
   * PeerCredError (fail closed): UNKNOWN_CONNECTION for a call that did not come through this
   * listener, CONNECTION_CLOSED once its connection is gone, or the error that reading the caller
   * met at accept time (PEER_GONE, PEER_NOT_VISIBLE, ...). Whether the process still lives is the
   * handler's question to `peer.process` (assertAlive, read). The listener owns `peer.process` and
   * closes it when the connection closes; a handler still using it then gets PEER_PROCESS_CLOSED.
   */
  peerOf(call: GrpcServerCall): PeerConnection {
    let id: string;
    try {
      id = call.getPeer();
    } catch (err) {
      // Node throws ERR_HTTP2_SOCKET_UNBOUND once the session has let go of its socket.
      throw new PeerCredError("CONNECTION_CLOSED", "the call's connection has closed", { cause: err });
    }
    const entry = this.#connections.get(id);
    if (entry === undefined) {
      if (id.startsWith(this.#idPrefix) || call.cancelled) {
        throw new PeerCredError("CONNECTION_CLOSED", "the call's connection has closed");
      }
      throw new PeerCredError(
        "UNKNOWN_CONNECTION",
        `the call did not arrive through the unix socket ${this.socketPath}, so its caller is unknown`,
      );
    }
    const { peer } = entry;
    if (peer instanceof PeerCredError) {
      throw new PeerCredError(peer.code, peer.message, {
        errno: peer.errno,
        syscall: peer.syscall,
        cause: peer,
      });
    }
    return peer;
  }

  /**
   * Stops accepting, removes the socket file, closes every connection of this listener and
   * releases every pidfd. The gRPC server itself (other listeners, shutdown) stays the caller's.
   */
  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    const listenerClosed = once(this.#listener, "close");
    this.#listener.close();
    this.#bound?.unlink();
    this.#injector.destroy();
    const sockets = [...this.#connections.values()].map(({ socket }) => socket);
    // Not events.once: it would reject on an "error" emitted on the way to "close".
    const socketsClosed = sockets.map((socket) =>
      socket.closed ? Promise.resolve() : new Promise((resolve) => socket.once("close", resolve)),
    );
    for (const socket of sockets) socket.destroy();
    await Promise.all([listenerClosed, ...socketsClosed]);
  }

  #accept(socket: Socket): void {
    if (this.#closing) {
      socket.destroy();
      return;
    }
    const id = `${this.#idPrefix}${++this.#accepted}`;
    let peer: PeerConnection | PeerCredError;
    try {
      peer = { id, ...acceptPeer(socket, this.#peerOptions) };
    } catch (err) {
      if (!(err instanceof PeerCredError)) {
        // Not a failure the kernel reported but a fault here: nothing is known about the caller,
        // so the connection is refused outright.
        socket.destroy();
        return;
      }
      // Served anyway, so that each call is refused with the reason rather than a reset connection.
      peer = err;
    }
    this.#connections.set(id, { socket, peer });
    socket.once("close", () => {
      this.#connections.delete(id);
      if (!(peer instanceof PeerCredError)) peer.process.close();
    });
    // What call.getPeer() returns (see the class comment). An own property shadows net.Socket's
    // getter for this socket only.
    Object.defineProperty(socket, "remoteAddress", { value: id, enumerable: true, configurable: false });
    this.#injector.injectConnection(socket);
  }
}
