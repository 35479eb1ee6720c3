import { Server } from "@grpc/grpc-js";
import { HallmarkError, errorMessage, isHallmarkError } from "../../common/errors.js";
import type { Logger } from "../../common/logging/logger.js";
import type { RandomSource } from "../../common/random.js";
import {
  UnixGrpcServer,
  type AcceptPeerOptions,
  type GrpcServerCall,
  type PeerConnection,
} from "../../native/peercred/index.js";

export class AgentSocketError extends HallmarkError<"LISTEN_FAILED" | "NOT_LISTENING"> {}

/** Who made a call on the agent socket, as the kernel named it at connect(2). */
export interface CallerLookup {
  peerOf(call: GrpcServerCall): PeerConnection;
}

export interface AgentSocketOptions {
  socketPath: string;
  logger: Logger;
  /** How each connection's caller is read (the Workload API wants supplementary groups). */
  peer?: AcceptPeerOptions;
  random?: RandomSource;
}

/**
 * The agent's public unix socket: every local user may connect (socket 0777 in a 0755 directory
 * owned by the agent), and the kernel names each caller. It serves the gRPC health service now and
 * the SPIFFE Workload API next, on one gRPC server. A stale socket file left by a crashed agent is
 * replaced; a live one (another agent running) is refused with SOCKET_PATH_IN_USE.
 */
export class AgentSocket {
  readonly socketPath: string;
  readonly #grpc: Server;
  readonly #unix: UnixGrpcServer;
  readonly #logger: Logger;
  #closing: Promise<void> | undefined;

  private constructor(socketPath: string, grpc: Server, unix: UnixGrpcServer, logger: Logger) {
    this.socketPath = socketPath;
    this.#grpc = grpc;
    this.#unix = unix;
    this.#logger = logger;
  }

  /**
   * Opens the socket with the services `register` adds to its gRPC server. `callers` answers only
   * once listening, which is before any call can arrive.
   */
  static async listen(
    options: AgentSocketOptions,
    register: (server: Server, callers: CallerLookup) => void,
  ): Promise<AgentSocket> {
    // No channelz: its per-connection and per-call bookkeeping is for a channelz service this
    // socket does not offer, and every new Workload API client would pay for it.
    const grpc = new Server({ "grpc.enable_channelz": 0 });
    const listening: { unix?: UnixGrpcServer } = {};
    register(grpc, {
      peerOf: (call) => {
        if (listening.unix === undefined) {
          throw new AgentSocketError("NOT_LISTENING", "the agent socket is not listening yet", {
            category: "unavailable",
          });
        }
        return listening.unix.peerOf(call);
      },
    });
    try {
      listening.unix = await UnixGrpcServer.listen(grpc, {
        socketPath: options.socketPath,
        socketMode: 0o777,
        directoryMode: 0o755,
        peer: options.peer,
        random: options.random,
      });
    } catch (err) {
      grpc.forceShutdown();
      if (isHallmarkError(err)) throw err;
      throw new AgentSocketError(
        "LISTEN_FAILED",
        `cannot listen on ${options.socketPath}: ${errorMessage(err)}`,
        { category: "unavailable", cause: err },
      );
    }
    options.logger.info({ socketPath: options.socketPath }, "listening on the agent socket");
    return new AgentSocket(options.socketPath, grpc, listening.unix, options.logger);
  }

  get connectionCount(): number {
    return this.#unix.connectionCount;
  }

  /** Stops accepting, removes the socket file and ends open calls and connections. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.#unix.close();
      this.#grpc.forceShutdown();
      this.#logger.info({ socketPath: this.socketPath }, "the agent socket is closed");
    })();
    return this.#closing;
  }
}
