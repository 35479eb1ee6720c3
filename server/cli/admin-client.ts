import {
  Metadata,
  credentials,
  status as GrpcStatus,
  type CallOptions,
  type handleUnaryCall,
  type ServiceError,
} from "@grpc/grpc-js";
import { HallmarkError, type ErrorCategory } from "../../common/errors.js";
import { ERROR_CODE_METADATA_KEY, GRPC_STATUS_OF } from "../../common/grpc/status.js";
import type { AdminService } from "../../proto/gen/admin.js";
import { AdminClient, type AdminServer } from "../../proto/gen/admin.js";

/** The admin API's default socket (SPIRE's layout: the private dir holds the server's own socket). */
export const DEFAULT_ADMIN_SOCKET = "/tmp/hallmark-server/private/api.sock";
/** A call that gets no answer in this time fails with DEADLINE_EXCEEDED. */
const CALL_TIMEOUT_MS = 30_000;

const CATEGORY_OF_STATUS = new Map<GrpcStatus, ErrorCategory>(
  Object.entries(GRPC_STATUS_OF).map(([category, code]) => [code, category as ErrorCategory]),
);

/**
 * An admin call the server refused. Its code is the one the server's typed error carried (the
 * `hallmark-error-code` trailer: ALREADY_EXISTS, RESERVED_PATH, CALLER_NOT_ALLOWED, ...), so the
 * union is the server's, not this class's; without a trailer it is the gRPC status name.
 */
export class AdminCallError extends HallmarkError<string> {
  readonly grpcStatus: GrpcStatus;

  constructor(err: ServiceError, socketPath: string) {
    const trailer = err.metadata?.get(ERROR_CODE_METADATA_KEY)[0];
    const serverCode = typeof trailer === "string" ? trailer : undefined;
    const statusName = GrpcStatus[err.code] ?? "UNKNOWN";
    const unreachable = err.code === GrpcStatus.UNAVAILABLE && serverCode === undefined;
    const message = unreachable
      ? `cannot reach the admin API at ${socketPath} (is hallmark-server running, and is --socket-path right?)`
      : serverCode !== undefined && err.details.startsWith(`${serverCode}: `)
        ? err.details.slice(serverCode.length + 2)
        : err.details || statusName;
    super(unreachable ? "ADMIN_UNREACHABLE" : (serverCode ?? statusName), message, {
      category: CATEGORY_OF_STATUS.get(err.code) ?? "internal",
      cause: err,
    });
    this.grpcStatus = err.code;
  }
}

export type AdminMethodName = keyof typeof AdminService;
type RequestOf<M extends AdminMethodName> =
  AdminServer[M] extends handleUnaryCall<infer Req, unknown> ? Req : never;
type ResponseOf<M extends AdminMethodName> =
  AdminServer[M] extends handleUnaryCall<never, infer Res> ? Res : never;

type UnaryMethod<Req, Res> = (
  request: Req,
  metadata: Metadata,
  options: Partial<CallOptions>,
  callback: (err: ServiceError | null, response: Res) => void,
) => unknown;

/** The admin API's client over its unix socket; every call returns a promise. */
export class AdminApiClient {
  readonly socketPath: string;
  readonly #client: AdminClient;

  constructor(socketPath: string) {
    this.socketPath = socketPath;
    this.#client = new AdminClient(`unix:${socketPath}`, credentials.createInsecure());
  }

  /** Calls `method` (`createEntry`, `listAgents`, ...) with `request`; a refusal is an AdminCallError. */
  call<M extends AdminMethodName>(method: M, request: RequestOf<M>): Promise<ResponseOf<M>> {
    const client = this.#client as unknown as Record<M, UnaryMethod<RequestOf<M>, ResponseOf<M>>>;
    const fn = client[method].bind(this.#client);
    return new Promise((resolve, reject) => {
      fn(request, new Metadata(), { deadline: Date.now() + CALL_TIMEOUT_MS }, (err, response) => {
        if (err) reject(new AdminCallError(err, this.socketPath));
        else resolve(response);
      });
    });
  }

  close(): void {
    this.#client.close();
  }
}

/** Runs `fn` with a client on `socketPath`, closing it afterwards. */
export async function withAdminClient<T>(
  socketPath: string,
  fn: (client: AdminApiClient) => Promise<T>,
): Promise<T> {
  const client = new AdminApiClient(socketPath);
  try {
    return await fn(client);
  } finally {
    client.close();
  }
}

/** Pages a list call asks for at once. */
const PAGE_SIZE = 500;

/** Every record of a paged list call: `fetch` gets the page size and token, returns one page. */
export async function allPages<T>(
  fetch: (page: { pageSize: number; pageToken: string }) => Promise<{ items: T[]; nextPageToken: string }>,
): Promise<T[]> {
  const all: T[] = [];
  let pageToken = "";
  do {
    const page = await fetch({ pageSize: PAGE_SIZE, pageToken });
    all.push(...page.items);
    pageToken = page.nextPageToken;
  } while (pageToken !== "");
  return all;
}
