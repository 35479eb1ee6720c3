import { Metadata } from "@grpc/grpc-js";
import { SpiffeId } from "../../common/spiffe/index.js";
import type { NodeConnection } from "./node-connection.js";
import { unaryCall } from "./node-api-error.js";
import { NodeMessageError } from "./convert.js";
import type { WorkloadSvidSource, X509SvidResult } from "../cache/index.js";
import type { BatchNewX509SVIDResponse, X509SVIDResult } from "../../proto/gen/node.js";

/**
 * The workload SVID cache's view of the server: BatchNewX509SVID and NewJWTSVID on the proved
 * connection. Each item of a batch keeps its own status; only a failure of the whole call throws.
 */
export class NodeWorkloadSvidSource implements WorkloadSvidSource {
  constructor(private readonly connection: NodeConnection) {}

  batchNewX509Svid(
    items: readonly { entryId: string; csr: Buffer }[],
    op: { signal?: AbortSignal } = {},
  ): Promise<readonly X509SvidResult[]> {
    return this.connection.authenticated(async (client) => {
      const response = await unaryCall<BatchNewX509SVIDResponse>(
        (cb) =>
          client.batchNewX509Svid(
            { params: items.map((i) => ({ entryId: i.entryId, csr: i.csr })) },
            new Metadata(),
            this.connection.callOptions(),
            cb,
          ),
        op.signal,
      );
      return response.results.map(x509SvidResultFrom);
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

/**
 * One BatchNewX509SVID item as the cache reads it: its certificates, or its own refusal, with the
 * server's code, which item statuses carry as the message's first word ("ENTRY_NOT_AUTHORIZED: ...").
 */
export function x509SvidResultFrom(r: X509SVIDResult): X509SvidResult {
  const code = r.status?.code ?? 0;
  if (code !== 0) {
    const message = r.status?.message ?? "";
    const errorCode = /^([A-Z][A-Z0-9_]+): /.exec(message)?.[1];
    return {
      entryId: r.entryId,
      ok: false,
      grpcCode: code,
      message,
      ...(errorCode === undefined ? {} : { errorCode }),
    };
  }
  if (r.certChain.length === 0)
    throw new NodeMessageError(`an X509-SVID without certificates for entry ${r.entryId}`);
  return {
    entryId: r.entryId,
    ok: true,
    certChain: r.certChain,
    serial: r.serial,
    expiresAtMs: r.expiresAtMs,
  };
}
