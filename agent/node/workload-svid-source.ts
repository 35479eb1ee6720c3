import { Metadata } from "@grpc/grpc-js";
import { SpiffeId } from "../../common/spiffe/index.js";
import type { NodeConnection } from "./node-connection.js";
import { unaryCall } from "./node-api-error.js";
import { NodeMessageError } from "./convert.js";

export type NodeX509SvidResult =
  | { entryId: string; ok: true; certChain: readonly Buffer[]; serial: string; expiresAtMs: number }
  | { entryId: string; ok: false; grpcCode: number; errorCode?: string; message: string };

/**
 * The workload SVID cache's view of the server: BatchNewX509SVID and NewJWTSVID on the proved
 * connection. Each item of a batch keeps its own status; only a failure of the whole call throws.
 */
export class NodeWorkloadSvidSource {
  constructor(private readonly connection: NodeConnection) {}

  batchNewX509Svid(
    items: readonly { entryId: string; csr: Buffer }[],
    op: { signal?: AbortSignal } = {},
  ): Promise<readonly NodeX509SvidResult[]> {
    return this.connection.authenticated(async (client) => {
      const response = await unaryCall<{
        results: {
          status?: { code: number; message: string };
          entryId: string;
          certChain: Buffer[];
          serial: string;
          expiresAtMs: number;
        }[];
      }>(
        (cb) =>
          client.batchNewX509Svid(
            { params: items.map((i) => ({ entryId: i.entryId, csr: i.csr })) },
            new Metadata(),
            this.connection.callOptions(),
            cb,
          ),
        op.signal,
      );
      return response.results.map((r): NodeX509SvidResult => {
        const code = r.status?.code ?? 0;
        if (code !== 0)
          return {
            entryId: r.entryId,
            ok: false,
            grpcCode: code,
            ...errorCodeOf(r.status?.message ?? ""),
            message: r.status?.message ?? "",
          };
        if (r.certChain.length === 0)
          throw new NodeMessageError(`an X509-SVID without certificates for entry ${r.entryId}`);
        return {
          entryId: r.entryId,
          ok: true,
          certChain: r.certChain,
          serial: r.serial,
          expiresAtMs: r.expiresAtMs,
        };
      });
    }, op);
  }

  newJwtSvid(
    entryId: string,
    audience: readonly string[],
    op: { signal?: AbortSignal } = {},
  ): Promise<{ spiffeId: SpiffeId; token: string; expiresAtMs: number }> {
    return this.connection.authenticated(async (client) => {
      const response = await unaryCall<{ spiffeId: string; token: string; expiresAtMs: number }>(
        (cb) =>
          client.newJwtsvid(
            { entryId, audience: [...audience] },
            new Metadata(),
            this.connection.callOptions(),
            cb,
          ),
        op.signal,
      );
      return {
        spiffeId: SpiffeId.parse(response.spiffeId),
        token: response.token,
        expiresAtMs: response.expiresAtMs,
      };
    }, op);
  }
}

/** Item statuses carry the server's code as the message's first word ("ENTRY_NOT_AUTHORIZED: ..."). */
function errorCodeOf(message: string): { errorCode?: string } {
  const match = /^([A-Z][A-Z0-9_]+): /.exec(message);
  return match === null ? {} : { errorCode: match[1] };
}
