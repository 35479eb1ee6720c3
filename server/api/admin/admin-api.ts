import { Server, type handleUnaryCall, type ServerUnaryCall, type sendUnaryData } from "@grpc/grpc-js";
import { errorMessage, isHallmarkError } from "../../../common/errors.js";
import { toGrpcError } from "../../../common/grpc/status.js";
import type { Logger } from "../../../common/logging/logger.js";
import { UnixGrpcServer } from "../../../native/peercred/index.js";
import { AdminService, type AdminServer } from "../../../proto/gen/admin.js";
import type { AuditCaller } from "../../audit/audit-event.js";
import { AdminError } from "./admin-error.js";
import { adminMethods, type AdminHandlerDeps, type AdminMethod } from "./admin-handlers.js";

/** A request larger than this is refused (RESOURCE_EXHAUSTED) before it is decoded. */
export const MAX_ADMIN_REQUEST_BYTES = 4 * 1024 * 1024;

export interface AdminApiOptions extends AdminHandlerDeps {
  socketPath: string;
  /** UIDs allowed to call (default: this process's UID and root). */
  allowedUids?: readonly number[];
}

/**
 * The admin API on its unix socket. The socket file is 0600 in a 0700 directory; beyond that every
 * call's caller is read from the kernel (SO_PEERCRED, at accept) and must be the server's own UID or
 * root: any other is refused with PERMISSION_DENIED and an `admin_refused` audit line.
 */
export class AdminApi {
  readonly socketPath: string;
  readonly #grpc: Server;
  readonly #unix: UnixGrpcServer;

  private constructor(socketPath: string, grpc: Server, unix: UnixGrpcServer) {
    this.socketPath = socketPath;
    this.#grpc = grpc;
    this.#unix = unix;
  }

  static async start(options: AdminApiOptions): Promise<AdminApi> {
    const grpc = new Server({
      "grpc.max_receive_message_length": MAX_ADMIN_REQUEST_BYTES,
      "grpc.max_send_message_length": 64 * 1024 * 1024,
    });
    const allowed = new Set(options.allowedUids ?? [process.getuid?.() ?? 0, 0]);
    // Set once listening; calls cannot arrive before (they come through it).
    const listener: { unix?: UnixGrpcServer } = {};
    const authorize = (method: string, call: ServerUnaryCall<unknown, unknown>): AuditCaller => {
      const { unix } = listener;
      if (unix === undefined) throw new AdminError("CALLER_UNKNOWN", "the admin API is not listening yet");
      let uid: number;
      let pid: number;
      try {
        ({ uid, pid } = unix.peerOf(call).credentials);
      } catch (err) {
        recordRefusal(options, method, "CALLER_UNKNOWN", {});
        throw new AdminError("CALLER_UNKNOWN", `the caller could not be identified: ${errorMessage(err)}`, {
          cause: err,
        });
      }
      const caller = { uid, pid };
      if (!allowed.has(uid)) {
        recordRefusal(options, method, "CALLER_NOT_ALLOWED", caller);
        throw new AdminError(
          "CALLER_NOT_ALLOWED",
          `UID ${uid} may not use the admin API: only the server's own UID and root may`,
        );
      }
      return caller;
    };
    const methods = adminMethods(options);
    const implementation = Object.fromEntries(
      Object.entries(methods).map(([name, method]) => [
        name,
        unary(name, method as AdminMethod<unknown, unknown>, authorize, options.logger),
      ]),
    ) as unknown as AdminServer;
    grpc.addService(AdminService, implementation);
    let unix: UnixGrpcServer;
    try {
      unix = await UnixGrpcServer.listen(grpc, {
        socketPath: options.socketPath,
        socketMode: 0o600,
        directoryMode: 0o700,
      });
    } catch (err) {
      grpc.forceShutdown();
      if (isHallmarkError(err)) throw err;
      throw new AdminError("LISTEN_FAILED", `cannot listen on ${options.socketPath}: ${errorMessage(err)}`, {
        cause: err,
      });
    }
    listener.unix = unix;
    return new AdminApi(options.socketPath, grpc, unix);
  }

  /** Stops accepting, removes the socket file and ends open connections. */
  async close(): Promise<void> {
    await this.#unix.close();
    this.#grpc.forceShutdown();
  }
}

function unary(
  name: string,
  method: AdminMethod<unknown, unknown>,
  authorize: (method: string, call: ServerUnaryCall<unknown, unknown>) => AuditCaller,
  logger: Logger,
): handleUnaryCall<unknown, unknown> {
  const rpc = name.charAt(0).toUpperCase() + name.slice(1);
  return (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => {
    void (async () => {
      try {
        const caller = authorize(rpc, call);
        callback(null, await method(call.request, caller));
      } catch (err) {
        if (!isHallmarkError(err)) logger.error({ method: rpc, err }, "admin call failed unexpectedly");
        callback(toGrpcError(err));
      }
    })();
  };
}

function recordRefusal(options: AdminApiOptions, method: string, reason: string, caller: AuditCaller): void {
  try {
    options.audit.record({ type: "admin_refused", method, reason, caller });
  } catch (err) {
    // The call is refused whether or not the line is written; the operator learns of the failing log here.
    options.logger.error({ method, reason, err: errorMessage(err) }, "could not audit a refused admin call");
  }
}
